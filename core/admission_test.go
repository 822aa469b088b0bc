package core_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// gatedStore holds every Commit until open is closed, and tells started
// when the first one arrived.
type gatedStore struct {
	*memory.Store
	started chan struct{}
	once    sync.Once
	open    chan struct{}
}

func (g *gatedStore) Commit(ctx context.Context, cm core.Commit) (core.CommitResult, error) {
	g.once.Do(func() { close(g.started) })
	<-g.open
	return g.Store.Commit(ctx, cm)
}

// TestRoomBacklogBound: while a room's commit is stalled, at most
// core.MaxRoomBacklog frames of it are in progress; the frames past the
// bound are answered rate_limited at once (the senders are not blocked),
// nothing of them is applied, and once the store moves again every
// admitted frame is acked and delivered in seq order, and the room accepts
// frames again.
func TestRoomBacklogBound(t *testing.T) {
	st := &gatedStore{Store: memory.New(memory.Options{}), started: make(chan struct{}), open: make(chan struct{})}
	snd := newRec()
	h := core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
		if c.Hook != core.HookMessage {
			return nil, nil
		}
		return &core.Result{Emits: []core.Emit{{Type: "chat.message", Durable: true, Data: c.Data}}}, nil
	})
	r, err := core.NewRouter(core.Options{Store: st, Sender: snd, RatePerSecond: -1, Plugins: core.StaticPlugins{"chat": h}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const extra = 5
	n := core.MaxRoomBacklog + extra // senders in the flooded room
	conn := func(i int) core.ConnID { return core.ConnID(fmt.Sprint("c", i)) }
	for i := range n {
		if err := r.Connect(ctx, core.ConnInfo{ID: conn(i), User: core.User{ID: fmt.Sprint("u", i)}, Rooms: []string{"*"}}); err != nil {
			t.Fatal(err)
		}
		if err := r.Receive(ctx, conn(i), []byte(`{"type":"join","room":"flood"}`)); err != nil {
			t.Fatal(err)
		}
	}
	send := func(i int, room, id string) {
		if err := r.Receive(ctx, conn(i), []byte(fmt.Sprintf(`{"type":"chat.send","room":%q,"id":%q,"data":{"i":%d}}`, room, id, i))); err != nil {
			t.Error(err)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); send(0, "flood", "m") }() // holds the room, stalled in the store
	<-st.started
	// Every other sender at once: MaxRoomBacklog-1 queue behind the first,
	// the rest are refused without waiting.
	refusedNow := make(chan core.ConnID, n)
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			send(i, "flood", "m")
		}()
	}
	deadline := time.After(10 * time.Second)
	refused := map[core.ConnID]bool{}
	for len(refused) < extra {
		select {
		case <-deadline:
			t.Fatalf("%d frames refused while the room was stalled, want %d", len(refused), extra)
		case <-time.After(10 * time.Millisecond):
		}
		for i := range n {
			for _, f := range snd.take(conn(i)) {
				if f["type"] == "error" {
					if f["code"] != "rate_limited" || f["id"] != "m" {
						t.Fatalf("conn %d got %v, want rate_limited for id m", i, f)
					}
					refused[conn(i)] = true
					refusedNow <- conn(i)
				}
			}
		}
	}
	close(st.open)
	wg.Wait()
	acked := 0
	var seqs []float64
	for i := range n {
		for _, f := range snd.take(conn(i)) {
			switch f["type"] {
			case "ack":
				acked++
			case "error":
				t.Fatalf("conn %d got %v after the store moved again", i, f)
			case "chat.message":
				if i == 0 {
					seqs = append(seqs, f["seq"].(float64))
				}
			}
		}
	}
	if acked != core.MaxRoomBacklog || len(refused) != extra {
		t.Fatalf("%d acked and %d refused of %d frames, want %d and %d", acked, len(refused), n, core.MaxRoomBacklog, extra)
	}
	for i, s := range seqs {
		if s != float64(i+1) {
			t.Fatalf("member 0 got seqs %v, want 1..%d in order", seqs, core.MaxRoomBacklog)
		}
	}
	if len(seqs) != core.MaxRoomBacklog {
		t.Fatalf("member 0 got %d events, want one per acked frame (%d)", len(seqs), core.MaxRoomBacklog)
	}
	// A refused sender's retry (same id) is accepted now.
	id := <-refusedNow
	var i int
	fmt.Sscanf(string(id), "c%d", &i)
	send(i, "flood", "m")
	fs := snd.take(id)
	if len(fs) == 0 || fs[len(fs)-1]["type"] != "ack" || fs[len(fs)-1]["seq"] != float64(core.MaxRoomBacklog+1) {
		t.Fatalf("retry after the stall: %v, want ack with seq %d", fs, core.MaxRoomBacklog+1)
	}
}

