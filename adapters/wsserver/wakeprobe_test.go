package wsserver

import (
	"testing"
	"time"
)

// TestWakeProbeSample: the figure is the latest wake-up's lateness
// (0 for a stamp from the future: another clock step).
func TestWakeProbeSample(t *testing.T) {
	ms := int64(time.Millisecond)
	tests := []struct {
		name               string
		late, now, written int64 // ms: the figure so far, the read, the stamp
		want               int64 // ms
	}{
		{"on time", 1, 10, 9, 1},
		{"late", 1, 410, 10, 400},
		{"on time after late", 400, 420, 419, 1},
		{"stamp ahead of the clock", 5, 10, 20, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &wakeProbe{}
			p.late.Store(tt.late * ms)
			p.sample(tt.now*ms, tt.written*ms)
			if got := p.late.Load(); got != tt.want*ms {
				t.Fatalf("figure %v; want %v", time.Duration(got), time.Duration(tt.want*ms))
			}
			if p.lastRead.Load() != tt.now*ms {
				t.Fatalf("last read not moved to now")
			}
		})
	}
}

// TestWakeProbe: a running probe reads its stamps (the lateness of an idle
// process's wake-ups is small), counts a reader that has not run for a
// while as that late, and reports 0 once stopped.
func TestWakeProbe(t *testing.T) {
	stop := make(chan struct{})
	p, err := startWakeProbe(2*time.Millisecond, stop)
	if err != nil {
		t.Fatal(err)
	}
	start := p.lastRead.Load()
	deadline := time.Now().Add(5 * time.Second)
	for p.lastRead.Load() == start {
		if time.Now().After(deadline) {
			t.Fatal("the probe read no stamp in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	if late := p.lateness(time.Now()); late > time.Second {
		t.Errorf("an idle process's wake-ups are %v late; want well under a second", late)
	}
	// A probe whose reader has not run for 500 ms (as if starved): at
	// least that late, less two of the writes' intervals.
	now := time.Now()
	starved := &wakeProbe{interval: 2 * time.Millisecond}
	starved.lastRead.Store(probeClock(now.Add(-500 * time.Millisecond)))
	if late := starved.lateness(now); late < 496*time.Millisecond {
		t.Errorf("reader idle for 500 ms: lateness %v; want at least 496 ms", late)
	}
	close(stop)
	for !p.ended.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the probe did not stop")
		}
		time.Sleep(time.Millisecond)
	}
	if late := p.lateness(time.Now().Add(time.Hour)); late != 0 {
		t.Errorf("a stopped probe reports %v; want 0", late)
	}
	var none *wakeProbe
	if late := none.lateness(time.Now()); late != 0 {
		t.Errorf("no probe reports %v; want 0", late)
	}
}
