package wsserver

import (
	"testing"
	"time"
)

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
	// The reader has not run for 500 ms (as if starved): at least that
	// late, less the writes' interval.
	now := time.Now()
	p.lastRead.Store(now.Add(-500 * time.Millisecond).UnixNano())
	p.late.Store(0)
	if late := p.lateness(now); late < 496*time.Millisecond {
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
