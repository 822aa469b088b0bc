package core_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// gateBus is a memory store whose Bus calls can be held at a gate (a
// Redis SUBSCRIBE that takes its time) or failed, and are logged in the
// order they reach the store.
type gateBus struct {
	*memory.Store
	mu      sync.Mutex
	gates   map[string]chan struct{} // "sub r" / "unsub r": held until closed
	fail    map[string]error         // "sub r": fails once with this error
	entered chan string              // every call, as it reaches its gate
	log     []string
}

func newGateBus() *gateBus {
	return &gateBus{Store: memory.New(memory.Options{}), gates: map[string]chan struct{}{},
		fail: map[string]error{}, entered: make(chan string, 64)}
}

// hold makes the next calls of op (e.g. "sub r") wait until release.
func (g *gateBus) hold(op string) (release func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	g.gates[op] = ch
	g.mu.Unlock()
	return sync.OnceFunc(func() { close(ch) })
}

func (g *gateBus) pass(op string) error {
	g.entered <- op
	g.mu.Lock()
	ch := g.gates[op]
	g.mu.Unlock()
	if ch != nil {
		<-ch
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.fail[op]; err != nil {
		delete(g.fail, op)
		return err
	}
	g.log = append(g.log, op)
	return nil
}

func (g *gateBus) calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.log)
}

func (g *gateBus) Subscribe(ctx context.Context, room string) error {
	if err := g.pass("sub " + room); err != nil {
		return err
	}
	return g.Store.Subscribe(ctx, room)
}

func (g *gateBus) Unsubscribe(ctx context.Context, room string) error {
	if err := g.pass("unsub " + room); err != nil {
		return err
	}
	return g.Store.Unsubscribe(ctx, room)
}

// waitFor reads entered until op, failing the test if it never comes (a
// bound against hangs, not a timing assertion).
func waitFor(t *testing.T, g *gateBus, op string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case got := <-g.entered:
			if got == op {
				return
			}
		case <-deadline:
			t.Fatalf("%s never reached the store", op)
		}
	}
}

// await waits for done, failing the test if it never closes (a bound
// against hangs).
func await(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s never finished", what)
	}
}

