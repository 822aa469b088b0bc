package host

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// Guest linear memory lives outside the Go heap, in an anonymous mapping
// of the instance's maximum size (memory_pages) reserved at instantiation;
// the kernel backs pages only when the guest first touches them, and
// growing is a change of length, never a copy. With wazero's default the
// memory is a Go slice: every memory.grow allocates a bigger slice and
// copies (tens of megabytes of garbage during a burst of joins), and the
// live memories count towards the Go heap goal, so the garbage collector
// lets the process hold about twice their size. Closing an instance
// returns its pages to the system at once.
var memoryAllocator experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(mmapMemory)

type mappedMemory struct{ buf []byte }

func mmapMemory(_, max uint64) experimental.LinearMemory {
	b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return &heapMemory{max: max}
	}
	return &mappedMemory{buf: b}
}

// Reallocate implements experimental.LinearMemory; nil beyond the maximum.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size:size]
}

// Free implements experimental.LinearMemory.
func (m *mappedMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}
