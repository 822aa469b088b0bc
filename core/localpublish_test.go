package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// heldBus is a memory store whose Bus holds every event until the test
// releases it: a Bus that lags the commit, as Redis pub/sub does.
type heldBus struct {
	*memory.Store
	mu   sync.Mutex
	held []core.Event
	sink func(core.Event)
}

func newHeldBus() *heldBus {
	b := &heldBus{Store: memory.New(memory.Options{})}
	b.Store.SetSink(func(e core.Event) {
		b.mu.Lock()
		b.held = append(b.held, e)
		b.mu.Unlock()
	})
	return b
}

func (b *heldBus) SetSink(f func(core.Event)) { b.sink = f }

// release hands the first n held events to the router, in order (n < 0:
// all); it returns how many it released.
func (b *heldBus) release(n int) int {
	b.mu.Lock()
	if n < 0 || n > len(b.held) {
		n = len(b.held)
	}
	out := append([]core.Event(nil), b.held[:n]...)
	b.held = b.held[n:]
	b.mu.Unlock()
	for _, e := range out {
		b.sink(e)
	}
	return n
}

// chatLike makes every message a durable event of the room.
func chatLike() core.Handler {
	return core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
		if c.Hook != core.HookMessage {
			return nil, nil
		}
		if c.Type == "chat.typing" {
			return &core.Result{Emits: []core.Emit{{Type: "chat.typing", Data: c.Data}}}, nil
		}
		return &core.Result{Emits: []core.Emit{{Type: "chat.message", Durable: true, Data: c.Data}}}, nil
	})
}

func newHeldRouter(t *testing.T) (*core.Router, *heldBus, *recSender) {
	t.Helper()
	snd := newRec()
	r, st := heldRouter(t, snd, nil, "a", "b")
	return r, st, snd
}

