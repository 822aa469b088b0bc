package coretest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
)

// Config is what the suite asks of a new store: small limits so trimming
// and expiry can be observed quickly.
type Config struct {
	HistoryLimit int
	HistoryAge   time.Duration
	LivenessTTL  time.Duration
}

// Factory builds stores for the suite.
type Factory struct {
	// New returns a fresh, empty, isolated store (e.g. its own key prefix)
	// configured with cfg. The suite closes it.
	New func(t *testing.T, cfg Config) core.Store
	// Peer, if set, returns a second store sharing a's backend, as a second
	// gateway node would; cross-node tests run only when it is set.
	Peer func(t *testing.T, a core.Store) core.Store
	// Lose, if set, makes a's backend lose every room's data, as a restart
	// without persistence would, and returns the store to use afterwards:
	// a itself when it survives that (Redis flushed under it), or a new
	// one (a process-local store, whose loss is a new process). The
	// data-loss cases run only when it is set.
	Lose func(t *testing.T, a core.Store) core.Store
}

var defaultCfg = Config{HistoryLimit: 50, HistoryAge: time.Hour, LivenessTTL: time.Hour}

// RunStore runs the whole conformance suite.
func RunStore(t *testing.T, f Factory) {
	tests := []struct {
		name string
		cfg  Config
		run  func(t *testing.T, s core.Store, f Factory)
	}{
		{"Registry", defaultCfg, testRegistry},
		{"SeqGapless", defaultCfg, testSeqGapless},
		{"HistoryReplay", defaultCfg, testHistory},
		{"HistoryTrimmedBySize", Config{HistoryLimit: 5, HistoryAge: time.Hour, LivenessTTL: time.Hour}, testTrimSize},
		{"HistoryTrimmedByAge", Config{HistoryLimit: 50, HistoryAge: 1500 * time.Millisecond, LivenessTTL: time.Hour}, testTrimAge},
		{"Dedupe", defaultCfg, testDedupe},
		{"DedupeAnswers", defaultCfg, testDedupeAnswers},
		{"VersionConflict", defaultCfg, testConflict},
		{"StateOps", defaultCfg, testState},
		{"BusOrder", defaultCfg, testBus},
		{"Epoch", defaultCfg, testEpoch},
		{"EpochAfterDataLoss", defaultCfg, testEpochAfterLoss},
		{"Liveness", Config{HistoryLimit: 50, HistoryAge: time.Hour, LivenessTTL: 1500 * time.Millisecond}, testLiveness},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := f.New(t, tt.cfg)
			t.Cleanup(func() { _ = s.Close() })
			tt.run(t, s, f)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func conn(id, user string) core.ConnInfo {
	return core.ConnInfo{ID: core.ConnID(id), User: core.User{ID: user, Name: "N" + user, Role: "student"}, Rooms: []string{"*"}, Expires: time.Now().Add(time.Hour)}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ev(room, typ string, n int) core.Event {
	return core.Event{Room: room, Type: typ, TS: time.Now().UnixMilli(), From: &core.User{ID: "u"}, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

func commit1(t *testing.T, s core.Store, room string, n int) uint64 {
	t.Helper()
	r, err := s.Commit(ctxT(t), core.Commit{Room: room, Durable: []core.Event{ev(room, "t.e", n)}})
	must(t, err)
	return r.FirstSeq
}

func testRegistry(t *testing.T, s core.Store, _ Factory) {
	ctx := ctxT(t)
	if _, _, err := s.Conn(ctx, "nope"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Conn(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.Join(ctx, "r", conn("nope", "u0")); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Join(unknown conn) = %v, want ErrNotFound", err)
	}
	a1, a2, b := conn("a1", "ann"), conn("a2", "ann"), conn("b1", "bob")
	for _, c := range []core.ConnInfo{a1, a2, b} {
		must(t, s.AddConn(ctx, c))
	}
	steps := []struct {
		c     core.ConnInfo
		room  string
		first bool
	}{{a1, "r", true}, {a2, "r", false}, {b, "r", true}, {a1, "r", false}, {a1, "q", true}}
	for i, st := range steps {
		first, err := s.Join(ctx, st.room, st.c)
		must(t, err)
		if first != st.first {
			t.Fatalf("step %d: Join(%s,%s) first=%v want %v", i, st.room, st.c.ID, first, st.first)
		}
	}
	ms, err := s.Members(ctx, "r")
	must(t, err)
	if len(ms) != 3 {
		t.Fatalf("Members(r) = %v, want 3", ms)
	}
	info, rooms, err := s.Conn(ctx, "a1")
	must(t, err)
	if info.User.ID != "ann" || len(rooms) != 2 {
		t.Fatalf("Conn(a1) = %+v %v", info, rooms)
	}
	d, joined, err := s.Leave(ctx, "r", "a2")
	must(t, err)
	if !joined || d.LastOfUser || d.RoomEmpty {
		t.Fatalf("Leave(a2) = %+v joined=%v; want still ann's a1 and bob", d, joined)
	}
	if _, joined, _ := s.Leave(ctx, "r", "a2"); joined {
		t.Fatal("second Leave reported joined")
	}
	d, _, err = s.Leave(ctx, "r", "b1")
	must(t, err)
	if !d.LastOfUser || d.RoomEmpty || d.User.ID != "bob" {
		t.Fatalf("Leave(b1) = %+v", d)
	}
	deps, err := s.RemoveConn(ctx, "a1")
	must(t, err)
	if len(deps) != 2 {
		t.Fatalf("RemoveConn(a1) departures = %+v, want rooms q and r", deps)
	}
	for _, d := range deps {
		if !d.LastOfUser || !d.RoomEmpty {
			t.Fatalf("departure %+v: want last of user and room empty", d)
		}
	}
	if ms, _ := s.Members(ctx, "r"); len(ms) != 0 {
		t.Fatalf("Members after all left = %v", ms)
	}
	if _, err := s.RemoveConn(ctx, "a1"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("RemoveConn twice = %v, want ErrNotFound", err)
	}
}

func testSeqGapless(t *testing.T, s core.Store, f Factory) {
	stores := []core.Store{s}
	if f.Peer != nil {
		p := f.Peer(t, s)
		t.Cleanup(func() { _ = p.Close() })
		stores = append(stores, p)
	}
	const workers, each = 8, 25
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			st := stores[w%len(stores)]
			for i := 0; i < each; i++ {
				r, err := st.Commit(context.Background(), core.Commit{Room: "g", Durable: []core.Event{ev("g", "t.a", i), ev("g", "t.b", i)}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[r.FirstSeq], seen[r.FirstSeq+1] = true, true
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	n := uint64(workers * each * 2)
	for i := uint64(1); i <= n; i++ {
		if !seen[i] {
			t.Fatalf("seq %d never assigned (of %d)", i, n)
		}
	}
	_, last, complete, err := s.History(ctxT(t), "g", 0)
	must(t, err)
	if last != n || complete {
		// 400 events with a 50-event history: only the tail is kept.
		t.Fatalf("History(0) = last %d complete %v, want last %d and incomplete", last, complete, n)
	}
	events, _, complete, err := s.History(ctxT(t), "g", n-10)
	must(t, err)
	if !complete || len(events) != 10 {
		t.Fatalf("History(since n-10) = %d events complete=%v", len(events), complete)
	}
	for i, e := range events {
		if e.Seq != n-9+uint64(i) {
			t.Fatalf("event %d has seq %d, want %d", i, e.Seq, n-9+uint64(i))
		}
	}
}

func testHistory(t *testing.T, s core.Store, _ Factory) {
	ctx := ctxT(t)
	events, last, complete, err := s.History(ctx, "h", 0)
	must(t, err)
	if len(events) != 0 || last != 0 || !complete {
		t.Fatalf("empty room history = %v %d %v", events, last, complete)
	}
	for i := 1; i <= 10; i++ {
		if got := commit1(t, s, "h", i); got != uint64(i) {
			t.Fatalf("commit %d got seq %d", i, got)
		}
	}
	tests := []struct {
		since uint64
		want  int
	}{{0, 10}, {3, 7}, {9, 1}, {10, 0}}
	for _, tt := range tests {
		events, last, complete, err := s.History(ctx, "h", tt.since)
		must(t, err)
		if !complete || last != 10 || len(events) != tt.want {
			t.Fatalf("History(since=%d) = %d events, last %d, complete %v", tt.since, len(events), last, complete)
		}
		for i, e := range events {
			if e.Seq != tt.since+uint64(i)+1 || e.Room != "h" || e.Type != "t.e" || e.From == nil || e.From.ID != "u" {
				t.Fatalf("History(since=%d)[%d] = %+v", tt.since, i, e)
			}
			var d struct{ N int }
			must(t, json.Unmarshal(e.Data, &d))
			if d.N != int(e.Seq) {
				t.Fatalf("event data %s for seq %d", e.Data, e.Seq)
			}
		}
	}
}

func testTrimSize(t *testing.T, s core.Store, _ Factory) {
	ctx := ctxT(t)
	for i := 1; i <= 12; i++ {
		commit1(t, s, "ts", i)
	}
	if _, _, complete, err := s.History(ctx, "ts", 2); err != nil || complete {
		t.Fatalf("History beyond size limit: complete=%v err=%v; want incomplete (resync)", complete, err)
	}
	events, last, complete, err := s.History(ctx, "ts", 7)
	must(t, err)
	if !complete || last != 12 || len(events) != 5 || events[0].Seq != 8 {
		t.Fatalf("History(7) within limit = %d events complete=%v", len(events), complete)
	}
}

func testTrimAge(t *testing.T, s core.Store, _ Factory) {
	ctx := ctxT(t)
	commit1(t, s, "ta", 1)
	commit1(t, s, "ta", 2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, complete, err := s.History(ctx, "ta", 0)
		must(t, err)
		if !complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("events older than the age limit are still replayed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// New events are kept and the seq continues.
	if got := commit1(t, s, "ta", 3); got != 3 {
		t.Fatalf("seq after age trim = %d, want 3", got)
	}
	events, _, complete, err := s.History(ctx, "ta", 2)
	must(t, err)
	if !complete || len(events) != 1 || events[0].Seq != 3 {
		t.Fatalf("History(2) after trim = %+v complete=%v", events, complete)
	}
}

func testDedupe(t *testing.T, s core.Store, _ Factory) {
	ctx := ctxT(t)
	c := core.Commit{Room: "d", DedupeKey: "ann\x00m1", DedupeTTL: time.Minute, Durable: []core.Event{ev("d", "t.e", 1)}}
	r1, err := s.Commit(ctx, c)
	must(t, err)
	commit1(t, s, "d", 2)
	r2, err := s.Commit(ctx, c)
	if !errors.Is(err, core.ErrDuplicate) || r2.FirstSeq != r1.FirstSeq {
		t.Fatalf("repeat commit = %+v, %v; want ErrDuplicate with seq %d", r2, err, r1.FirstSeq)
	}
	events, last, _, err := s.History(ctx, "d", 0)
	must(t, err)
	if last != 2 || len(events) != 2 {
		t.Fatalf("duplicate appended: last=%d events=%d", last, len(events))
	}
	// The key is per room.
	c.Room = "d2"
	c.Durable = []core.Event{ev("d2", "t.e", 1)}
	if _, err := s.Commit(ctx, c); err != nil {
		t.Fatalf("same key in another room: %v", err)
	}
	// A short window expires.
	c = core.Commit{Room: "d3", DedupeKey: "k", DedupeTTL: time.Second, Durable: []core.Event{ev("d3", "t.e", 1)}}
	_, err = s.Commit(ctx, c)
	must(t, err)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Commit(ctx, c)
		if err == nil {
			break
		}
		if !errors.Is(err, core.ErrDuplicate) || time.Now().After(deadline) {
			t.Fatalf("dedupe key never expired: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func testConflict(t *testing.T, s core.Store, _ Factory) {
	ctx := ctxT(t)
	snap, err := s.Snapshot(ctx, "c", "ns")
	must(t, err)
	commit1(t, s, "c", 1) // moves the room on
	_, err = s.Commit(ctx, core.Commit{Room: "c", Namespace: "ns", CheckVersion: true, ExpectVersion: snap.Version,
		Ops: []core.StateOp{{Op: core.OpSet, Key: "k", Value: []byte("v")}}, Durable: []core.Event{ev("c", "t.e", 2)}})
	if !errors.Is(err, core.ErrConflict) {
		t.Fatalf("stale commit = %v, want ErrConflict", err)
	}
	snap2, err := s.Snapshot(ctx, "c", "ns")
	must(t, err)
	if snap2.Seq != 1 || len(snap2.State["ns"]) != 0 {
		t.Fatalf("conflicting commit applied something: %+v", snap2)
	}
	r, err := s.Commit(ctx, core.Commit{Room: "c", Namespace: "ns", CheckVersion: true, ExpectVersion: snap2.Version,
		Ops: []core.StateOp{{Op: core.OpSet, Key: "k", Value: []byte("v")}}, Durable: []core.Event{ev("c", "t.e", 2)}})
	if err != nil || r.FirstSeq != 2 {
		t.Fatalf("fresh commit = %+v, %v", r, err)
	}
}

func testState(t *testing.T, s core.Store, _ Factory) {
	ctx := ctxT(t)
	set := func(k, v string) core.StateOp { return core.StateOp{Op: core.OpSet, Key: k, Value: []byte(v)} }
	del := func(k string) core.StateOp { return core.StateOp{Op: core.OpDel, Key: k} }
	clr := core.StateOp{Op: core.OpClear}
	// A commit of many sets (a Go handler is not held to the wasm ABI's
	// 256 operations), and what the state is after it.
	var many []core.StateOp
	afterMany := map[string]string{"i": "3"}
	for k := range 600 {
		many = append(many, set(fmt.Sprint("k", k), fmt.Sprint(k)))
		afterMany[fmt.Sprint("k", k)] = fmt.Sprint(k)
	}
	steps := []struct {
		ns   string
		ops  []core.StateOp
		want map[string]string
	}{
		{"wb", []core.StateOp{set("a", "1"), set("b", "2")}, map[string]string{"a": "1", "b": "2"}},
		{"wb", []core.StateOp{del("a"), set("c", `{"x":[1,2]}`)}, map[string]string{"b": "2", "c": `{"x":[1,2]}`}},
		{"other", []core.StateOp{set("z", "9")}, map[string]string{"b": "2", "c": `{"x":[1,2]}`}},
		{"wb", []core.StateOp{clr, set("d", "4")}, map[string]string{"d": "4"}},
		// Operations apply in order: the last write to a key wins, a
		// delete or clear between sets takes what came before it only.
		{"wb", []core.StateOp{set("e", "1"), set("e", "2"), del("e"), set("f", "3"), set("f", "5")}, map[string]string{"d": "4", "f": "5"}},
		{"wb", []core.StateOp{set("g", "1"), clr, set("h", "2"), del("h"), set("i", "3")}, map[string]string{"i": "3"}},
		{"wb", many, afterMany},
	}
	for i, st := range steps {
		r, err := s.Commit(ctx, core.Commit{Room: "s", Namespace: st.ns, Ops: st.ops, Durable: []core.Event{ev("s", "t.e", i)}})
		must(t, err)
		snap, err := s.Snapshot(ctx, "s", "wb", "other", "missing")
		must(t, err)
		if snap.Seq != r.LastSeq {
			t.Fatalf("step %d: snapshot seq %d, commit seq %d", i, snap.Seq, r.LastSeq)
		}
		got := map[string]string{}
		for k, v := range snap.State["wb"] {
			got[k] = string(v)
		}
		if fmt.Sprint(got) != fmt.Sprint(st.want) {
			t.Fatalf("step %d: wb state = %v, want %v", i, got, st.want)
		}
		if snap.State["missing"] == nil {
			// allowed to be nil or empty; just never a panic for readers
			_ = snap.State["missing"]["x"]
		}
		if string(snap.State["other"]["z"]) != map[bool]string{true: "9", false: ""}[i >= 2] {
			t.Fatalf("step %d: other state = %v", i, snap.State["other"])
		}
	}
}

type collector struct {
	mu sync.Mutex
	ev []core.Event
}

func (c *collector) add(e core.Event) {
	c.mu.Lock()
	c.ev = append(c.ev, e)
	c.mu.Unlock()
}

func (c *collector) wait(t *testing.T, n int) []core.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		if len(c.ev) >= n {
			out := append([]core.Event(nil), c.ev...)
			c.mu.Unlock()
			return out
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("got %d events, want %d", len(c.ev), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testBus(t *testing.T, s core.Store, f Factory) {
	ctx := ctxT(t)
	var got collector
	s.SetSink(got.add)
	must(t, s.Subscribe(ctx, "b"))
	pub := s
	if f.Peer != nil {
		// Events committed on another node reach this one.
		pub = f.Peer(t, s)
		t.Cleanup(func() { _ = pub.Close() })
	}
	for i := 1; i <= 20; i++ {
		cm := core.Commit{Room: "b", Durable: []core.Event{ev("b", "t.e", i)}}
		if i%5 == 0 {
			cm.Ephemeral = []core.Event{{Room: "b", Type: "t.cursor", Data: json.RawMessage(`{}`), To: core.Target{Kind: core.TargetOthers, Conn: "x"}}}
		}
		_, err := pub.Commit(ctx, cm)
		must(t, err)
		commit1(t, pub, "not-subscribed", i)
	}
	events := got.wait(t, 24)
	var seq uint64
	eph := 0
	for _, e := range events {
		if e.Room != "b" {
			t.Fatalf("event of unsubscribed room delivered: %+v", e)
		}
		if e.Seq == 0 {
			eph++
			if e.To.Kind != core.TargetOthers || e.To.Conn != "x" {
				t.Fatalf("ephemeral target lost: %+v", e.To)
			}
			continue
		}
		if e.Seq != seq+1 {
			t.Fatalf("bus order: seq %d after %d", e.Seq, seq)
		}
		seq = e.Seq
	}
	if seq != 20 || eph != 4 {
		t.Fatalf("delivered up to seq %d with %d ephemeral, want 20 and 4", seq, eph)
	}
	must(t, s.Unsubscribe(ctx, "b"))
	commit1(t, pub, "b", 99)
	time.Sleep(200 * time.Millisecond)
	if n := len(got.wait(t, 24)); n != 24 {
		t.Fatalf("events delivered after Unsubscribe: %d", n-24)
	}
}

func testLiveness(t *testing.T, s core.Store, _ Factory) {
	ctx := ctxT(t)
	must(t, s.AddConn(ctx, conn("live", "u1")))
	must(t, s.AddConn(ctx, conn("dead", "u2")))
	deadline := time.Now().Add(15 * time.Second)
	for {
		must(t, s.Touch(ctx, "live"))
		ids, err := s.Expired(ctx, 10)
		must(t, err)
		if len(ids) == 1 && ids[0] == "dead" {
			break
		}
		for _, id := range ids {
			if id == "live" {
				t.Fatal("a touched connection expired")
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("untouched connection never expired: %v", ids)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testEpoch: every room has a non-empty epoch, the same in snapshots,
// commit results, history and the events the bus delivers (on every node),
// and rooms do not share one.
func testEpoch(t *testing.T, s core.Store, f Factory) {
	ctx := ctxT(t)
	var got collector
	s.SetSink(got.add)
	must(t, s.Subscribe(ctx, "ep"))
	pub := s
	if f.Peer != nil {
		pub = f.Peer(t, s)
		t.Cleanup(func() { _ = pub.Close() })
	}
	snap, err := s.Snapshot(ctx, "ep")
	must(t, err)
	if snap.Epoch == "" || len(snap.Epoch) > core.MaxEpochLen {
		t.Fatalf("new room's epoch = %q, want 1..%d characters", snap.Epoch, core.MaxEpochLen)
	}
	for i := 1; i <= 3; i++ {
		res, err := pub.Commit(ctx, core.Commit{Room: "ep", Durable: []core.Event{ev("ep", "t.e", i)}})
		must(t, err)
		if res.Epoch != snap.Epoch {
			t.Fatalf("commit %d epoch %q, snapshot's %q", i, res.Epoch, snap.Epoch)
		}
	}
	again, err := pub.Snapshot(ctx, "ep")
	must(t, err)
	events, _, complete, err := pub.History(ctx, "ep", 0)
	must(t, err)
	if again.Epoch != snap.Epoch || !complete || len(events) != 3 {
		t.Fatalf("after commits: epoch %q (was %q), history complete=%v len=%d", again.Epoch, snap.Epoch, complete, len(events))
	}
	for _, e := range append(events, got.wait(t, 3)...) {
		if e.Epoch != snap.Epoch {
			t.Fatalf("event seq %d has epoch %q, want %q", e.Seq, e.Epoch, snap.Epoch)
		}
	}
	other, err := s.Snapshot(ctx, "ep-other")
	must(t, err)
	if other.Epoch == snap.Epoch {
		t.Fatalf("rooms ep and ep-other share epoch %q", snap.Epoch)
	}
}

// testEpochAfterDataLoss: when the backend loses its data the room's seq
// starts again at 1, in a new epoch that snapshots, commits and history
// report, and that the bus shows to a subscribed node (by the events
// themselves or an epoch mark) — so no node mistakes the new seqs for
// copies of the old ones.
func testEpochAfterLoss(t *testing.T, s core.Store, f Factory) {
	if f.Lose == nil {
		t.Skip("the factory cannot make its backend lose data")
	}
	ctx := ctxT(t)
	var got collector
	s.SetSink(got.add)
	must(t, s.Subscribe(ctx, "lost"))
	var old string
	for i := 1; i <= 5; i++ {
		res, err := s.Commit(ctx, core.Commit{Room: "lost", Durable: []core.Event{ev("lost", "t.e", i)}})
		must(t, err)
		old = res.Epoch
	}
	got.wait(t, 5)
	s2 := f.Lose(t, s)
	if s2 != s {
		t.Cleanup(func() { _ = s2.Close() })
	}
	res, err := s2.Commit(ctx, core.Commit{Room: "lost", Durable: []core.Event{ev("lost", "t.e", 6)}})
	must(t, err)
	if res.FirstSeq != 1 || res.Epoch == "" || res.Epoch == old {
		t.Fatalf("first commit after the loss = %+v, want seq 1 in a new epoch (old %q)", res, old)
	}
	snap, err := s2.Snapshot(ctx, "lost")
	must(t, err)
	events, _, complete, err := s2.History(ctx, "lost", 0)
	must(t, err)
	if snap.Epoch != res.Epoch || !complete || len(events) != 1 || events[0].Epoch != res.Epoch {
		t.Fatalf("after the loss: snapshot epoch %q, history %+v complete=%v; want epoch %q", snap.Epoch, events, complete, res.Epoch)
	}
	if s2 != s {
		return // the old store's subscriptions went with it
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		seen := false
		for _, e := range got.wait(t, 5)[5:] {
			if e.Epoch == res.Epoch && (e.IsEpochMark() || e.Seq == 1) {
				seen = true
			} else if e.Seq != 0 && !e.IsEpochMark() {
				t.Fatalf("after the loss the bus delivered seq %d of epoch %q, want epoch %q", e.Seq, e.Epoch, res.Epoch)
			}
		}
		if seen {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the bus never showed the new epoch to the subscribed node")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
