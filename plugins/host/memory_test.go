package host

import (
	"testing"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
)

// Both linear-memory implementations grow up to their maximum and no
// further, keep what was written, and hand out zeroed new pages.
func TestLinearMemory(t *testing.T) {
	const page, max = 65536, 8 * 65536
	impls := map[string]func() experimental.LinearMemory{
		"heap": func() experimental.LinearMemory { return &heapMemory{max: max} },
	}
	if memoryAllocator != nil {
		impls["mapped"] = func() experimental.LinearMemory { return memoryAllocator.Allocate(page, max) }
	}
	for name, mk := range impls {
		t.Run(name, func(t *testing.T) {
			m := mk()
			defer m.Free()
			b := m.Reallocate(page)
			if len(b) != page {
				t.Fatalf("first allocation: %d bytes", len(b))
			}
			b[page-1] = 42
			b = m.Reallocate(3 * page)
			if len(b) != 3*page || b[page-1] != 42 || b[3*page-1] != 0 {
				t.Fatalf("grown memory lost data or is not zeroed (len %d)", len(b))
			}
			if m.Reallocate(max+page) != nil {
				t.Fatal("grew past the maximum")
			}
			if c := m.Reallocate(max); len(c) != max || c[page-1] != 42 {
				t.Fatalf("growing to the maximum: len %d", len(c))
			}
		})
	}
	if memoryAllocator != nil {
		m := memoryAllocator.Allocate(page, max)
		defer m.Free()
		a := m.Reallocate(page)
		if b := m.Reallocate(max); unsafe.SliceData(a) != unsafe.SliceData(b) {
			t.Fatal("mapped memory moved when it grew")
		}
	}
}
