package host

import (
	"errors"
	"math"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

func TestP99(t *testing.T) {
	inf := math.Inf(1)
	buckets := []float64{0, 0.001, 0.01, 0.1, inf}
	tests := []struct {
		name         string
		counts, prev []uint64
		want         float64
	}{
		{"no samples", []uint64{0, 0, 0, 0}, []uint64{0, 0, 0, 0}, 0},
		{"none new", []uint64{5, 5, 0, 0}, []uint64{5, 5, 0, 0}, 0},
		{"all fast", []uint64{100, 0, 0, 0}, []uint64{0, 0, 0, 0}, 0.001},
		{"99 fast, 1 slow: the 99th is fast", []uint64{99, 0, 1, 0}, []uint64{0, 0, 0, 0}, 0.001},
		{"98 fast, 2 slow: the 99th is slow", []uint64{98, 0, 2, 0}, []uint64{0, 0, 0, 0}, 0.1},
		{"only the new counts", []uint64{1000, 0, 10, 0}, []uint64{1000, 0, 0, 0}, 0.1},
		{"in the open bucket: its lower bound", []uint64{0, 0, 0, 3}, []uint64{0, 0, 0, 0}, 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p99(tt.counts, tt.prev, buckets); got != tt.want {
				t.Errorf("p99 = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSchedLatencyMetric: the runtime still publishes the histogram the
// stretch reads (a renamed metric would silently turn it off).
func TestSchedLatencyMetric(t *testing.T) {
	s := []metrics.Sample{{Name: schedLatencies}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		t.Fatalf("runtime/metrics %s: kind %v, want a Float64Histogram", schedLatencies, s[0].Value.Kind())
	}
	var w schedWatch
	w.sample()
	time.Sleep(10 * time.Millisecond)
	w.sample()
	if got := w.recentP99(); got < 0 || got > time.Minute {
		t.Fatalf("recent p99 %v: not a latency", got)
	}
}

func TestDeadlineStretch(t *testing.T) {
	tests := []struct {
		name     string
		lateness time.Duration
		want     time.Duration
	}{
		{"idle scheduler: the timeout", 0, 100 * time.Millisecond},
		{"late by 20ms: plus twice that", 20 * time.Millisecond, 140 * time.Millisecond},
		{"seconds late: at most MaxStretch times", 3 * time.Second, MaxStretch * 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setLateness(t, tt.lateness)
			if got := deadline(100 * time.Millisecond); got != tt.want {
				t.Fatalf("deadline = %v, want %v", got, tt.want)
			}
			// A plugin that spins gets the stretched deadline and is still
			// a timeout, charged to its sender.
			h := guestHost(t, func(p *Plugin) {
				p.Timeout = 100 * time.Millisecond
				p.PoolSize = 1
				p.FailureBudget = 1
				p.FailureWindow = time.Hour
			})
			_, err := call(t, h, msg("r1", "t.loop", `{}`))
			if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "timed out after "+tt.want.String()) {
				t.Fatalf("spinning call: %v, want a timeout after %s", err, tt.want)
			}
			if _, err := call(t, h, msg("r1", "t.echo", `{}`)); !errors.Is(err, ErrRefused) {
				t.Fatalf("after the timeout: %v, want ErrRefused (the budget of 1 spent)", err)
			}
		})
	}
}

// TestDeadlineStretchServesSlowCalls: a call that needs 150 ms of wall time
// times out on a 100 ms deadline, and is answered when the scheduler is
// late enough (200 ms) to stretch the deadline to MaxStretch × 100 ms — as
// a call that waited for a CPU on an overloaded node would be.
func TestDeadlineStretchServesSlowCalls(t *testing.T) {
	for _, tt := range []struct {
		name     string
		lateness time.Duration
		served   bool
	}{
		{"scheduler on time", 0, false},
		{"scheduler late", 200 * time.Millisecond, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setLateness(t, tt.lateness)
			h := guestHost(t, func(p *Plugin) { p.Timeout = 100 * time.Millisecond; p.PoolSize = 1 })
			_, err := call(t, h, msg("r1", "t.slow", `{}`))
			if tt.served && err != nil {
				t.Fatalf("slow call with a late scheduler: %v, want an answer", err)
			}
			if !tt.served && !errors.Is(err, ErrTimeout) {
				t.Fatalf("slow call on time: %v, want ErrTimeout", err)
			}
		})
	}
}

// setLateness makes the scheduler look late by d for the test.
func setLateness(t *testing.T, d time.Duration) {
	t.Helper()
	old := schedLateness
	schedLateness = func() time.Duration { return d }
	t.Cleanup(func() { schedLateness = old })
}
