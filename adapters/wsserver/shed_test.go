package wsserver

import (
	"testing"
	"time"
)

// TestBacklogObserve walks the backlog clock through reads that waited
// and reads that found their frame waiting.
func TestBacklogObserve(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	type read struct {
		start, end float64 // ms
		shed       bool
	}
	const after = 100 * time.Millisecond
	tests := []struct {
		name  string
		after time.Duration
		reads []read
	}{
		{"every read waits", after, []read{{0, 10, false}, {20, 40, false}, {300, 500, false}}},
		{"queued for less than after", after, []read{{0, 10, false}, {50, 50.001, false}, {100, 100.001, false}, {149, 149.001, false}}},
		{"queued for more than after", after, []read{
			{0, 10, false},
			{50, 50.001, false},   // the first frame found waiting: the clock starts
			{120, 120.001, false}, // 70ms
			{151, 151.001, true},  // 101ms: shed
			{151.1, 151.101, true},
			{151.2, 152, false}, // waited (0.8ms): the queue emptied
			{200, 200.001, false},
		}},
		{"a wait resets the clock", after, []read{{0, 0.001, false}, {90, 90.001, false}, {95, 96, false}, {150, 150.001, false}, {240, 240.001, false}}},
		{"disabled", -1, []read{{0, 0.001, false}, {500, 500.001, false}, {1000, 1000.001, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q backlog
			for i, r := range tt.reads {
				if got := q.observe(at(r.start), at(r.end), tt.after); got != r.shed {
					t.Fatalf("read %d (%v→%vms): shed %v, want %v", i, r.start, r.end, got, r.shed)
				}
			}
		})
	}
}
