package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/classgate/classgate/adapters/metrics"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// sender records frames per connection (a core.Sender for tests).
type sender struct {
	mu     sync.Mutex
	frames map[core.ConnID][]string
	closed map[core.ConnID]int
}

func newSender() *sender {
	return &sender{frames: map[core.ConnID][]string{}, closed: map[core.ConnID]int{}}
}

func (s *sender) Send(_ context.Context, id core.ConnID, frame []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames[id] = append(s.frames[id], string(frame))
	return nil
}

func (s *sender) Close(_ context.Context, id core.ConnID, code int, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed[id] = code
	return nil
}

// chat is a minimal chat plugin: chat.send → durable chat.message,
// chat.typing → ephemeral to the others, chat.boom → error.
var chat = core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
	if c.Hook != core.HookMessage {
		return nil, nil
	}
	switch c.Type {
	case "chat.send":
		var d struct{ Text string }
		if err := json.Unmarshal(c.Data, &d); err != nil || d.Text == "" {
			return &core.Result{Reject: "empty message"}, nil
		}
		return &core.Result{Emits: []core.Emit{{Type: "chat.message", Data: c.Data, Durable: true}}}, nil
	case "chat.typing":
		return &core.Result{Emits: []core.Emit{{Type: "chat.typing", To: core.Target{Kind: core.TargetOthers, Conn: c.Conn}}}}, nil
	}
	return nil, errors.New("boom")
})