// TestRoomBacklogShedsNoIDFirst: frames without an id (fire and forget,
// e.g. cursor moves) are shed at core.MaxRoomBacklogNoID, while frames with
// an id are still admitted up to core.MaxRoomBacklog.
func TestRoomBacklogShedsNoIDFirst(t *testing.T) {
	st := &gatedStore{Store: memory.New(memory.Options{}), started: make(chan struct{}), open: make(chan struct{})}
	snd := newRec()
	h := core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
		if c.Hook != core.HookMessage {
			return nil, nil
		}
		return &core.Result{Emits: []core.Emit{{Type: "chat.message", Durable: true, Data: c.Data}}}, nil
	})
	r, err := core.NewRouter(core.Options{Store: st, Sender: snd, RatePerSecond: -1, Plugins: core.StaticPlugins{"chat": h}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const extra = 3
	noID := core.MaxRoomBacklogNoID - 1 + extra // besides the holder
	n := 1 + noID + 1                           // holder, frames without id, one with id
	conn := func(i int) core.ConnID { return core.ConnID(fmt.Sprint("c", i)) }
	for i := range n {
		if err := r.Connect(ctx, core.ConnInfo{ID: conn(i), User: core.User{ID: fmt.Sprint("u", i)}, Rooms: []string{"*"}}); err != nil {
			t.Fatal(err)
		}
		if err := r.Receive(ctx, conn(i), []byte(`{"type":"join","room":"flood"}`)); err != nil {
			t.Fatal(err)
		}
		snd.take(conn(i))
	}
	var wg sync.WaitGroup
	send := func(i int, frame string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Receive(ctx, conn(i), []byte(frame)); err != nil {
				t.Error(err)
			}
		}()
	}
	send(0, `{"type":"chat.send","room":"flood","id":"hold","data":{}}`)
	<-st.started
	for i := 1; i <= noID; i++ {
		send(i, `{"type":"chat.cursor","room":"flood","data":{}}`)
	}
	refusedFrom := func() map[core.ConnID]bool {
		out := map[core.ConnID]bool{}
		for i := range n {
			snd.mu.Lock()
			for _, f := range snd.frames[conn(i)] {
				if f["type"] == "error" && f["code"] == "rate_limited" {
					out[conn(i)] = true
				}
			}
			snd.mu.Unlock()
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(refusedFrom()) < extra && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := len(refusedFrom()); got != extra {
		t.Fatalf("%d of %d frames without id refused while the room was stalled, want %d", got, noID, extra)
	}
	// The room is at MaxRoomBacklogNoID: a frame with an id still queues.
	send(n-1, `{"type":"chat.send","room":"flood","id":"m","data":{}}`)
	close(st.open)
	wg.Wait()
	if got := len(refusedFrom()); got != extra {
		t.Fatalf("%d frames refused in all, want %d (the frame with an id must not be)", got, extra)
	}
	fs := snd.take(conn(n - 1))
	acked := false
	for _, f := range fs {
		acked = acked || (f["type"] == "ack" && f["id"] == "m")
	}
	if !acked {
		t.Fatalf("the frame with an id sent past the no-id bound was not acked: %v", fs)
	}
}

// TestDocsQuoteRoomBacklog: the protocol and the performance notes state
// the room backlog bound with its value from the code.
func TestDocsQuoteRoomBacklog(t *testing.T) {
	for _, want := range []string{
		fmt.Sprintf("`core.MaxRoomBacklog` (%d)", core.MaxRoomBacklog),
		fmt.Sprintf("`core.MaxRoomBacklogNoID` (%d)", core.MaxRoomBacklogNoID),
	} {
		for _, doc := range []string{"../docs/PROTOCOL.md", "../docs/PERFORMANCE.md"} {
			b, err := os.ReadFile(doc)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), want) {
				t.Errorf("%s does not state %s", doc, want)
			}
		}
	}
}