func gateRouter(t *testing.T) (*core.Router, *gateBus, *recSender) {
	t.Helper()
	g := newGateBus()
	snd := newRec()
	r, err := core.NewRouter(core.Options{Store: g, Sender: snd, RatePerSecond: -1, Plugins: core.StaticPlugins{"board": &board{}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if err := r.Connect(context.Background(), core.ConnInfo{ID: core.ConnID(id), User: core.User{ID: id}, Rooms: []string{"*"}}); err != nil {
			t.Fatal(err)
		}
	}
	return r, g, snd
}

// goRecv sends a frame from another goroutine; done closes when it was
// handled.
func goRecv(t *testing.T, r *core.Router, id, frame string) (done chan struct{}) {
	done = make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Receive(context.Background(), core.ConnID(id), []byte(frame)); err != nil {
			t.Errorf("%s: %v", frame, err)
		}
	}()
	return done
}

// delivered checks that a draw of b in room reaches a through the Bus.
func delivered(t *testing.T, r *core.Router, snd *recSender, room string) {
	t.Helper()
	ctx := context.Background()
	must(t, r.Receive(ctx, "b", []byte(fmt.Sprintf(`{"type":"join","room":%q}`, room))))
	snd.take("a")
	must(t, r.Receive(ctx, "b", []byte(fmt.Sprintf(`{"type":"board.draw","room":%q,"data":{"id":"e"}}`, room))))
	if got := types(snd.take("a")); !strings.HasPrefix(got, "board.draw#") {
		t.Fatalf("a got %q from the room, want b's board.draw: the room lost its Bus subscription", got)
	}
}

// TestSlowSubscribeHoldsOnlyItsRoom: a SUBSCRIBE that takes its time
// (Redis far away, or reconnecting) holds up the joins of its own room
// only; joins of other rooms go on.
func TestSlowSubscribeHoldsOnlyItsRoom(t *testing.T) {
	r, g, snd := gateRouter(t)
	release := g.hold("sub slow")
	defer release()
	slow := goRecv(t, r, "a", `{"type":"join","room":"slow"}`)
	waitFor(t, g, "sub slow")
	fast := goRecv(t, r, "b", `{"type":"join","room":"fast"}`)
	await(t, fast, "a join of another room during a slow SUBSCRIBE")
	if got := types(snd.take("b")); !strings.HasPrefix(got, "joined") {
		t.Fatalf("b got %q", got)
	}
	release()
	await(t, slow, "the join whose SUBSCRIBE was slow")
	if got := types(snd.take("a")); !strings.HasPrefix(got, "joined") {
		t.Fatalf("a got %q", got)
	}
}

// TestRejoinWhileUnsubscribing: the last member leaves a room (its
// UNSUBSCRIBE is on the way) and joins again at once: the new SUBSCRIBE
// waits for the UNSUBSCRIBE, never the other way round, so the room keeps
// its subscription and its events arrive.
func TestRejoinWhileUnsubscribing(t *testing.T) {
	r, g, snd := gateRouter(t)
	ctx := context.Background()
	release := g.hold("unsub r")
	defer release()
	must(t, r.Receive(ctx, "a", []byte(`{"type":"join","room":"r"}`)))
	must(t, r.Receive(ctx, "a", []byte(`{"type":"leave","room":"r"}`)))
	waitFor(t, g, "unsub r")
	rejoin := goRecv(t, r, "a", `{"type":"join","room":"r"}`)
	// Let the re-join become a member again, then the UNSUBSCRIBE finish.
	for deadline := time.Now().Add(30 * time.Second); r.LocalRooms()["r"] == 0; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("the re-join never became a member")
		}
	}
	release()
	await(t, rejoin, "the re-join")
	if got, want := strings.Join(g.calls(), ", "), "sub r, unsub r, sub r"; got != want {
		t.Fatalf("Bus calls %q, want %q", got, want)
	}
	delivered(t, r, snd, "r")
}

// TestLastMemberLeavesDuringSubscribe: the only member disconnects while
// its join's SUBSCRIBE is on the way; the disconnect waits for the join,
// then the room is unsubscribed and forgotten.
func TestLastMemberLeavesDuringSubscribe(t *testing.T) {
	r, g, _ := gateRouter(t)
	release := g.hold("sub r")
	defer release()
	join := goRecv(t, r, "a", `{"type":"join","room":"r"}`)
	waitFor(t, g, "sub r")
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		if err := r.Disconnect(context.Background(), "a"); err != nil {
			t.Error(err)
		}
	}()
	release()
	await(t, join, "the join")
	await(t, gone, "the disconnect")
	waitFor(t, g, "unsub r")
	for deadline := time.Now().Add(30 * time.Second); len(g.calls()) < 2; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("UNSUBSCRIBE never completed")
		}
	}
	if got, want := strings.Join(g.calls(), ", "), "sub r, unsub r"; got != want {
		t.Fatalf("Bus calls %q, want %q", got, want)
	}
	if n := len(r.LocalRooms()); n != 0 || r.Joined("a", "r") {
		t.Fatalf("room kept after its last member left: %v", r.LocalRooms())
	}
}

// TestFailedSubscribeUndoesJoin: a join whose SUBSCRIBE fails is answered
// internal and undone; the next join subscribes again and gets the room's
// events.
func TestFailedSubscribeUndoesJoin(t *testing.T) {
	r, g, snd := gateRouter(t)
	ctx := context.Background()
	g.mu.Lock()
	g.fail["sub r"] = fmt.Errorf("test: %w", core.ErrUnavailable)
	g.mu.Unlock()
	must(t, r.Receive(ctx, "a", []byte(`{"type":"join","room":"r","id":"j"}`)))
	if got := snd.take("a"); len(got) != 1 || got[0]["code"] != "internal" || got[0]["id"] != "j" {
		t.Fatalf("join with a failed SUBSCRIBE answered %v, want one error internal", got)
	}
	if r.Joined("a", "r") {
		t.Fatal("a failed first join left a member")
	}
	must(t, r.Receive(ctx, "a", []byte(`{"type":"join","room":"r"}`)))
	if !slices.Contains(g.calls(), "sub r") {
		t.Fatalf("the second join did not subscribe: %q", g.calls())
	}
	delivered(t, r, snd, "r")
}

