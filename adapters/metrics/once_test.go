package metrics_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/classgate/classgate/adapters/metrics"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
	"github.com/classgate/classgate/plugins/embedded"
	"github.com/classgate/classgate/plugins/host"
)

// TestEachPluginCallCountedOnce wires *Metrics as cmd/gateway does — the
// router's observer and the plugin host's — with the embedded chat plugin
// served by the real host and a native handler beside it, and checks that
// every call is one sample of classgate_plugin_calls_total: the host's for
// chat (by version and precise outcome), the router's for the native one
// (version none).
func TestEachPluginCallCountedOnce(t *testing.T) {
	if _, err := embedded.Get("chat"); err != nil {
		t.Skipf("embedded chat plugin not built (make plugins): %v", err)
	}
	ctx := context.Background()
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	h, err := host.New(ctx, host.Config{Namespaces: map[string]host.Plugin{"chat": {Source: "embedded:chat", PoolSize: 1}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	h.SetObserver(m)
	plugins := core.StaticPlugins{"chat": h.Handler("r1", "chat"), "native": chat}
	r, err := core.NewRouter(core.Options{
		Store: metrics.InstrumentStore(memory.New(memory.Options{}), m), Sender: newSender(), Plugins: plugins, Node: "n1",
		Observer: m, RatePerSecond: 1000, RateBurst: 1000, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Connect(ctx, core.ConnInfo{ID: "a", User: core.User{ID: "u-a", Name: "Ann", Role: "teacher"}, Rooms: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	for _, frame := range []string{
		`{"type":"join","room":"r1","id":"j"}`,                            // chat join hook; native join hook
		`{"type":"chat.send","room":"r1","id":"m1","data":{"text":"hi"}}`, // ok
		`{"type":"chat.send","room":"r1","id":"m2","data":{"text":""}}`,   // rejected
		`{"type":"native.x","room":"r1","id":"n1"}`,                       // native: error
	} {
		if err := r.Receive(ctx, "a", []byte(frame)); err != nil {
			t.Fatalf("receive %s: %v", frame, err)
		}
	}
	got := values(t, m.Registry())
	want := map[string]float64{
		"classgate_plugin_calls_total{outcome=ok,plugin=chat,version=stable}":       2,
		"classgate_plugin_calls_total{outcome=rejected,plugin=chat,version=stable}": 1,
		"classgate_plugin_calls_total{outcome=ok,plugin=native,version=none}":       1,
		"classgate_plugin_calls_total{outcome=error,plugin=native,version=none}":    1,
		"classgate_plugin_call_duration_seconds{plugin=chat,version=stable}_count":  3,
		"classgate_plugin_call_duration_seconds{plugin=native,version=none}_count":  2,
	}
	total := 0.0
	for k, v := range got {
		if len(k) > len("classgate_plugin_calls_total") && k[:len("classgate_plugin_calls_total")] == "classgate_plugin_calls_total" {
			total += v
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if total != 5 {
		t.Errorf("plugin_calls_total sums to %v over every series, want 5 (each call once): %v", total, got)
	}
}
