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
		late       float64 // ms: the wake-up lateness (wakeProbe) at end
	}
	const after = 100 * time.Millisecond
	tests := []struct {
		name  string
		after time.Duration
		reads []read
	}{
		{"every read waits", after, []read{{0, 10, false, 0}, {20, 40, false, 0}, {300, 500, false, 0}}},
		{"queued for less than after", after, []read{{0, 10, false, 0}, {50, 50.001, false, 0}, {100, 100.001, false, 0}, {149, 149.001, false, 0}}},
		{"queued for more than after", after, []read{
			{0, 10, false, 0},
			{50, 50.001, false, 0},   // the first frame found waiting: the clock starts
			{120, 120.001, false, 0}, // 70ms
			{151, 151.001, true, 0},  // 101ms: shed
			{151.1, 151.101, true, 0},
			{151.2, 152, false, 0}, // waited (0.8ms): the queue emptied
			{200, 200.001, false, 0},
		}},
		{"a wait resets the clock", after, []read{{0, 0.001, false, 0}, {90, 90.001, false, 0}, {95, 96, false, 0}, {150, 150.001, false, 0}, {240, 240.001, false, 0}}},
		{"disabled", -1, []read{{0, 0.001, false, 0}, {500, 500.001, false, 0}, {1000, 1000.001, false, 500}, {1000, 1400, false, 500}}},
		{"a wake-up later than after", after, []read{
			{0, 250, true, 300},        // waited 250ms, woken 300ms late: the frame waited 250ms
			{250.1, 250.101, true, 0},  // read behind it: the queue has not emptied since 0
			{251, 252, false, 0.5},     // waited, woken on time: the queue emptied
			{300, 300.001, false, 0.5}, // a frame waiting: the clock starts again
		}},
		{"a long wait, woken on time", after, []read{{0, 500, false, 5}, {500.1, 500.101, false, 5}}},
		{"woken late, but the wait was short", after, []read{{0, 50, false, 300}, {60, 60.001, false, 300}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q backlog
			for i, r := range tt.reads {
				late := time.Duration(r.late * float64(time.Millisecond))
				if got := q.observe(at(r.start), at(r.end), tt.after, late); got != r.shed {
					t.Fatalf("read %d (%v→%vms, %vms late): shed %v, want %v", i, r.start, r.end, r.late, got, r.shed)
				}
			}
		})
	}
}
