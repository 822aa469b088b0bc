package redis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/core"
)

// counter is a stateful plugin for TestCachedSnapshot: count.add adds one
// to state n and emits it (refused when data.fail is set), count.once
// refuses a second call (state once), count.atleast3 refuses while n < 3,
// count.bump adds one to n and emits nothing — a write other nodes
// cannot see on the bus.
func counter() core.Handler {
	return core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
		if c.Hook != core.HookMessage {
			return nil, nil
		}
		n, _ := strconv.Atoi(string(c.State["n"]))
		var d struct{ Fail bool }
		_ = json.Unmarshal(c.Data, &d)
		switch c.Type {
		case "count.add":
			if d.Fail {
				return &core.Result{Reject: "refused on request"}, nil
			}
			v := []byte(strconv.Itoa(n + 1))
			return &core.Result{Ops: []core.StateOp{{Op: core.OpSet, Key: "n", Value: v}},
				Emits: []core.Emit{{Type: "count.added", Durable: true, Data: json.RawMessage(v)}}}, nil
		case "count.once":
			if c.State["once"] != nil {
				return &core.Result{Reject: "already done"}, nil
			}
			return &core.Result{Ops: []core.StateOp{{Op: core.OpSet, Key: "once", Value: []byte("1")}},
				Emits: []core.Emit{{Type: "count.done", Durable: true, Data: json.RawMessage(`{}`)}}}, nil
		case "count.atleast3":
			if n < 3 {
				return &core.Result{Reject: "below 3"}, nil
			}
			return &core.Result{Emits: []core.Emit{{Type: "count.seen", Durable: true, Data: json.RawMessage(`{}`)}}}, nil
		case "count.bump":
			return &core.Result{Ops: []core.StateOp{{Op: core.OpSet, Key: "n", Value: []byte(strconv.Itoa(n + 1))}}}, nil
		}
		return &core.Result{Reject: "unknown"}, nil
	})
}

// cnode is a router on its own Store (a gateway node) with connection
// "c" joined to room "r".
type cnode struct {
	r   *core.Router
	st  *redis.Store
	snd *ackSender
}

