package memory_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// presenceVisit is what a client looping join/leave over room names makes
// the router do in the store: a durable presence.join while it is a
// member, and a durable presence.leave after it left (the leave hook runs
// after the registry's Leave), then the router unsubscribes.
func presenceVisit(t testing.TB, s *memory.Store, room string, id core.ConnID, during func()) {
	t.Helper()
	from := &core.User{ID: "u-" + string(id), Role: "student"}
	visit(t, s, room, id, func() {
		commit(t, s, core.Commit{Room: room, Durable: []core.Event{{Room: room, Type: "presence.join", From: from, Data: []byte(`{"user":{"id":"` + from.ID + `"}}`)}}})
		if during != nil {
			during()
		}
	})
	commit(t, s, core.Commit{Room: room, Durable: []core.Event{{Room: room, Type: "presence.leave", From: from, Data: []byte(`{"user":{"id":"` + from.ID + `"}}`)}}})
}

// TestIdleRoomsBounded: a client looping join/leave over 50,000 distinct
// room names, each visit leaving durable presence events that history.age
// would keep for an hour, holds at most DefaultMaxIdleRooms idle rooms:
// the heap stays flat once the cap is reached, and the oldest rooms are
// the ones gone.
func TestIdleRoomsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("50,000 rooms")
	}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	s := newStore(clk) // default caps
	use := func(from, to int) {
		for i := from; i < to; i++ {
			presenceVisit(t, s, fmt.Sprint("room-", i), core.ConnID(fmt.Sprint("c", i)), nil)
			clk.Add(time.Millisecond) // 50,000 rooms in under a minute: nothing ages out
		}
	}
	base := heapInUse()
	use(0, memory.DefaultMaxIdleRooms+2000) // past the cap: the store's maps reach their size
	atCap := heapInUse()
	use(memory.DefaultMaxIdleRooms+2000, 50_000)
	after := heapInUse()
	rooms, bytes := s.IdleRooms()
	t.Logf("heap %d → %d (at the cap) → %d bytes; %d idle rooms, counted %d bytes (%d per room), ~%d heap bytes per room; %d evicted",
		base, atCap, after, rooms, bytes, bytes/int64(max(rooms, 1)), (int64(atCap)-int64(base))/int64(rooms), s.Evicted())
	if rooms != memory.DefaultMaxIdleRooms || s.Rooms() != rooms {
		t.Fatalf("%d idle rooms of %d held, want the cap %d", rooms, s.Rooms(), memory.DefaultMaxIdleRooms)
	}
	if n := s.Evicted(); n != 50_000-memory.DefaultMaxIdleRooms {
		t.Fatalf("%d rooms evicted, want %d", n, 50_000-memory.DefaultMaxIdleRooms)
	}
	if after > atCap+(2<<20) {
		t.Fatalf("heap grew by %d bytes over the last 38,000 rooms, want < 2 MiB (flat at the cap)", after-atCap)
	}
	// The newest rooms are kept, the oldest evicted.
	ctx := context.Background()
	if snap, err := s.Snapshot(ctx, "room-49999"); err != nil || snap.Seq != 2 {
		t.Fatalf("newest room: seq %d, %v; want 2", snap.Seq, err)
	}
	if snap, err := s.Snapshot(ctx, "room-0"); err != nil || snap.Seq != 0 {
		t.Fatalf("oldest room: seq %d, %v; want evicted (0)", snap.Seq, err)
	}
}

