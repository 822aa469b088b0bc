package metrics_test

import (
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/metrics"
	"github.com/classgate/classgate/internal/dashstats"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestStatsWindow(t *testing.T) {
	clk := &clock{t: fixedNow}
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true, Now: clk.Now})
	stats := func() dashstats.Stats {
		t.Helper()
		s, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// Before anything: zeros, no quantiles, no window.
	s := stats()
	if s.WindowSeconds != 0 || s.FanoutP99Seconds != nil || s.Connections != 0 || len(s.Plugins) != 0 {
		t.Fatalf("first reading: %+v", s)
	}

	// 10 s of traffic: 3 connections, 20 frames in, 100 deliveries with a
	// latency of ~20 ms, 10 plugin calls of which 2 crash, 1 error frame.
	clk.Advance(10 * time.Second)
	for range 3 {
		m.Connected(1)
	}
	for range 20 {
		m.FrameIn("chat.send")
	}
	for range 100 {
		m.Delivered("chat.message", 1, clk.Now().Add(-20*time.Millisecond).UnixMilli())
	}
	for i := range 10 {
		outcome := metrics.OutcomeOK
		if i < 2 {
			outcome = metrics.OutcomeCrash
		} else if i < 4 {
			outcome = metrics.OutcomeRejected // not an error
		}
		m.ObservePluginCall("chat", "stable", outcome, time.Millisecond)
	}
	m.PluginCall("chat", time.Millisecond, nil) // the router's view is ignored when the host reports
	m.ErrorSent("plugin_error")
	s = stats()
	tests := []struct {
		name      string
		got, want float64
	}{
		{"window", s.WindowSeconds, 10},
		{"connections", s.Connections, 3},
		{"frames in/s", s.Rates.FramesIn, 2},
		{"deliveries/s", s.Rates.Deliveries, 10},
		{"errors/s", s.Rates.Errors, 0.1},
		{"plugin_error/s", s.ErrorsByCode["plugin_error"], 0.1},
		{"chat.send/s", s.FramesInByType["chat.send"], 2},
		{"plugin calls/s", s.Rates.PluginCalls, 1},
		{"plugin errors/s", s.Rates.PluginErrors, 0.2},
		{"plugin errors total", s.Totals.PluginErrors, 2},
	}
	for _, tc := range tests {
		if !near(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// 20 ms lies in the (0.01, 0.025] bucket; interpolation puts p99 at
	// 0.01 + 0.015·0.99.
	if s.FanoutP99Seconds == nil || !near(*s.FanoutP99Seconds, 0.01+0.015*0.99) {
		t.Errorf("p99 = %v", s.FanoutP99Seconds)
	}
	if len(s.Plugins) != 1 || s.Plugins[0].Plugin != "chat" || s.Plugins[0].Version != "stable" ||
		!near(s.Plugins[0].ErrorsPerSecond, 0.2) || s.Plugins[0].CallsTotal != 10 || s.Plugins[0].P99Seconds == nil {
		t.Errorf("plugins = %+v", s.Plugins)
	}

	// The next window holds no deliveries: no p99, rates fall to 0, totals
	// stay. Readings 40 s apart: the window is the real span.
	clk.Advance(40 * time.Second)
	s = stats()
	if s.FanoutP99Seconds != nil || s.Rates.Deliveries != 0 || s.Totals.Deliveries != 100 || s.WindowSeconds != 40 {
		t.Errorf("quiet window: p99 %v, deliveries/s %v, total %v, window %v", s.FanoutP99Seconds, s.Rates.Deliveries, s.Totals.Deliveries, s.WindowSeconds)
	}

	// Readings every 2 s for a minute: the window never exceeds 30 s
	// (plus one reading's spacing) and the ring stays bounded.
	for range 30 {
		clk.Advance(2 * time.Second)
		m.FrameIn("ping")
		s = stats()
		if s.WindowSeconds > 32 {
			t.Fatalf("window %v s", s.WindowSeconds)
		}
	}
	if !near(s.Rates.FramesIn, 0.5) {
		t.Errorf("steady rate = %v, want 0.5/s", s.Rates.FramesIn)
	}

	// The JSON has the field names the dashboard reads.
	b, _ := json.Marshal(s)
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	for _, k := range []string{"connections", "rooms", "rates", "totals", "fanout_p99_seconds", "plugins", "window_seconds", "errors_by_code"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("stats JSON lacks %q: %s", k, b)
		}
	}
}

// TestStatsFallsBackToRouterView: a handler the plugin host does not serve
// is in the plugin table with the router's view of its calls (version
// "none").
func TestStatsFallsBackToRouterView(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	m.PluginCall("whiteboard", time.Millisecond, nil)
	m.PluginCall("whiteboard", time.Millisecond, errTest)
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Plugins) != 1 || s.Plugins[0].Plugin != "whiteboard" || s.Plugins[0].Version != metrics.VersionNone || s.Plugins[0].ErrorsTotal != 1 || s.Plugins[0].CallsTotal != 2 {
		t.Errorf("plugins = %+v", s.Plugins)
	}
}

type testErr struct{}

func (testErr) Error() string { return "test error" }

var errTest = testErr{}
