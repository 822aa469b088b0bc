package memory_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// clock is a settable clock for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const age = time.Hour

func newStore(clk *clock) *memory.Store {
	return memory.New(memory.Options{HistoryAge: age, LivenessTTL: time.Hour, Now: clk.Now})
}

// visit is one short-lived use of a room: a connection joins it (the
// router subscribes first), does something, leaves, and the router
// unsubscribes.
func visit(t testing.TB, s *memory.Store, room string, id core.ConnID, during func()) {
	t.Helper()
	ctx := context.Background()
	ci := core.ConnInfo{ID: id, User: core.User{ID: "u-" + string(id), Role: "student"}}
	must(t, s.AddConn(ctx, ci))
	must(t, s.Subscribe(ctx, room))
	if _, err := s.Join(ctx, room, ci); err != nil {
		t.Fatal(err)
	}
	if during != nil {
		during()
	}
	if _, err := s.RemoveConn(ctx, id); err != nil {
		t.Fatal(err)
	}
	must(t, s.Unsubscribe(ctx, room))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func commit(t testing.TB, s *memory.Store, cm core.Commit) core.CommitResult {
	t.Helper()
	res, err := s.Commit(context.Background(), cm)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func event(room string) core.Event { return core.Event{Room: room, Type: "chat.message"} }

// sweep runs the periodic sweep (it runs with Expired).
func sweep(t testing.TB, s *memory.Store) {
	t.Helper()
	if _, err := s.Expired(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
}

// TestRoomsFreed: a room is freed exactly when nothing about it can be
// observed any more — no members, no subscription, no history inside the
// age limit, no state, no dedupe entry inside its window — and a freed
// room starts over at seq 0 with a since from before answered by resync.
func TestRoomsFreed(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// use leaves the room behind; wait is how long the clock then
		// moves before the sweep.
		use  func(t *testing.T, s *memory.Store)
		wait time.Duration
		kept bool
	}{
		{"join and leave", func(t *testing.T, s *memory.Store) { visit(t, s, "r", "c1", nil) }, 0, false},
		{"history inside the age limit", func(t *testing.T, s *memory.Store) {
			visit(t, s, "r", "c1", func() { commit(t, s, core.Commit{Room: "r", Durable: []core.Event{event("r")}}) })
		}, age - time.Second, true},
		{"history aged out", func(t *testing.T, s *memory.Store) {
			visit(t, s, "r", "c1", func() { commit(t, s, core.Commit{Room: "r", Durable: []core.Event{event("r")}}) })
		}, age + time.Second, false},
		{"state is kept however old", func(t *testing.T, s *memory.Store) {
			visit(t, s, "r", "c1", func() {
				commit(t, s, core.Commit{Room: "r", Namespace: "wb", Ops: []core.StateOp{{Op: core.OpSet, Key: "k", Value: []byte("v")}}})
			})
		}, 10 * age, true},
		{"state cleared", func(t *testing.T, s *memory.Store) {
			visit(t, s, "r", "c1", func() {
				commit(t, s, core.Commit{Room: "r", Namespace: "wb", Ops: []core.StateOp{{Op: core.OpSet, Key: "k", Value: []byte("v")}}})
				commit(t, s, core.Commit{Room: "r", Namespace: "wb", Ops: []core.StateOp{{Op: core.OpClear}}})
			})
		}, 0, false},
		{"dedupe entry inside its window", func(t *testing.T, s *memory.Store) {
			visit(t, s, "r", "c1", func() {
				commit(t, s, core.Commit{Room: "r", DedupeKey: "u:1", DedupeTTL: time.Minute, Ephemeral: []core.Event{event("r")}})
			})
		}, 30 * time.Second, true},
		{"dedupe entry expired", func(t *testing.T, s *memory.Store) {
			visit(t, s, "r", "c1", func() {
				commit(t, s, core.Commit{Room: "r", DedupeKey: "u:1", DedupeTTL: time.Minute, Ephemeral: []core.Event{event("r")}})
			})
		}, 2 * time.Minute, false},
		{"a member stays", func(t *testing.T, s *memory.Store) {
			ci := core.ConnInfo{ID: "stay", User: core.User{ID: "stay"}}
			must(t, s.AddConn(ctx, ci))
			if _, err := s.Join(ctx, "r", ci); err != nil {
				t.Fatal(err)
			}
			visit(t, s, "r", "c1", nil)
		}, 10 * age, true},
		{"still subscribed", func(t *testing.T, s *memory.Store) {
			visit(t, s, "r", "c1", nil)
			must(t, s.Subscribe(ctx, "r"))
		}, 10 * age, true},
		{"system message to a room nobody joined", func(t *testing.T, s *memory.Store) {
			commit(t, s, core.Commit{Room: "r", Durable: []core.Event{event("r")}})
		}, age + time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1_700_000_000, 0)}
			s := newStore(clk)
			tt.use(t, s)
			clk.Add(tt.wait)
			sweep(t, s)
			if got := s.Rooms(); (got == 1) != tt.kept || got > 1 {
				t.Fatalf("%d rooms held, want kept=%v", got, tt.kept)
			}
			snap, err := s.Snapshot(ctx, "r", "wb")
			must(t, err)
			if tt.kept {
				return
			}
			if snap.Seq != 0 || snap.Version != 0 || len(snap.State) != 0 {
				t.Fatalf("freed room reads seq %d version %d state %v, want a fresh room", snap.Seq, snap.Version, snap.State)
			}
			// A client that saw seq 1 before is told to resync.
			if _, seq, ok, err := s.History(ctx, "r", 1); err != nil || ok || seq != 0 {
				t.Fatalf("History(since 1) of a freed room = seq %d, complete %v, %v; want resync", seq, ok, err)
			}
			if s.Rooms() != 0 {
				t.Fatal("reading a freed room brought it back")
			}
			// And the room works again from seq 1.
			if res := commit(t, s, core.Commit{Room: "r", Durable: []core.Event{event("r")}}); res.FirstSeq != 1 {
				t.Fatalf("first seq after freeing = %d, want 1", res.FirstSeq)
			}
		})
	}
}

