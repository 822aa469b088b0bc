package redis_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/jwt"
	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/adapters/wsserver"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/internal/e2e"
)

// TestRoomBacklogRealClients: the overload policy seen by real WebSocket
// clients of the standalone server on a real Redis. While Redis holds the
// room's writes (CLIENT PAUSE WRITE: a stalled store), 69 members send one
// chat message each at once; exactly core.MaxRoomBacklog of them are
// admitted (they wait), the others are answered rate_limited with their id
// at once. When Redis moves again every admitted message is acked, and a
// member that only reads receives each of them once, in seq order; a
// refused message's retry (same id) is acked after them. Nothing acked is
// lost and nothing refused was applied.
func TestRoomBacklogRealClients(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t)
	// A long op_timeout: the stall is the test's, not a failure.
	st, err := redis.New(ctx, redis.Options{Addr: srv.Addr(), Prefix: redistest.Prefix(t), OpTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	secret := []byte("overload-secret-0123456789abcdefghij")
	v, err := jwt.New(jwt.Options{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ws := wsserver.New(wsserver.Options{Verifier: v})
	chat := core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
		if c.Hook != core.HookMessage {
			return nil, nil
		}
		return &core.Result{Emits: []core.Emit{{Type: "chat.message", Durable: true, Data: c.Data}}}, nil
	})
	r, err := core.NewRouter(core.Options{Store: st, Sender: ws, RatePerSecond: -1, Plugins: core.StaticPlugins{"chat": chat}})
	if err != nil {
		t.Fatal(err)
	}
	ws.Attach(r)
	mux := http.NewServeMux()
	mux.Handle("/ws", ws)
	hs := httptest.NewServer(mux)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ws.Shutdown(sctx)
		hs.Close()
	}()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"

	const extra = 5
	n := core.MaxRoomBacklog + extra
	dial := func(user string) *e2e.Client {
		c := e2e.Dial(t, url, e2e.Token(t, secret, user, "student", []string{"*"}, time.Hour))
		t.Cleanup(c.Release)
		c.Join("flood", -1)
		return c
	}
	reader := dial("reader")
	senders := make([]*e2e.Client, n)
	for i := range senders {
		senders[i] = dial(fmt.Sprint("s", i))
	}

	srv.MustDo("CLIENT", "PAUSE", "600000", "WRITE")
	paused := true
	defer func() {
		if paused {
			_, _ = srv.Do("CLIENT", "UNPAUSE")
		}
	}()
	for i, c := range senders {
		c.Send(map[string]any{"type": "chat.send", "room": "flood", "id": "m", "data": map[string]int{"i": i}})
	}
	// The refusals come while Redis is still paused: they do not wait
	// for it. (The admitted frames cannot be answered before UNPAUSE, so
	// polling longer changes nothing but the bound of a stuck test.)
	answers := make([]e2e.Msg, n)
	var refused []int
	for deadline := time.Now().Add(30 * time.Second); len(refused) < extra && time.Now().Before(deadline); {
		for i, c := range senders {
			if answers[i].Type != "" {
				continue
			}
			if m, ok := c.TryNext(10 * time.Millisecond); ok {
				answers[i] = m
				refused = append(refused, i)
			}
		}
	}
	if len(refused) != extra {
		t.Fatalf("%d frames answered while the room's store was stalled, want %d refused", len(refused), extra)
	}
	for _, i := range refused {
		if m := answers[i]; m.Type != "error" || m.Code != "rate_limited" || m.ID != "m" {
			t.Fatalf("sender %d got %s while the store was stalled, want error rate_limited for id m", i, m.Raw)
		}
	}

	srv.MustDo("CLIENT", "UNPAUSE")
	paused = false
	isRefused := map[int]bool{}
	for _, i := range refused {
		isRefused[i] = true
	}
	for i, c := range senders {
		if isRefused[i] {
			continue
		}
		if m := c.ExpectReply("m"); m.Type != "ack" || m.Seq == 0 {
			t.Fatalf("sender %d: %s, want ack", i, m.Raw)
		}
	}
	for k := 1; k <= core.MaxRoomBacklog; k++ {
		m := reader.ExpectType("chat.message")
		if m.Seq != uint64(k) {
			t.Fatalf("reader got seq %d as event %d, want %d", m.Seq, k, k)
		}
	}
	retry := senders[refused[0]]
	retry.Send(map[string]any{"type": "chat.send", "room": "flood", "id": "m", "data": map[string]int{"i": refused[0]}})
	if m := retry.ExpectReply("m"); m.Type != "ack" || m.Seq != core.MaxRoomBacklog+1 {
		t.Fatalf("retry of a refused message: %s, want ack with seq %d", m.Raw, core.MaxRoomBacklog+1)
	}
	if m := reader.ExpectType("chat.message"); m.Seq != core.MaxRoomBacklog+1 {
		t.Fatalf("reader got seq %d for the retry, want %d", m.Seq, core.MaxRoomBacklog+1)
	}
}
