package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/classgate/classgate/adapters/metrics"
)

// fixedNow is the test clock: events are stamped relative to it.
var fixedNow = time.UnixMilli(1_764_115_200_000)

func newMetrics(t *testing.T) *metrics.Metrics {
	t.Helper()
	return metrics.New(metrics.Options{Version: "test", NoRuntimeMetrics: true, MaxLabelValues: 4, Now: func() time.Time { return fixedNow }})
}

func TestObserverExposition(t *testing.T) {
	tests := []struct {
		name  string
		drive func(m *metrics.Metrics)
		// metric names (with prefix) to compare, and the expected text.
		names []string
		want  string
	}{
		{
			name: "connections gauge moves both ways",
			drive: func(m *metrics.Metrics) {
				m.Connected(1)
				m.Connected(1)
				m.Connected(1)
				m.Connected(-1)
			},
			names: []string{"classgate_connections"},
			want: `
# HELP classgate_connections Open client connections on this node.
# TYPE classgate_connections gauge
classgate_connections 2
`,
		},
		{
			name: "wake lateness: 0 until a source is set, then the source's figure",
			drive: func(m *metrics.Metrics) {
				m.SetWakeLateness(func() time.Duration { return 150 * time.Millisecond })
			},
			names: []string{"classgate_wake_lateness_seconds"},
			want: `
# HELP classgate_wake_lateness_seconds How late the Go runtime wakes a connection's reader once its socket is ready (the WebSocket server's wake-up probe); 0 when not measured. Tens of milliseconds or more: the node is short of CPU.
# TYPE classgate_wake_lateness_seconds gauge
classgate_wake_lateness_seconds 0.15
`,
		},
		{
			name:  "no wake-lateness source: 0",
			drive: func(*metrics.Metrics) {},
			names: []string{"classgate_wake_lateness_seconds"},
			want: `
# HELP classgate_wake_lateness_seconds How late the Go runtime wakes a connection's reader once its socket is ready (the WebSocket server's wake-up probe); 0 when not measured. Tens of milliseconds or more: the node is short of CPU.
# TYPE classgate_wake_lateness_seconds gauge
classgate_wake_lateness_seconds 0
`,
		},
		{
			name: "frames by type, joins, rooms",
			drive: func(m *metrics.Metrics) {
				m.FrameIn("join")
				m.FrameIn("chat.send")
				m.FrameIn("chat.send")
				m.FrameOut("joined")
				m.Joined()
				m.Rooms(3)
				m.Rooms(2)
			},
			names: []string{"classgate_frames_received_total", "classgate_frames_sent_total", "classgate_joins_total", "classgate_rooms"},
			want: `
# HELP classgate_frames_received_total Client frames received, by type (control types, enabled plugin types, or invalid/unknown/rate_limited).
# TYPE classgate_frames_received_total counter
classgate_frames_received_total{type="chat.send"} 2
classgate_frames_received_total{type="join"} 1
# HELP classgate_frames_sent_total Control frames and plugin replies sent to one connection, by type.
# TYPE classgate_frames_sent_total counter
classgate_frames_sent_total{type="joined"} 1
# HELP classgate_joins_total Successful room joins.
# TYPE classgate_joins_total counter
classgate_joins_total 1
# HELP classgate_rooms Rooms with members on this node.
# TYPE classgate_rooms gauge
classgate_rooms 2
`,
		},
		{
			name: "acks, errors by code, rate limits, duplicates, slow consumers",
			drive: func(m *metrics.Metrics) {
				m.Acked()
				m.Acked()
				m.ErrorSent("rate_limited")
				m.ErrorSent("not_joined")
				m.ErrorSent("rate_limited")
				m.RateLimited()
				m.Duplicate()
				m.SlowConsumer()
			},
			names: []string{"classgate_acks_total", "classgate_errors_total", "classgate_rate_limited_total", "classgate_duplicates_total", "classgate_slow_consumer_closes_total"},
			want: `
# HELP classgate_acks_total Acks sent.
# TYPE classgate_acks_total counter
classgate_acks_total 2
# HELP classgate_duplicates_total Frames recognised as duplicates by their id and acknowledged again.
# TYPE classgate_duplicates_total counter
classgate_duplicates_total 1
# HELP classgate_errors_total Error frames sent to clients, by protocol error code.
# TYPE classgate_errors_total counter
classgate_errors_total{code="not_joined"} 1
classgate_errors_total{code="rate_limited"} 2
# HELP classgate_rate_limited_total Frames refused by the per-connection rate limiter.
# TYPE classgate_rate_limited_total counter
classgate_rate_limited_total 1
# HELP classgate_slow_consumer_closes_total Connections closed with 4008 because they could not keep up.
# TYPE classgate_slow_consumer_closes_total counter
classgate_slow_consumer_closes_total 1
`,
		},
		{
			name: "deliveries and fan-out latency; no recipients is not a delivery",
			drive: func(m *metrics.Metrics) {
				m.Delivered("chat.message", 3, fixedNow.Add(-20*time.Millisecond).UnixMilli())
				m.Delivered("chat.message", 1, fixedNow.Add(-2*time.Second).UnixMilli())
				m.Delivered("chat.message", 0, fixedNow.UnixMilli())
				// A clock ahead of ours (another node) counts as 0 seconds.
				m.Delivered("whiteboard.stroke", 2, fixedNow.Add(time.Second).UnixMilli())
			},
			names: []string{"classgate_deliveries_total", "classgate_fanout_latency_seconds"},
			want: `
# HELP classgate_deliveries_total Room events delivered to connections on this node (one per recipient), by event type.
# TYPE classgate_deliveries_total counter
classgate_deliveries_total{type="chat.message"} 4
classgate_deliveries_total{type="whiteboard.stroke"} 2
# HELP classgate_fanout_latency_seconds Time from an event's creation (its ts) to its hand-off to the recipients' sockets on this node.
# TYPE classgate_fanout_latency_seconds histogram
classgate_fanout_latency_seconds_bucket{le="0.0005"} 1
classgate_fanout_latency_seconds_bucket{le="0.001"} 1
classgate_fanout_latency_seconds_bucket{le="0.0025"} 1
classgate_fanout_latency_seconds_bucket{le="0.005"} 1
classgate_fanout_latency_seconds_bucket{le="0.01"} 1
classgate_fanout_latency_seconds_bucket{le="0.025"} 2
classgate_fanout_latency_seconds_bucket{le="0.05"} 2
classgate_fanout_latency_seconds_bucket{le="0.1"} 2
classgate_fanout_latency_seconds_bucket{le="0.25"} 2
classgate_fanout_latency_seconds_bucket{le="0.5"} 2
classgate_fanout_latency_seconds_bucket{le="1"} 2
classgate_fanout_latency_seconds_bucket{le="2.5"} 3
classgate_fanout_latency_seconds_bucket{le="5"} 3
classgate_fanout_latency_seconds_bucket{le="10"} 3
classgate_fanout_latency_seconds_bucket{le="+Inf"} 3
classgate_fanout_latency_seconds_sum 2.02
classgate_fanout_latency_seconds_count 3
`,
		},
		{
			name: "handler calls the plugin host does not serve: version none, ok, error, timeout",
			drive: func(m *metrics.Metrics) {
				m.PluginCall("chat", time.Millisecond, nil)
				m.PluginCall("chat", time.Millisecond, errors.New("boom"))
				m.PluginCall("chat", time.Millisecond, fmt.Errorf("call: %w", context.DeadlineExceeded))
			},
			names: []string{"classgate_plugin_calls_total"},
			want: `
# HELP classgate_plugin_calls_total Plugin calls, by plugin, version (the role that served it; none for a handler the plugin host does not serve) and outcome.
# TYPE classgate_plugin_calls_total counter
classgate_plugin_calls_total{outcome="error",plugin="chat",version="none"} 1
classgate_plugin_calls_total{outcome="ok",plugin="chat",version="none"} 1
classgate_plugin_calls_total{outcome="timeout",plugin="chat",version="none"} 1
`,
		},
		{
			name: "plugin host calls by plugin, version and outcome; unknown outcome is error",
			drive: func(m *metrics.Metrics) {
				m.ObservePluginCall("whiteboard", "stable", metrics.OutcomeOK, time.Millisecond)
				m.ObservePluginCall("whiteboard", "canary", metrics.OutcomeTimeout, 50*time.Millisecond)
				m.ObservePluginCall("whiteboard", "canary", "weird", time.Millisecond)
			},
			names: []string{"classgate_plugin_calls_total"},
			want: `
# HELP classgate_plugin_calls_total Plugin calls, by plugin, version (the role that served it; none for a handler the plugin host does not serve) and outcome.
# TYPE classgate_plugin_calls_total counter
classgate_plugin_calls_total{outcome="error",plugin="whiteboard",version="canary"} 1
classgate_plugin_calls_total{outcome="ok",plugin="whiteboard",version="stable"} 1
classgate_plugin_calls_total{outcome="timeout",plugin="whiteboard",version="canary"} 1
`,
		},
		{
			name: "a call the host reported is counted once, not again by the router; another handler is",
			drive: func(m *metrics.Metrics) {
				// The host reports inside the handler; the router after it.
				m.ObservePluginCall("chat", "stable", metrics.OutcomeRejected, time.Millisecond)
				m.PluginCall("chat", time.Millisecond, nil)
				m.ObservePluginCall("chat", "stable", metrics.OutcomeCrash, time.Millisecond)
				m.PluginCall("chat", time.Millisecond, errors.New("crash"))
				m.PluginCall("native", time.Millisecond, nil)
			},
			names: []string{"classgate_plugin_calls_total"},
			want: `
# HELP classgate_plugin_calls_total Plugin calls, by plugin, version (the role that served it; none for a handler the plugin host does not serve) and outcome.
# TYPE classgate_plugin_calls_total counter
classgate_plugin_calls_total{outcome="crash",plugin="chat",version="stable"} 1
classgate_plugin_calls_total{outcome="ok",plugin="native",version="none"} 1
classgate_plugin_calls_total{outcome="rejected",plugin="chat",version="stable"} 1
`,
		},
		{
			name: "store errors counted once (the router's report of an instrumented failure is not), replays, resyncs",
			drive: func(m *metrics.Metrics) {
				m.ObserveStoreOp("commit", time.Millisecond, true)
				m.ObserveStoreOp("commit", time.Millisecond, false)
				m.StoreError("commit")
				m.Replayed(5)
				m.Replayed(0)
				m.Resync()
			},
			names: []string{"classgate_store_errors_total", "classgate_replayed_events_total", "classgate_resyncs_total"},
			want: `
# HELP classgate_replayed_events_total Durable events replayed to joining clients.
# TYPE classgate_replayed_events_total counter
classgate_replayed_events_total 5
# HELP classgate_resyncs_total Resync frames sent (history no longer reached back).
# TYPE classgate_resyncs_total counter
classgate_resyncs_total 1
# HELP classgate_store_errors_total Failed store calls, by operation (duplicates, conflicts and not-found are not failures).
# TYPE classgate_store_errors_total counter
classgate_store_errors_total{op="commit"} 1
`,
		},
		{
			name: "store not instrumented: the router's store errors count, by its step",
			drive: func(m *metrics.Metrics) {
				m.StoreError("snapshot")
				m.StoreError("snapshot")
			},
			names: []string{"classgate_store_errors_total"},
			want: `
# HELP classgate_store_errors_total Failed store calls, by operation (duplicates, conflicts and not-found are not failures).
# TYPE classgate_store_errors_total counter
classgate_store_errors_total{op="snapshot"} 2
`,
		},
		{
			name: "label sets are capped: the fifth type counts as other",
			drive: func(m *metrics.Metrics) {
				for _, typ := range []string{"a.x", "b.x", "c.x", "d.x", "e.x", "f.x", "a.x"} {
					m.FrameIn(typ)
				}
			},
			names: []string{"classgate_frames_received_total"},
			want: `
# HELP classgate_frames_received_total Client frames received, by type (control types, enabled plugin types, or invalid/unknown/rate_limited).
# TYPE classgate_frames_received_total counter
classgate_frames_received_total{type="a.x"} 2
classgate_frames_received_total{type="b.x"} 1
classgate_frames_received_total{type="c.x"} 1
classgate_frames_received_total{type="d.x"} 1
classgate_frames_received_total{type="other"} 2
`,
		},
		{
			name: "label values are valid UTF-8, at most 64 bytes, never empty",
			drive: func(m *metrics.Metrics) {
				m.ErrorSent("")
				m.ErrorSent("bad\xffcode")
				m.ErrorSent(strings.Repeat("x", 100))
			},
			names: []string{"classgate_errors_total"},
			want: `
# HELP classgate_errors_total Error frames sent to clients, by protocol error code.
# TYPE classgate_errors_total counter
classgate_errors_total{code="bad?code"} 1
classgate_errors_total{code="none"} 1
classgate_errors_total{code="` + strings.Repeat("x", 64) + `"} 1
`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMetrics(t)
			tc.drive(m)
			if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(tc.want), tc.names...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestNamesFollowConventions lints every registered metric with promlint's
// rules (through testutil) and checks the classgate_ prefix.
func TestNamesFollowConventions(t *testing.T) {
	m := metrics.New(metrics.Options{Version: "test"})
	// Touch every vector so that it is exposed.
	m.FrameIn("join")
	m.FrameOut("ack")
	m.Delivered("chat.message", 1, time.Now().UnixMilli())
	m.ErrorSent("internal")
	m.PluginCall("chat", time.Millisecond, nil)
	m.ObservePluginCall("chat", "stable", metrics.OutcomeOK, time.Millisecond)
	m.ObserveStoreOp("commit", time.Millisecond, true)
	m.StoreError("commit")
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "classgate_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range fams {
		n := f.GetName()
		if strings.HasPrefix(n, "go_") || strings.HasPrefix(n, "process_") {
			continue
		}
		seen++
		if !strings.HasPrefix(n, "classgate_") {
			t.Errorf("metric %s lacks the classgate_ prefix", n)
		}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				switch l.GetName() {
				case "user", "room", "conn", "connection":
					t.Errorf("metric %s has a forbidden label %s", n, l.GetName())
				}
			}
		}
	}
	if seen < 19 { // every Name constant (three retired names went in 2026-12)
		t.Errorf("only %d classgate metrics exposed", seen)
	}
}

func TestHandlerServesExposition(t *testing.T) {
	m := metrics.New(metrics.Options{Version: "v9"})
	m.Connected(1)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		"classgate_connections 1",
		`classgate_build_info{goversion="go`,
		`version="v9"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
}