// TestIdleRoomsWithStateBounded: idle rooms holding plugin state (a board
// drawn and left) are bounded by bytes, not only by count: 400 rooms of
// 64 KiB of state stay within MaxIdleBytes.
func TestIdleRoomsWithStateBounded(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	const capBytes = 4 << 20
	s := memory.New(memory.Options{HistoryAge: age, LivenessTTL: time.Hour, Now: clk.Now, MaxIdleBytes: capBytes})
	el := []byte(strings.Repeat("e", 16<<10))
	use := func(from, to int) {
		for i := from; i < to; i++ {
			room := fmt.Sprint("board-", i)
			presenceVisit(t, s, room, core.ConnID(fmt.Sprint("c", i)), func() {
				for k := 0; k < 4; k++ {
					commit(t, s, core.Commit{Room: room, Namespace: "wb", Ops: []core.StateOp{{Op: core.OpSet, Key: fmt.Sprint("el", k), Value: el}},
						Durable: []core.Event{{Room: room, Type: "wb.draw", Data: el}}})
				}
			})
			if _, b := s.IdleRooms(); b > capBytes {
				t.Fatalf("after room %d idle rooms count %d bytes, over the cap %d", i, b, capBytes)
			}
		}
	}
	use(0, 100)
	before := heapInUse()
	use(100, 400)
	after := heapInUse()
	rooms, bytes := s.IdleRooms()
	t.Logf("heap %d → %d bytes; %d idle rooms counted %d bytes", before, after, rooms, bytes)
	if rooms == 0 || rooms > capBytes/(128<<10) {
		t.Fatalf("%d idle rooms of ~130 KiB each held under a %d-byte cap", rooms, capBytes)
	}
	if after > before+(2<<20) {
		t.Fatalf("heap grew by %d bytes over 300 more boards, want < 2 MiB", after-before)
	}
}

// TestIdleEviction: which rooms the caps evict, and what a client then
// sees. Rooms with members or a subscription never count; using an idle
// room (a read, a commit) makes it the most recently used; an evicted room
// comes back empty with a new epoch, so a client resuming it resyncs.
func TestIdleEviction(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// use runs on a store capped at 2 idle rooms, after rooms a, b
		// and c were visited in that order (a evicted); gone and kept
		// are the rooms to find evicted and held afterwards.
		use        func(t *testing.T, s *memory.Store)
		gone, kept []string
	}{
		{"least recently used goes first", func(t *testing.T, s *memory.Store) {
			presenceVisit(t, s, "d", "c4", nil)
		}, []string{"a", "b"}, []string{"c", "d"}},
		{"a read makes a room recent", func(t *testing.T, s *memory.Store) {
			_, _ = s.Snapshot(ctx, "b")
			presenceVisit(t, s, "d", "c4", nil)
		}, []string{"a", "c"}, []string{"b", "d"}},
		{"a commit makes a room recent", func(t *testing.T, s *memory.Store) {
			commit(t, s, core.Commit{Room: "b", Ephemeral: []core.Event{event("b")}})
			presenceVisit(t, s, "d", "c4", nil)
		}, []string{"a", "c"}, []string{"b", "d"}},
		{"a room with a member never counts", func(t *testing.T, s *memory.Store) {
			ci := core.ConnInfo{ID: "m", User: core.User{ID: "m"}}
			must(t, s.AddConn(ctx, ci))
			if _, err := s.Join(ctx, "b", ci); err != nil {
				t.Fatal(err)
			}
			presenceVisit(t, s, "d", "c4", nil)
			presenceVisit(t, s, "e", "c5", nil)
		}, []string{"a", "c"}, []string{"b", "d", "e"}},
		{"a subscribed room never counts", func(t *testing.T, s *memory.Store) {
			must(t, s.Subscribe(ctx, "b"))
			presenceVisit(t, s, "d", "c4", nil)
			presenceVisit(t, s, "e", "c5", nil)
		}, []string{"a", "c"}, []string{"b", "d", "e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1_700_000_000, 0)}
			s := memory.New(memory.Options{HistoryAge: age, LivenessTTL: time.Hour, Now: clk.Now, MaxIdleRooms: 2})
			epochs := map[string]string{}
			for i, room := range []string{"a", "b", "c"} {
				presenceVisit(t, s, room, core.ConnID(fmt.Sprint("c", i)), nil)
			}
			for _, room := range []string{"b", "c"} {
				snap, err := s.Snapshot(ctx, room)
				must(t, err)
				epochs[room] = snap.Epoch
			}
			// Reading b and c above made c the most recent: visit again in order.
			_, _ = s.Snapshot(ctx, "b")
			_, _ = s.Snapshot(ctx, "c")
			tt.use(t, s)
			for _, room := range tt.kept {
				if snap, err := s.Snapshot(ctx, room); err != nil || snap.Seq == 0 {
					t.Errorf("room %s: seq %d, %v; want kept", room, snap.Seq, err)
				}
			}
			for _, room := range tt.gone {
				snap, err := s.Snapshot(ctx, room)
				must(t, err)
				if snap.Seq != 0 {
					t.Errorf("room %s: seq %d, want evicted", room, snap.Seq)
					continue
				}
				// A client that saw seq 2 is told to resync: the seq is
				// behind it and, once the room is used again, the epoch
				// is not the one it knew.
				if _, seq, ok, err := s.History(ctx, room, 2); err != nil || ok || seq != 0 {
					t.Errorf("History(%s, since 2) = seq %d, complete %v, %v; want resync", room, seq, ok, err)
				}
				res := commit(t, s, core.Commit{Room: room, Durable: []core.Event{event(room)}})
				if res.FirstSeq != 1 || (epochs[room] != "" && res.Epoch == epochs[room]) {
					t.Errorf("room %s used again: seq %d epoch %s (was %s), want seq 1 in a new epoch", room, res.FirstSeq, res.Epoch, epochs[room])
				}
			}
		})
	}
}

