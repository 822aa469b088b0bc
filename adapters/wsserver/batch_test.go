package wsserver

import (
	"log/slog"
	"testing"

	"github.com/classgate/classgate/internal/uring"
)

// TestRingPool: the pool lends what it has, makes more while all are
// lent up to its bound, then reports none (the caller writes one socket
// at a time), and takes rings back.
func TestRingPool(t *testing.T) {
	p, err := newRingPool(2, slog.Default())
	if err != nil {
		t.Skipf("io_uring unavailable here: %v", err)
	}
	defer p.close()
	var lent []*uring.Ring
	for r := p.get(); r != nil; r = p.get() {
		lent = append(lent, r)
		if len(lent) > ringsMax {
			t.Fatalf("lent %d rings, bound is %d", len(lent), ringsMax)
		}
	}
	if len(lent) != ringsMax {
		t.Fatalf("lent %d rings before refusing, want %d", len(lent), ringsMax)
	}
	for _, r := range lent {
		p.put(r)
	}
	if p.get() == nil {
		t.Fatal("no ring after all were given back")
	}
	var nilPool *ringPool
	if nilPool.get() != nil {
		t.Fatal("a nil pool (no io_uring) lent a ring")
	}
}