// values flattens a registry into "name{l1=v1,l2=v2}" → value (counters,
// gauges; histograms as their _count).
func values(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			key := f.GetName()
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// TestMetricsAfterScriptedTraffic drives a real router (memory store,
// instrumented) with scripted client frames and checks that every metric
// moved by exactly what the script implies.
func TestMetricsAfterScriptedTraffic(t *testing.T) {
	ctx := context.Background()
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	st := metrics.InstrumentStore(memory.New(memory.Options{HistoryLimit: 2}), m)
	snd := newSender()
	r, err := core.NewRouter(core.Options{
		Store: st, Sender: snd, Plugins: core.StaticPlugins{"chat": chat}, Node: "n1",
		Observer: m, RatePerSecond: 1000, RateBurst: 1000, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	conns := []core.ConnID{"a", "b", "c"}
	for _, id := range conns {
		if err := r.Connect(ctx, core.ConnInfo{ID: id, User: core.User{ID: "u-" + string(id), Role: "student"}, Rooms: []string{"*"}}); err != nil {
			t.Fatal(err)
		}
	}
	send := func(id core.ConnID, frame string) {
		t.Helper()
		if err := r.Receive(ctx, id, []byte(frame)); err != nil {
			t.Fatalf("receive %s: %v", frame, err)
		}
	}
	send("a", `{"type":"join","room":"r1","id":"j"}`)
	send("b", `{"type":"join","room":"r1","id":"j"}`)
	send("c", `{"type":"join","room":"r2","id":"j"}`)
	send("a", `{"type":"chat.send","room":"r1","id":"m1","data":{"text":"hi"}}`)
	send("a", `{"type":"chat.send","room":"r1","id":"m1","data":{"text":"hi"}}`) // duplicate
	send("b", `{"type":"chat.send","room":"r1","id":"m2","data":{"text":"yo"}}`)
	send("a", `{"type":"chat.send","room":"r1","id":"m3","data":{"text":"third"}}`)
	send("a", `{"type":"chat.typing","room":"r1"}`)
	send("a", `{"type":"chat.send","room":"r1","id":"e1","data":{}}`) // rejected
	send("a", `{"type":"chat.explode","room":"r1","id":"e2"}`)        // plugin error
	send("c", `{"type":"chat.send","room":"r1","id":"e3","data":{"text":"x"}}`)
	send("c", `not json`)
	send("c", `{"type":"ping","id":"p"}`)
	send("c", `{"type":"join","room":"r1","since":2}`) // replays seq 3 (history limit 2 still reaches back)
	send("b", `{"type":"leave","room":"r1","id":"l"}`)
	send("b", `{"type":"join","room":"r1","since":0}`) // seq 1 trimmed: resync
	if err := r.Disconnect(ctx, "c"); err != nil {
		t.Fatal(err)
	}

	// A node unsubscribes from an emptied room in the background (the
	// router never does store I/O under its lock): wait for it.
	got := values(t, m.Registry())
	for deadline := time.Now().Add(5 * time.Second); got["classgate_store_operation_duration_seconds{op=unsubscribe}_count"] == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		got = values(t, m.Registry())
	}
	want := map[string]float64{
		"classgate_connections":                              2,
		"classgate_rooms":                                    1, // r2 emptied when c left
		"classgate_joins_total":                              5,
		"classgate_frames_received_total{type=join}":         5,
		"classgate_frames_received_total{type=chat.send}":    6,
		"classgate_frames_received_total{type=chat.typing}":  1,
		"classgate_frames_received_total{type=chat.explode}": 1,
		"classgate_frames_received_total{type=invalid}":      1,
		"classgate_frames_received_total{type=ping}":         1,
		"classgate_frames_received_total{type=leave}":        1,
		"classgate_frames_sent_total{type=joined}":           5,
		"classgate_frames_sent_total{type=ack}":              5, // m1, m1 again, m2, m3, leave
		"classgate_frames_sent_total{type=error}":            4,
		"classgate_frames_sent_total{type=pong}":             1,
		"classgate_frames_sent_total{type=resync}":           1,
		"classgate_acks_total":                               4,
		"classgate_duplicates_total":                         1,
		"classgate_errors_total{code=rejected}":              1,
		"classgate_errors_total{code=plugin_error}":          1,
		"classgate_errors_total{code=not_joined}":            1,
		"classgate_errors_total{code=bad_request}":           1,
		// chat.message ×3 to a and b; chat.typing to b.
		"classgate_deliveries_total{type=chat.message}": 6,
		"classgate_deliveries_total{type=chat.typing}":  1,
		"classgate_fanout_latency_seconds_count":        4,
		"classgate_replayed_events_total":               1,
		"classgate_resyncs_total":                       1,
		// 6 message calls (one fails; the duplicate is answered before
		// the plugin) + 5 join hooks + 3 leave hooks.
		"classgate_plugin_calls_total{outcome=ok,plugin=chat,version=none}":      13,
		"classgate_plugin_calls_total{outcome=error,plugin=chat,version=none}":   1,
		"classgate_plugin_call_duration_seconds{plugin=chat,version=none}_count": 14,
		"classgate_store_errors_total{op=commit}":                                0,
		"classgate_rate_limited_total":                                           0,
		"classgate_slow_consumer_closes_total":                                   0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	// Every store method the script used was timed.
	for _, op := range []string{"add_conn", "join", "snapshot", "commit", "history", "leave", "remove_conn", "subscribe", "unsubscribe", "dedupe", "remember_refusal"} {
		if got[fmt.Sprintf("classgate_store_operation_duration_seconds{op=%s}_count", op)] == 0 {
			t.Errorf("store op %s not timed", op)
		}
	}
	if t.Failed() {
		var keys []string
		for k, v := range got {
			keys = append(keys, fmt.Sprintf("%s %v", k, v))
		}
		sort.Strings(keys)
		t.Logf("registry:\n%s", strings.Join(keys, "\n"))
	}
}

// failingStore fails every call with ErrUnavailable except the ones listed
// as expected outcomes.
type failingStore struct {
	core.Store
	err error
}

func (f failingStore) Commit(context.Context, core.Commit) (core.CommitResult, error) {
	return core.CommitResult{}, f.err
}

func (f failingStore) Members(context.Context, string) ([]core.Member, error) { return nil, f.err }

func TestInstrumentStoreCountsOnlyRealFailures(t *testing.T) {
	tests := []struct {
		err    error
		failed bool
	}{
		{nil, false},
		{fmt.Errorf("redis: %w", core.ErrUnavailable), true},
		{errors.New("disk on fire"), true},
		{fmt.Errorf("x: %w", core.ErrDuplicate), false},
		{fmt.Errorf("x: %w", core.ErrConflict), false},
		{fmt.Errorf("x: %w", core.ErrNotFound), false},
		{context.Canceled, false},
		{context.DeadlineExceeded, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.err), func(t *testing.T) {
			m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
			st := metrics.InstrumentStore(failingStore{Store: memory.New(memory.Options{}), err: tc.err}, m)
			_, err := st.Commit(context.Background(), core.Commit{Room: "r"})
			if !errors.Is(err, tc.err) {
				t.Fatalf("error not passed through: %v", err)
			}
			_, _ = st.Members(context.Background(), "r")
			got := values(t, m.Registry())
			want := 0.0
			if tc.failed {
				want = 1
			}
			for _, op := range []string{"commit", "members"} {
				if n := got["classgate_store_errors_total{op="+op+"}"]; n != want {
					t.Errorf("store_errors_total{op=%s} = %v, want %v", op, n, want)
				}
				if n := got["classgate_store_operation_duration_seconds{op="+op+"}_count"]; n != 1 {
					t.Errorf("%s timed %v times, want 1", op, n)
				}
			}
		})
	}
}

// TestInstrumentStorePassesThrough runs every port method through the
// decorator against the memory store and checks results are unchanged.
func TestInstrumentStorePassesThrough(t *testing.T) {
	ctx := context.Background()
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	st := metrics.InstrumentStore(memory.New(memory.Options{LivenessTTL: time.Minute}), m)
	defer st.Close()
	var got []core.Event
	st.SetSink(func(e core.Event) { got = append(got, e) })
	info := core.ConnInfo{ID: "c1", User: core.User{ID: "u1"}, Rooms: []string{"*"}}
	steps := []struct {
		op string
		do func() error
	}{
		{"ping", func() error { return st.Ping(ctx) }},
		{"add_conn", func() error { return st.AddConn(ctx, info) }},
		{"conn", func() error { _, _, err := st.Conn(ctx, "c1"); return err }},
		{"subscribe", func() error { return st.Subscribe(ctx, "r") }},
		{"join", func() error { _, err := st.Join(ctx, "r", info); return err }},
		{"members", func() error {
			ms, err := st.Members(ctx, "r")
			if err == nil && len(ms) != 1 {
				err = fmt.Errorf("members %v", ms)
			}
			return err
		}},
		{"commit", func() error {
			cr, err := st.Commit(ctx, core.Commit{Room: "r", Durable: []core.Event{{Room: "r", Type: "chat.message"}}})
			if err == nil && cr.FirstSeq != 1 {
				err = fmt.Errorf("first seq %d", cr.FirstSeq)
			}
			return err
		}},
		{"history", func() error {
			ev, last, complete, err := st.History(ctx, "r", 0)
			if err == nil && (len(ev) != 1 || last != 1 || !complete) {
				err = fmt.Errorf("history %v %d %v", ev, last, complete)
			}
			return err
		}},
		{"snapshot", func() error { _, err := st.Snapshot(ctx, "r", "chat"); return err }},
		{"touch", func() error { return st.Touch(ctx, "c1") }},
		{"expired", func() error { _, err := st.Expired(ctx, 10); return err }},
		{"leave", func() error { _, _, err := st.Leave(ctx, "r", "c1"); return err }},
		{"unsubscribe", func() error { return st.Unsubscribe(ctx, "r") }},
		{"remove_conn", func() error { _, err := st.RemoveConn(ctx, "c1"); return err }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.op, err)
		}
	}
	vals := values(t, m.Registry())
	for _, s := range steps {
		if n := vals["classgate_store_operation_duration_seconds{op="+s.op+"}_count"]; n != 1 {
			t.Errorf("op %s timed %v times, want 1", s.op, n)
		}
	}
	if len(got) != 1 || got[0].Seq != 1 {
		t.Errorf("sink got %v, want the committed event", got)
	}
}
