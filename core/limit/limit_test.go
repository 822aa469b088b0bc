package limit

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t0 := time.Unix(0, 0)
	b := NewBucket(10, 3)
	steps := []struct {
		at     time.Duration
		ok     bool
		denied int
	}{
		{0, true, 0}, {0, true, 0}, {0, true, 0}, // burst
		{0, false, 1}, {0, false, 2}, // empty, refusals counted
		{100 * time.Millisecond, true, 0}, // one token refilled, streak reset
		{100 * time.Millisecond, false, 1},
		{10 * time.Second, true, 0}, // refill capped at burst
		{10 * time.Second, true, 0},
		{10 * time.Second, true, 0},
		{10 * time.Second, false, 1},
	}
	for i, s := range steps {
		ok, d := b.Allow(t0.Add(s.at))
		if ok != s.ok || d != s.denied {
			t.Fatalf("step %d: Allow = %v,%d; want %v,%d", i, ok, d, s.ok, s.denied)
		}
	}
	var unlimited *Bucket
	if ok, _ := unlimited.Allow(t0); !ok {
		t.Fatal("nil bucket must allow")
	}
}