func newCNode(t *testing.T, srv *redistest.Server, prefix string) *cnode {
	t.Helper()
	ctx := context.Background()
	st, err := redis.New(ctx, redis.Options{Addr: srv.Addr(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	snd := &ackSender{frames: map[core.ConnID][]string{}}
	r, err := core.NewRouter(core.Options{Store: st, Sender: snd, RatePerSecond: -1, Plugins: core.StaticPlugins{"count": counter()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Connect(ctx, core.ConnInfo{ID: "c", User: core.User{ID: "u", Role: "student"}, Rooms: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Receive(ctx, "c", []byte(`{"type":"join","room":"r"}`)); err != nil {
		t.Fatal(err)
	}
	return &cnode{r: r, st: st, snd: snd}
}

// answer sends frame type typ with id and data and returns the answer to
// it: "ack <seq>" or "<error code>: <message>".
func (n *cnode) answer(t *testing.T, typ, id, data string) string {
	t.Helper()
	frame := fmt.Sprintf(`{"type":%q,"room":"r","id":%q,"data":%s}`, typ, id, data)
	if err := n.r.Receive(context.Background(), "c", []byte(frame)); err != nil {
		t.Fatal(err)
	}
	for _, raw := range n.snd.take("c") {
		var m struct {
			Type, ID, Code, Message string
			Seq                     uint64
		}
		_ = json.Unmarshal([]byte(raw), &m)
		if m.ID != id {
			continue
		}
		if m.Type == "ack" {
			return fmt.Sprintf("ack %d", m.Seq)
		}
		return m.Code + ": " + m.Message
	}
	t.Fatalf("%s %s: no answer", typ, id)
	return ""
}

// TestCachedSnapshot: on the standalone server a cnode answers the
// snapshot of a frame with an id from its cache (core.Snapshot.Cached, no
// round trip before the plugin); every promise the snapshot's dedupe
// lookup kept still holds, and a write by another node the cache could
// not see is not lost. Real Redis, two routers on one server (two nodes).
func TestCachedSnapshot(t *testing.T) {
	tests := []struct {
		name  string
		steps []struct{ node, typ, id, data, want string }
		n     string // state n at the end ("" when not checked)
	}{
		{name: "a retry of an acked frame gets its ack, applied once",
			steps: []struct{ node, typ, id, data, want string }{
				{"A", "count.add", "x", `{}`, "ack 1"},
				{"A", "count.add", "x", `{}`, "ack 1"},
				{"A", "count.add", "y", `{}`, "ack 2"},
			}, n: "2"},
		{name: "a retry of a refused frame gets the refusal, even when the plugin would now accept it",
			steps: []struct{ node, typ, id, data, want string }{
				{"A", "count.add", "w", `{}`, "ack 1"},
				{"A", "count.add", "x", `{"fail":true}`, "rejected: refused on request"},
				{"A", "count.add", "x", `{}`, "rejected: refused on request"},
			}, n: "1"},
		{name: "a retry the plugin refuses as a repeat gets the original ack",
			steps: []struct{ node, typ, id, data, want string }{
				{"A", "count.add", "w", `{}`, "ack 1"},
				{"A", "count.once", "o", `{}`, "ack 2"},
				{"A", "count.once", "o", `{}`, "ack 2"},
				{"A", "count.once", "o2", `{}`, "rejected: already done"},
			}},
		{name: "a state write by another node that no event announced is read, not overwritten",
			steps: []struct{ node, typ, id, data, want string }{
				{"A", "count.add", "a1", `{}`, "ack 1"},
				{"A", "count.add", "a2", `{}`, "ack 2"}, // A's cache is warm
				{"B", "count.bump", "b1", `{}`, "ack 0"},
				{"A", "count.add", "a3", `{}`, "ack 3"},
			}, n: "4"},
		{name: "a refusal decided on a cache that missed another node's write is decided again on a fresh read",
			steps: []struct{ node, typ, id, data, want string }{
				{"A", "count.add", "a1", `{}`, "ack 1"},
				{"A", "count.add", "a2", `{}`, "ack 2"},  // A's cache: n = 2
				{"B", "count.bump", "b1", `{}`, "ack 0"}, // n = 3, no event
				{"A", "count.atleast3", "a3", `{}`, "ack 3"},
				{"A", "count.atleast3", "a3", `{}`, "ack 3"},
			}, n: "3"},
		{name: "events of another node are seen before the cache is used",
			steps: []struct{ node, typ, id, data, want string }{
				{"A", "count.add", "a1", `{}`, "ack 1"},
				{"B", "count.add", "b1", `{}`, "ack 2"},
				{"B", "count.add", "b2", `{}`, "ack 3"},
				{"A", "count.add", "a2", `{}`, "ack 4"},
				{"A", "count.add", "a3", `{}`, "ack 5"},
			}, n: "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.StartServer(t)
			prefix := redistest.Prefix(t)
			nodes := map[string]*cnode{"A": newCNode(t, srv, prefix), "B": newCNode(t, srv, prefix)}
			for i, s := range tt.steps {
				if got := nodes[s.node].answer(t, s.typ, s.id, s.data); got != s.want {
					t.Fatalf("step %d (%s %s %s): %q, want %q", i, s.node, s.typ, s.id, got, s.want)
				}
			}
			if tt.n == "" {
				return
			}
			snap, err := nodes["A"].st.Snapshot(context.Background(), "r", "count")
			if err != nil {
				t.Fatal(err)
			}
			if got := string(snap.State["count"]["n"]); got != tt.n {
				t.Fatalf("state n = %q, want %q", got, tt.n)
			}
		})
	}
}
