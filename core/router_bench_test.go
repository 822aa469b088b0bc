package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// countSender discards frames, counting them.
type countSender struct{ n atomic.Int64 }

func (s *countSender) Send(context.Context, core.ConnID, []byte) error { s.n.Add(1); return nil }
func (s *countSender) Close(context.Context, core.ConnID, int, string) error {
	return nil
}

func echoChat() core.Handler {
	return core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
		if c.Hook != core.HookMessage {
			return nil, nil
		}
		return &core.Result{Emits: []core.Emit{{Type: "chat.message", Data: c.Data, Durable: true}}}, nil
	})
}

// BenchmarkRouterFanout30 sends one chat-sized message through the router
// (parse, plugin call, commit with seq and history, dedupe id, fan-out)
// to a room of 30 members.
func BenchmarkRouterFanout30(b *testing.B) {
	ctx := context.Background()
	snd := &countSender{}
	r, err := core.NewRouter(core.Options{Store: memory.New(memory.Options{}), Sender: snd,
		Plugins: core.StaticPlugins{"chat": echoChat()}, RatePerSecond: -1})
	if err != nil {
		b.Fatal(err)
	}
	joinMembers(b, r, 30)
	text, _ := json.Marshal(map[string]any{"text": "Could you explain the second step of the proof again, please?"})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		frame := fmt.Appendf(nil, `{"type":"chat.send","room":"r","id":"m%d","data":%s}`, i, text)
		if err := r.Receive(ctx, "c0", frame); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := snd.n.Load(); got < int64(b.N)*31 {
		b.Fatalf("sent %d frames for %d messages, want ≥ 31 each (30 deliveries + ack)", got, b.N)
	}
}

// BenchmarkRouterCursorBigBoard sends an ephemeral cursor move through the
// router in a room whose whiteboard holds 2,000 elements: the handler gets
// a snapshot of that state (the memory store shares it instead of copying)
// and emits to the others, changing no state.
func BenchmarkRouterCursorBigBoard(b *testing.B) {
	ctx := context.Background()
	st := memory.New(memory.Options{})
	wb := core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
		if c.Hook != core.HookMessage {
			return nil, nil
		}
		return &core.Result{Emits: []core.Emit{{Type: "whiteboard.cursor", Data: c.Data, To: core.Target{Kind: core.TargetOthers, Conn: c.Conn}}}}, nil
	})
	r, err := core.NewRouter(core.Options{Store: st, Sender: &countSender{}, Plugins: core.StaticPlugins{"whiteboard": wb}, RatePerSecond: -1})
	if err != nil {
		b.Fatal(err)
	}
	ops := make([]core.StateOp, 2000)
	for i := range ops {
		ops[i] = core.StateOp{Op: core.OpSet, Key: fmt.Sprint("e:", i), Value: []byte(`{"kind":"stroke","points":[[1,2],[3,4]]}`)}
	}
	if _, err := st.Commit(ctx, core.Commit{Room: "r", Namespace: "whiteboard", Ops: ops}); err != nil {
		b.Fatal(err)
	}
	joinMembers(b, r, 30)
	frame := []byte(`{"type":"whiteboard.cursor","room":"r","data":{"x":10,"y":20}}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.Receive(ctx, "c0", frame); err != nil {
			b.Fatal(err)
		}
	}
}

// joinMembers connects n members c0…c(n-1) and joins them to room "r".
func joinMembers(b *testing.B, r *core.Router, n int) {
	b.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		id := core.ConnID(fmt.Sprint("c", i))
		if err := r.Connect(ctx, core.ConnInfo{ID: id, User: core.User{ID: fmt.Sprint("u", i)}, Rooms: []string{"*"}, Expires: time.Now().Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		if err := r.Receive(ctx, id, []byte(`{"type":"join","room":"r"}`)); err != nil {
			b.Fatal(err)
		}
	}
}