// heldRouter is a router on a heldBus store sending to snd and reporting
// to obs (nil: none), with the connections ids joined to room "r" (their
// frames so far taken).
func heldRouter(t *testing.T, snd interface {
	core.Sender
	take(core.ConnID) []map[string]any
}, obs core.Observer, ids ...string) (*core.Router, *heldBus) {
	t.Helper()
	st := newHeldBus()
	r, err := core.NewRouter(core.Options{Store: st, Sender: snd, Observer: obs, RatePerSecond: -1, Plugins: core.StaticPlugins{"chat": chatLike()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range ids {
		must(t, r.Connect(ctx, core.ConnInfo{ID: core.ConnID(id), User: core.User{ID: id}, Rooms: []string{"*"}}))
		must(t, r.Receive(ctx, core.ConnID(id), []byte(`{"type":"join","room":"r"}`)))
		snd.take(core.ConnID(id))
	}
	return r, st
}

// otherNode commits a durable event to the room as another node would:
// straight to the store, so this node learns of it only from the Bus.
func otherNode(t *testing.T, st *heldBus, n int) {
	ev := core.Event{Room: "r", Type: "chat.message", TS: 1, From: &core.User{ID: "z"}, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
	if _, err := st.Store.Commit(context.Background(), core.Commit{Room: "r", Namespace: "chat", Durable: []core.Event{ev}}); err != nil {
		t.Error(err)
	}
}

// TestLocalCommitDeliveredBeforeBus: the members on the node that
// committed get the event from the commit, before the Bus brings it, and
// not a second time when it does.
func TestLocalCommitDeliveredBeforeBus(t *testing.T) {
	r, st, snd := newHeldRouter(t)
	must(t, r.Receive(context.Background(), "a", []byte(`{"type":"chat.send","room":"r","id":"m1","data":{}}`)))
	if got := types(snd.take("b")); got != "chat.message#1" {
		t.Fatalf("before the Bus, b got %q; want chat.message#1", got)
	}
	if got := types(snd.take("a")); got != "chat.message#1 ack" {
		t.Fatalf("before the Bus, a got %q; want chat.message#1 ack", got)
	}
	if n := st.release(-1); n != 1 {
		t.Fatalf("the Bus held %d events; want 1 (it still carries every event)", n)
	}
	for _, id := range []core.ConnID{"a", "b"} {
		if got := types(snd.take(id)); got != "" {
			t.Fatalf("after the Bus, %s got %q again", id, got)
		}
	}
}

// TestLocalCommitWaitsForOtherNode: an event of another node's commit,
// still on its way through the Bus, is not overtaken by this node's next
// one: the members get both from the Bus, in seq order, once.
func TestLocalCommitWaitsForOtherNode(t *testing.T) {
	r, st, snd := newHeldRouter(t)
	otherNode(t, st, 1) // seq 1, held in the Bus
	must(t, r.Receive(context.Background(), "a", []byte(`{"type":"chat.send","room":"r","id":"m2","data":{}}`)))
	if got := types(snd.take("b")); got != "" {
		t.Fatalf("with seq 1 still in the Bus, b got %q; want nothing (no gap)", got)
	}
	st.release(-1)
	if got := types(snd.take("b")); got != "chat.message#1 chat.message#2" {
		t.Fatalf("after the Bus, b got %q; want chat.message#1 chat.message#2", got)
	}
	// Caught up: the next local commit is delivered at once again.
	must(t, r.Receive(context.Background(), "a", []byte(`{"type":"chat.send","room":"r","id":"m3","data":{}}`)))
	if got := types(snd.take("b")); got != "chat.message#3" {
		t.Fatalf("b got %q; want chat.message#3", got)
	}
}

// deliveryLog records Observer.Delivered: deliveries per event type and
// the events whose latency was reported (tsMillis > 0).
type deliveryLog struct {
	core.NopObserver
	mu    sync.Mutex
	n     map[string]int
	timed int
}

func (o *deliveryLog) Delivered(typ string, n int, ts int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[typ] += n
	if ts > 0 {
		o.timed++
	}
}

// TestSplitDeliveryTimedOnce: an event that reaches some members from the
// commit and the others from the Bus counts every delivery once and has
// its fan-out latency observed once.
func TestSplitDeliveryTimedOnce(t *testing.T) {
	ctx := context.Background()
	snd, obs := newRec(), &deliveryLog{}
	r, st := heldRouter(t, snd, obs, "a", "b")
	otherNode(t, st, 1) // seq 1, still in the Bus
	// c joins after it: the join's replay gives c seq 1 from the store,
	// so c's next seq is 2 while a's and b's is still 1.
	must(t, r.Connect(ctx, core.ConnInfo{ID: "c", User: core.User{ID: "c"}, Rooms: []string{"*"}}))
	must(t, r.Receive(ctx, "c", []byte(`{"type":"join","room":"r","since":0}`)))
	snd.take("c")
	must(t, r.Receive(ctx, "a", []byte(`{"type":"chat.send","room":"r","id":"m2","data":{}}`)))
	if got := types(snd.take("c")); got != "chat.message#2" {
		t.Fatalf("from the commit, c got %q; want chat.message#2", got)
	}
	if got := types(snd.take("a")); got != "ack" {
		t.Fatalf("before the Bus, a got %q; want only its ack (seq 1 first)", got)
	}
	st.release(-1)
	for _, id := range []core.ConnID{"a", "b"} {
		if got := types(snd.take(id)); got != "chat.message#1 chat.message#2" {
			t.Fatalf("from the Bus, %s got %q; want chat.message#1 chat.message#2", id, got)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if got := obs.n["chat.message"]; got != 5 {
		t.Fatalf("%d chat.message deliveries counted; want 5 (seq 1 to a and b, seq 2 to a, b and c)", got)
	}
	if obs.timed != 2 {
		t.Fatalf("fan-out latency observed %d times; want 2 (once per event, seq 2 split in two parts)", obs.timed)
	}
}

// TestSplitDeliveryBound: with a Bus that stops delivering, the seqs kept
// to time two-part deliveries once stay bounded per room (MaxParts), and
// the Bus's copies, once it delivers again, clear them.
func TestSplitDeliveryBound(t *testing.T) {
	ctx := context.Background()
	snd := newRec()
	r, st := heldRouter(t, snd, nil, "a", "b")
	for i := range core.MaxParts + 100 {
		must(t, r.Receive(ctx, "a", []byte(fmt.Sprintf(`{"type":"chat.send","room":"r","id":"m%d","data":{}}`, i))))
	}
	if n := core.RoomParts(r, "r"); n != core.MaxParts {
		t.Fatalf("%d seqs kept with the Bus stopped; want the bound, %d", n, core.MaxParts)
	}
	st.release(-1)
	if n := core.RoomParts(r, "r"); n != 0 {
		t.Fatalf("%d seqs kept after the Bus delivered every copy; want 0", n)
	}
	if got := len(snd.take("b")); got != core.MaxParts+100 {
		t.Fatalf("b got %d frames; want %d, each once", got, core.MaxParts+100)
	}
}

// TestLocalAndBusDeliveriesInterleaved: local commits, another node's
// commits and the Bus's deliveries race; every member still gets every
// seq exactly once, in order.
func TestLocalAndBusDeliveriesInterleaved(t *testing.T) {
	r, st, snd := newHeldRouter(t)
	const local, remote = 200, 100
	var senders, releaser sync.WaitGroup
	done := make(chan struct{})
	senders.Add(2)
	go func() {
		defer senders.Done()
		for i := range local {
			if err := r.Receive(context.Background(), "a", []byte(fmt.Sprintf(`{"type":"chat.send","room":"r","id":"l%d","data":{}}`, i))); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer senders.Done()
		for i := range remote {
			otherNode(t, st, i)
			time.Sleep(time.Duration(rand.IntN(100)) * time.Microsecond)
		}
	}()
	releaser.Add(1)
	go func() {
		defer releaser.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			st.release(rand.IntN(4))
			time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
		}
	}()
	senders.Wait()
	close(done)
	releaser.Wait()
	st.release(-1)
	for _, id := range []core.ConnID{"a", "b"} {
		var want uint64 = 1
		for _, f := range snd.take(id) {
			if f["type"] != "chat.message" {
				continue
			}
			if got := uint64(f["seq"].(float64)); got != want {
				t.Fatalf("%s: got seq %d; want %d (each seq once, in order)", id, got, want)
			}
			want++
		}
		if want-1 != local+remote {
			t.Fatalf("%s got %d events; want %d", id, want-1, local+remote)
		}
	}
}

// TestLocalCommitWaitsForLocalEphemeral: a durable event does not overtake
// an ephemeral event the same node committed before it (a typing
// indicator after the message it announced).
func TestLocalCommitWaitsForLocalEphemeral(t *testing.T) {
	r, st, snd := newHeldRouter(t)
	ctx := context.Background()
	must(t, r.Receive(ctx, "a", []byte(`{"type":"chat.typing","room":"r","data":{}}`)))
	must(t, r.Receive(ctx, "a", []byte(`{"type":"chat.send","room":"r","id":"m1","data":{}}`)))
	if got := types(snd.take("b")); got != "" {
		t.Fatalf("with the typing event still in the Bus, b got %q; want nothing", got)
	}
	st.release(-1)
	if got := types(snd.take("b")); got != "chat.typing chat.message#1" {
		t.Fatalf("b got %q; want chat.typing chat.message#1", got)
	}
	// The Bus has gone past the typing event: local delivery again.
	must(t, r.Receive(ctx, "a", []byte(`{"type":"chat.send","room":"r","id":"m2","data":{}}`)))
	if got := types(snd.take("b")); got != "chat.message#2" {
		t.Fatalf("b got %q; want chat.message#2", got)
	}
}

// gateSender is a recSender whose first Send waits until the gate opens.
type gateSender struct {
	*recSender
	armed   atomic.Bool   // the next Send waits
	blocked chan struct{} // closed when it waits
	gate    chan struct{}
}

// arm makes the next Send wait for the gate.
func (s *gateSender) arm() {
	s.blocked, s.gate = make(chan struct{}), make(chan struct{})
	s.armed.Store(true)
}

func (s *gateSender) Send(ctx context.Context, id core.ConnID, b []byte) error {
	if s.armed.CompareAndSwap(true, false) {
		close(s.blocked)
		<-s.gate
	}
	return s.recSender.Send(ctx, id, b)
}

// TestRejoinAfterQueuedDeliveries: frames decided for a member before it
// joins again (queued behind a write in progress) go out before the new
// join's joined frame, never after it.
func TestRejoinAfterQueuedDeliveries(t *testing.T) {
	snd := &gateSender{recSender: newRec()}
	r, st := heldRouter(t, snd, nil, "a", "x")
	ctx := context.Background()
	snd.arm()

	otherNode(t, st, 1) // seq 1, from the Bus
	go st.release(-1)   // its writer waits at the gate
	<-snd.blocked
	// seq 2, committed here: decided for x, queued behind seq 1's write.
	must(t, r.Receive(ctx, "a", []byte(`{"type":"chat.send","room":"r","id":"m1","data":{}}`)))
	joined := make(chan struct{})
	go func() {
		defer close(joined)
		if err := r.Receive(ctx, "x", []byte(`{"type":"join","room":"r","since":0}`)); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-joined:
	case <-time.After(100 * time.Millisecond):
	}
	close(snd.gate)
	<-joined
	var seqs []string
	for _, f := range snd.take("x") {
		switch f["type"] {
		case "joined":
			seqs = append(seqs, "joined")
		case "chat.message":
			seqs = append(seqs, fmt.Sprint(f["seq"]))
		}
	}
	if got := fmt.Sprint(seqs); got != "[1 2 joined 1 2]" {
		t.Fatalf("x got %s; want [1 2 joined 1 2] (live 1 and 2, then the re-join's replay; nothing old after joined)", got)
	}
}
