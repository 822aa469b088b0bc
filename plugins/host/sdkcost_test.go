package host

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/classgate/classgate/core"
)

// callCounter counts the guest's function calls (a wazero function
// listener on every function the module defines; wazero does not report
// the calls into imports, the host's work).
type callCounter struct{ n atomic.Int64 }

func (c *callCounter) NewFunctionListener(api.FunctionDefinition) experimental.FunctionListener {
	return experimental.FunctionListenerFunc(func(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
		c.n.Add(1)
	})
}

// TestSDKPathWithinTwiceChat is issue L's "the SDK's common path within 2×
// of the hand-tuned chat plugin" as a check that a loaded machine cannot
// fool: instead of timing, it counts the guest's work — the wasm function
// calls it makes — for poll.vote (the example
// plugin written with the SDK in the style plugins/README.md recommends:
// parse a field, read state, set it, broadcast) and for chat.send (the
// reference), with the inputs of BenchmarkPollVote and BenchmarkChatSend.
// Both counts are exact for a given build: the guest is single-threaded
// and gets the same input every call. Each call through the compiled Go
// guest pays a termination check and a dispatch per function call, so the
// count follows the guest's CPU time (plugins/README.md, "Benchmarks").
func TestSDKPathWithinTwiceChat(t *testing.T) {
	count := func(ns string, mk func(i int) *core.Call) float64 {
		t.Helper()
		cc := &callCounter{}
		ctx := experimental.WithFunctionListenerFactory(context.Background(), cc)
		// CacheDir "": compiled in memory, with the listener.
		h, err := New(ctx, one(ns, Plugin{Source: wasmPath(ns), PoolSize: 1}), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(context.Background())
		hd := h.Handler("r1", ns)
		call := func(i int) {
			res, err := hd.Handle(context.Background(), mk(i))
			if err != nil || res.Reject != "" || len(res.Emits) != 1 {
				t.Fatalf("%s call %d: %+v %v", ns, i, res, err)
			}
		}
		for i := 0; i < 100; i++ { // warm: the first calls fill the guest's caches
			call(i)
		}
		const n = 500
		n0 := cc.n.Load()
		for i := 100; i < 100+n; i++ {
			call(i)
		}
		return float64(cc.n.Load()-n0) / n
	}
	chatSt := chatState()
	chatD := count("chat", func(int) *core.Call {
		return &core.Call{Hook: core.HookMessage, Type: "chat.send", Room: "r1", Conn: "c1", Seq: 60, State: chatSt,
			Sender: core.User{ID: "u1", Name: "Ann", Role: "teacher"}, Data: json.RawMessage(`{"text":"  hello everyone, page 42 please  "}`)}
	})
	pollSt := map[string][]byte{"p": []byte(`{"question":"Q","options":["a","b","c"]}`), "o": []byte("1"), "t": []byte("10,20,30")}
	pollD := count("poll", func(i int) *core.Call {
		return &core.Call{Hook: core.HookMessage, Type: "poll.vote", Room: "r1", Conn: "c1", State: pollSt,
			Sender: core.User{ID: "u" + strconv.Itoa(i), Role: "student"}, Data: json.RawMessage(`{"choice":1}`)}
	})
	ratio := pollD / chatD
	t.Logf("guest function calls per call: chat.send %.1f, poll.vote %.1f; ratio %.2f", chatD, pollD, ratio)
	if chatD == 0 || pollD == 0 {
		t.Fatal("the listener counted nothing")
	}
	if ratio > 2 {
		t.Fatalf("poll.vote makes %.2f× the guest function calls of chat.send, want at most 2×", ratio)
	}
}