// TestRoomsFreedConcurrently: rooms freed while other goroutines commit to,
// join and read them lose nothing that can be observed — every commit to a
// room with a member lands in its history in order — and there are no
// races (run with -race).
func TestRoomsFreedConcurrently(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	s := newStore(clk)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			room := fmt.Sprint("busy-", g)
			ci := core.ConnInfo{ID: core.ConnID(fmt.Sprint("m", g)), User: core.User{ID: "m"}}
			for i := 0; i < 200; i++ {
				// Churn: the room is freed at every leave (no history).
				visit(t, s, room, core.ConnID(fmt.Sprint("v", g, "-", i)), func() {
					commit(t, s, core.Commit{Room: room, Ephemeral: []core.Event{event(room)}})
					_, _ = s.Snapshot(ctx, room)
				})
				sweep(t, s)
			}
			// A member keeps the room: durable commits all land.
			must(t, s.AddConn(ctx, ci))
			must(t, s.Subscribe(ctx, room))
			if _, err := s.Join(ctx, room, ci); err != nil {
				t.Error(err)
				return
			}
			for i := 0; i < 50; i++ {
				commit(t, s, core.Commit{Room: room, Durable: []core.Event{event(room)}})
				sweep(t, s)
			}
			evs, seq, ok, err := s.History(ctx, room, 0)
			if err != nil || !ok || seq != 50 || len(evs) != 50 {
				t.Errorf("%s: history of %d events up to seq %d (complete %v, %v), want 50", room, len(evs), seq, ok, err)
			}
		}(g)
	}
	wg.Wait()
	if n := s.Rooms(); n != 4 {
		t.Fatalf("%d rooms held, want the 4 with a member", n)
	}
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestMemoryFlatAfterManyRooms: thousands of distinct short-lived rooms,
// each joined, written to (durable and ephemeral events, state set and
// cleared, a dedupe key) and left, leave the heap where it was once their
// history has aged out. A store that kept them would hold over 5 MB here
// (their 1 KB names alone).
func TestMemoryFlatAfterManyRooms(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	s := newStore(clk)
	pad := strings.Repeat("x", 1000)
	use := func(from, to int) {
		for i := from; i < to; i++ {
			room := fmt.Sprintf("%s-%d", pad, i)
			visit(t, s, room, core.ConnID(fmt.Sprint("c", i)), func() {
				commit(t, s, core.Commit{Room: room, DedupeKey: fmt.Sprint("u:", i), DedupeTTL: time.Minute,
					Durable: []core.Event{event(room), event(room)}, Ephemeral: []core.Event{event(room)}})
				commit(t, s, core.Commit{Room: room, Namespace: "wb", Ops: []core.StateOp{{Op: core.OpSet, Key: "k", Value: []byte(pad)}}})
				commit(t, s, core.Commit{Room: room, Namespace: "wb", Ops: []core.StateOp{{Op: core.OpDel, Key: "k"}}})
			})
			clk.Add(time.Second)
			if i%100 == 0 {
				sweep(t, s)
			}
		}
		clk.Add(age + time.Minute)
		sweep(t, s)
	}
	use(0, 1000) // warm up: the store's own maps and queues reach their size
	before := heapInUse()
	use(1000, 6000)
	after := heapInUse()
	if n := s.Rooms(); n != 0 {
		t.Fatalf("%d rooms still held", n)
	}
	t.Logf("heap %d → %d bytes after 5,000 rooms", before, after)
	if after > before+(1<<20) {
		t.Fatalf("heap grew by %d bytes over 5,000 short-lived rooms, want < 1 MiB", after-before)
	}
}

// TestSweepOrder: a room that must wait long (a long dedupe window) does
// not hold up a room due earlier, whatever order they went idle in.
func TestSweepOrder(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	s := newStore(clk)
	visit(t, s, "waits", "c1", func() {
		commit(t, s, core.Commit{Room: "waits", DedupeKey: "k", DedupeTTL: 3 * age, Ephemeral: []core.Event{event("waits")}})
	})
	visit(t, s, "due", "c2", func() { commit(t, s, core.Commit{Room: "due", Durable: []core.Event{event("due")}}) })
	sweep(t, s) // both looked at once, both must wait
	clk.Add(age + time.Second)
	sweep(t, s)
	if snap, err := s.Snapshot(ctx, "due"); err != nil || snap.Seq != 0 {
		t.Fatalf("room due after history.age still held (seq %d, %v)", snap.Seq, err)
	}
	if n := s.Rooms(); n != 1 {
		t.Fatalf("%d rooms held, want only the one in its dedupe window", n)
	}
	clk.Add(3 * age)
	sweep(t, s)
	if n := s.Rooms(); n != 0 {
		t.Fatalf("%d rooms held after every window passed", n)
	}
}
