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

func TestBucketCharge(t *testing.T) {
	t0 := time.Unix(0, 0)
	tests := []struct {
		name    string
		charge  float64
		after   time.Duration // then Allow at this time
		allowed int           // how many Allows succeed at that time
	}{
		{"nothing charged", 0, 0, 4},
		{"half the burst", 2, 0, 2},
		{"the whole burst", 4, 0, 0},
		{"debt is repaid first", 6, 200 * time.Millisecond, 0},
		{"debt then refill", 6, 300 * time.Millisecond, 1},
		{"debt capped at one burst", 100, 500 * time.Millisecond, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBucket(10, 4)
			b.Charge(t0, tt.charge)
			n := 0
			for i := 0; i < 10; i++ {
				if ok, _ := b.Allow(t0.Add(tt.after)); ok {
					n++
				}
			}
			if n != tt.allowed {
				t.Fatalf("%d frames allowed, want %d", n, tt.allowed)
			}
		})
	}
	var off *Bucket
	off.Charge(t0, 5) // a nil bucket (limit off) ignores charges
}