// alwaysConflict is a store on which every versioned commit loses a race.
type alwaysConflict struct {
	*memory.Store
	mu      sync.Mutex
	commits int
}

func (s *alwaysConflict) Commit(ctx context.Context, cm core.Commit) (core.CommitResult, error) {
	if cm.CheckVersion {
		s.mu.Lock()
		s.commits++
		s.mu.Unlock()
		return core.CommitResult{}, core.ErrConflict
	}
	return s.Store.Commit(ctx, cm)
}

// TestConflictBackoffHonoursContext: when the frame's context ends, the
// commit retries stop at once (the backoff between them waits on ctx)
// instead of sleeping through the remaining CommitRetries; the frame gets
// internal.
func TestConflictBackoffHonoursContext(t *testing.T) {
	modes(t, func(t *testing.T, direct bool) {
		st := &alwaysConflict{Store: memory.New(memory.Options{})}
		snd := newRec()
		r, err := core.NewRouter(core.Options{Store: st, Sender: snd, Direct: direct, RatePerSecond: -1,
			CommitRetries: 50, Plugins: core.StaticPlugins{"board": &board{}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		must(t, r.Connect(ctx, core.ConnInfo{ID: "a", User: core.User{ID: "a"}, Rooms: []string{"*"}}))
		must(t, r.Receive(ctx, "a", []byte(`{"type":"join","room":"r"}`)))
		snd.take("a")
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err = r.Receive(cctx, "a", []byte(`{"type":"board.draw","room":"r","id":"d","data":{"id":"e"}}`))
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		if got := snd.take("a"); len(got) != 1 || got[0]["code"] != "internal" {
			t.Fatalf("answered %v, want one error internal", got)
		}
		if st.commits != 1 {
			t.Fatalf("%d commits after the context ended, want 1", st.commits)
		}
	})
}

// TestHubForgetsEverything: after its connections joined, left and
// disconnected, a standalone node holds no connection, room or
// subscription entry, and every room it subscribed was unsubscribed.
func TestHubForgetsEverything(t *testing.T) {
	r, g, _ := gateRouter(t)
	ctx := context.Background()
	for _, f := range []struct{ id, frame string }{
		{"a", `{"type":"join","room":"r"}`}, {"b", `{"type":"join","room":"r"}`},
		{"a", `{"type":"join","room":"s"}`}, {"b", `{"type":"join","room":"t"}`},
		{"b", `{"type":"leave","room":"t"}`},
	} {
		must(t, r.Receive(ctx, core.ConnID(f.id), []byte(f.frame)))
	}
	must(t, r.Disconnect(ctx, "a"))
	must(t, r.Disconnect(ctx, "b"))
	// Unsubscribes run in the background: wait for all three.
	for deadline := time.Now().Add(30 * time.Second); ; runtime.Gosched() {
		n := 0
		for _, c := range g.calls() {
			if strings.HasPrefix(c, "unsub ") {
				n++
			}
		}
		if _, _, _, subs := core.HubSizes(r); n == 3 && subs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Bus calls %q: not every room was unsubscribed", g.calls())
		}
	}
	if conns, leaving, rooms, subs := core.HubSizes(r); conns+leaving+rooms+subs != 0 {
		t.Fatalf("hub holds %d connections, %d leaving, %d rooms, %d subscription entries; want none", conns, leaving, rooms, subs)
	}
}