// TestIdleBytesAccounting: the bytes counted for idle rooms go back to 0
// once every idle room is freed, whatever happened in them (history
// trimmed, state set, replaced and cleared, dedupe entries and refusals
// pruned): the accounting neither leaks nor goes negative.
func TestIdleBytesAccounting(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	s := memory.New(memory.Options{HistoryAge: age, HistoryLimit: 3, LivenessTTL: time.Hour, Now: clk.Now})
	for i := 0; i < 50; i++ {
		room := fmt.Sprint("r", i%7)
		presenceVisit(t, s, room, core.ConnID(fmt.Sprint("c", i)), func() {
			commit(t, s, core.Commit{Room: room, Namespace: "wb", Ops: []core.StateOp{{Op: core.OpSet, Key: "k", Value: []byte(strings.Repeat("v", i))}}})
			commit(t, s, core.Commit{Room: room, Namespace: "wb", Ops: []core.StateOp{{Op: core.OpSet, Key: fmt.Sprint("k", i), Value: []byte("x")}}})
			commit(t, s, core.Commit{Room: room, DedupeKey: fmt.Sprint("u:", i), DedupeTTL: time.Minute, Durable: []core.Event{event(room)}})
			must(t, s.RememberRefusal(ctx, room, fmt.Sprint("u:r", i), core.DedupeAnswer{Code: core.CodeRejected, Message: "no"}, time.Minute))
			if i%3 == 0 {
				commit(t, s, core.Commit{Room: room, Namespace: "wb", Ops: []core.StateOp{{Op: core.OpDel, Key: "k"}}})
			}
		})
		clk.Add(30 * time.Second)
		sweep(t, s)
	}
	if rooms, bytes := s.IdleRooms(); rooms == 0 || bytes <= 0 {
		t.Fatalf("%d idle rooms counted %d bytes, want some", rooms, bytes)
	}
	for i := 0; i < 7; i++ {
		room := fmt.Sprint("r", i)
		commit(t, s, core.Commit{Room: room, Namespace: "wb", Ops: []core.StateOp{{Op: core.OpClear}}})
	}
	clk.Add(age + time.Hour)
	sweep(t, s)
	if rooms, bytes := s.IdleRooms(); rooms != 0 || bytes != 0 || s.Rooms() != 0 {
		t.Fatalf("after freeing every room: %d idle rooms counted %d bytes, %d rooms held; want 0, 0, 0", rooms, bytes, s.Rooms())
	}
}
