package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// recSender records frames per connection.
type recSender struct {
	mu     sync.Mutex
	frames map[core.ConnID][]map[string]any
	closed map[core.ConnID]int
}

func newRec() *recSender {
	return &recSender{frames: map[core.ConnID][]map[string]any{}, closed: map[core.ConnID]int{}}
}

func (s *recSender) Send(_ context.Context, id core.ConnID, b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("router sent invalid JSON %q", b))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames[id] = append(s.frames[id], m)
	return nil
}

func (s *recSender) Close(_ context.Context, id core.ConnID, code int, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed[id] = code
	return nil
}

func (s *recSender) take(id core.ConnID) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.frames[id]
	s.frames[id] = nil
	return f
}

func types(fs []map[string]any) string {
	var out []string
	for _, f := range fs {
		t := f["type"].(string)
		if seq, ok := f["seq"]; ok && t != "ack" && t != "joined" {
			t += fmt.Sprintf("#%v", seq)
		}
		out = append(out, t)
	}
	return strings.Join(out, " ")
}

// presenceLike announces first joins durably and answers join state.
func presenceLike() core.Handler {
	return core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
		switch c.Hook {
		case core.HookJoin:
			res := &core.Result{Replies: []core.Emit{{Type: "presence.state", Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, len(c.State)))}}}
			if c.FirstOfUser {
				res.Emits = []core.Emit{{Type: "presence.join", Durable: true, Data: json.RawMessage(`{}`)}}
				res.Ops = []core.StateOp{{Op: core.OpSet, Key: c.Sender.ID, Value: []byte(`1`)}}
			}
			return res, nil
		case core.HookLeave:
			if c.LastOfUser {
				return &core.Result{Emits: []core.Emit{{Type: "presence.leave", Durable: true}}, Ops: []core.StateOp{{Op: core.OpDel, Key: c.Sender.ID}}}, nil
			}
			return nil, nil
		}
		switch c.Type {
		case "presence.targeted":
			return &core.Result{Emits: []core.Emit{{Type: "presence.x", Durable: true, To: core.Target{Kind: core.TargetRole, Value: "teacher"}}}}, nil
		case "presence.badjson":
			return &core.Result{Emits: []core.Emit{{Type: "presence.x", Data: json.RawMessage(`{nope`)}}}, nil
		case "presence.teachers":
			return &core.Result{Emits: []core.Emit{{Type: "presence.note", To: core.Target{Kind: core.TargetRole, Value: "teacher"}}}}, nil
		}
		return &core.Result{Reject: "no"}, nil
	})
}

type fixture struct {
	r   *core.Router
	snd *recSender
	st  *memory.Store
}

func newFixture(t *testing.T, direct bool) *fixture {
	t.Helper()
	st := memory.New(memory.Options{LivenessTTL: time.Second})
	snd := newRec()
	r, err := core.NewRouter(core.Options{Store: st, Sender: snd, Direct: direct, RatePerSecond: -1,
		Plugins: core.StaticPlugins{"presence": presenceLike()}})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{r: r, snd: snd, st: st}
}

func (f *fixture) connect(t *testing.T, id, user, role string) {
	t.Helper()
	err := f.r.Connect(context.Background(), core.ConnInfo{ID: core.ConnID(id), User: core.User{ID: user, Role: role}, Rooms: []string{"*"}, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) recv(t *testing.T, id, frame string) {
	t.Helper()
	if err := f.r.Receive(context.Background(), core.ConnID(id), []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

func TestJoinOrderAndPresence(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			f := newFixture(t, direct)
			f.connect(t, "a1", "ann", "teacher")
			f.connect(t, "a2", "ann", "teacher")
			f.connect(t, "b1", "bob", "student")
			f.recv(t, "a1", `{"type":"join","room":"r","id":"j"}`)
			if got := types(f.snd.take("a1")); got != "joined presence.state presence.join#1" {
				t.Fatalf("first join: %s", got)
			}
			f.recv(t, "a2", `{"type":"join","room":"r","id":"j"}`) // second tab: no announce
			if got := types(f.snd.take("a2")); got != "joined presence.state" {
				t.Fatalf("second tab: %s", got)
			}
			f.recv(t, "b1", `{"type":"join","room":"r","id":"j","since":0}`)
			if got := types(f.snd.take("b1")); got != "joined presence.join#1 presence.state presence.join#2" {
				t.Fatalf("join with since=0: %s", got)
			}
			if got := types(f.snd.take("a1")) + "|" + types(f.snd.take("a2")); got != "presence.join#2|presence.join#2" {
				t.Fatalf("members saw: %s", got)
			}
			// Targeted ephemeral: teachers only.
			f.recv(t, "b1", `{"type":"presence.teachers","room":"r","id":"t"}`)
			if got := types(f.snd.take("b1")); got != "ack" {
				t.Fatalf("sender: %s", got)
			}
			if got := types(f.snd.take("a2")); got != "presence.note" {
				t.Fatalf("teacher tab: %s", got)
			}
			// Closing one of ann's tabs announces nothing; the last does.
			if err := f.r.Disconnect(context.Background(), "a2"); err != nil {
				t.Fatal(err)
			}
			if got := types(f.snd.take("b1")); got != "" {
				t.Fatalf("after one tab closed: %s", got)
			}
			if err := f.r.Disconnect(context.Background(), "a1"); err != nil {
				t.Fatal(err)
			}
			if got := types(f.snd.take("b1")); got != "presence.leave#3" {
				t.Fatalf("after last tab closed: %s", got)
			}
		})
	}
}

func TestPluginMisbehaviour(t *testing.T) {
	f := newFixture(t, false)
	f.connect(t, "c", "u", "student")
	f.recv(t, "c", `{"type":"join","room":"r"}`)
	f.snd.take("c")
	tests := []struct{ frame, code string }{
		{`{"type":"presence.targeted","room":"r","id":"x"}`, "plugin_error"},
		{`{"type":"presence.badjson","room":"r","id":"x"}`, "plugin_error"},
		{`{"type":"presence.other","room":"r","id":"x"}`, "rejected"},
	}
	for _, tt := range tests {
		f.recv(t, "c", tt.frame)
		got := f.snd.take("c")
		if len(got) != 1 || got[0]["code"] != tt.code || got[0]["id"] != "x" {
			t.Fatalf("%s: %v", tt.frame, got)
		}
	}
	snap, _ := f.st.Snapshot(context.Background(), "r")
	if snap.Seq != 1 {
		t.Fatalf("misbehaving plugin changed the room: seq %d", snap.Seq)
	}
}

// conflictOnce is a store whose first versioned commit loses a race.
type conflictOnce struct {
	*memory.Store
	once sync.Once
}

func (c *conflictOnce) Commit(ctx context.Context, cm core.Commit) (core.CommitResult, error) {
	var err error
	if cm.CheckVersion {
		c.once.Do(func() {
			// Another node commits first.
			_, _ = c.Store.Commit(ctx, core.Commit{Room: cm.Room, Durable: []core.Event{{Room: cm.Room, Type: "other.event"}}})
			err = core.ErrConflict
		})
	}
	if err != nil {
		return core.CommitResult{}, err
	}
	return c.Store.Commit(ctx, cm)
}

func TestCommitRetriesOnConflict(t *testing.T) {
	st := &conflictOnce{Store: memory.New(memory.Options{})}
	snd := newRec()
	var calls []uint64
	h := core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
		if c.Hook != core.HookMessage {
			return nil, nil
		}
		calls = append(calls, c.Seq)
		return &core.Result{Emits: []core.Emit{{Type: "chat.message", Durable: true}}}, nil
	})
	r, err := core.NewRouter(core.Options{Store: st, Sender: snd, Direct: true, Plugins: core.StaticPlugins{"chat": h}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = r.Connect(ctx, core.ConnInfo{ID: "c", User: core.User{ID: "u"}, Rooms: []string{"*"}})
	_ = r.Receive(ctx, "c", []byte(`{"type":"join","room":"r"}`))
	_ = r.Receive(ctx, "c", []byte(`{"type":"chat.send","room":"r","id":"m"}`))
	frames := snd.take("c")
	last := frames[len(frames)-1]
	if last["type"] != "ack" || last["seq"] != float64(2) {
		t.Fatalf("ack after retry: %v", last)
	}
	if len(calls) != 2 || calls[0] != 0 || calls[1] != 1 {
		t.Fatalf("handler saw seqs %v, want a re-run on the fresh state [0 1]", calls)
	}
}

func TestSweepDisconnectsExpired(t *testing.T) {
	f := newFixture(t, true)
	f.connect(t, "gone", "ghost", "student")
	f.connect(t, "here", "live", "student")
	f.recv(t, "gone", `{"type":"join","room":"r"}`)
	f.recv(t, "here", `{"type":"join","room":"r"}`)
	f.snd.take("here")
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.recv(t, "here", `{"type":"ping"}`) // frames refresh liveness
		n, err := f.r.Sweep(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("expired connection never swept")
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := types(f.snd.take("here"))
	if !strings.Contains(got, "presence.leave#3") {
		t.Fatalf("no presence.leave after sweep: %s", got)
	}
	if _, _, err := f.st.Conn(context.Background(), "gone"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("swept connection still registered: %v", err)
	}
}

func TestTokenExpiryCloses(t *testing.T) {
	f := newFixture(t, false)
	err := f.r.Connect(context.Background(), core.ConnInfo{ID: "x", User: core.User{ID: "u"}, Rooms: []string{"*"}, Expires: time.Now().Add(50 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.snd.mu.Lock()
		code := f.snd.closed["x"]
		f.snd.mu.Unlock()
		if code == core.CloseTokenExpired {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not closed with 4001 (got %d)", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sinkSpy captures the router's Bus sink so a test can play a lagging bus.
type sinkSpy struct {
	*memory.Store
	sink func(core.Event)
}

func (s *sinkSpy) SetSink(f func(core.Event)) { s.sink = f; s.Store.SetSink(f) }

// TestLateBusEventsNotRedelivered: a bus that hands over an event committed
// before a member's join (Redis pub/sub lags the commit) must not deliver
// it to that member: joined.seq already covers it.
func TestLateBusEventsNotRedelivered(t *testing.T) {
	st := &sinkSpy{Store: memory.New(memory.Options{})}
	snd := newRec()
	r, err := core.NewRouter(core.Options{Store: st, Sender: snd, RatePerSecond: -1, Plugins: core.StaticPlugins{"presence": presenceLike()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		_ = r.Connect(ctx, core.ConnInfo{ID: core.ConnID(id), User: core.User{ID: id}, Rooms: []string{"*"}})
		_ = r.Receive(ctx, core.ConnID(id), []byte(`{"type":"join","room":"r"}`))
	}
	snd.take("a")
	snd.take("b")                                                      // b joined at seq 2 (two presence.join events)
	st.sink(core.Event{Room: "r", Seq: 2, Type: "presence.join"})      // late copy
	st.sink(core.Event{Room: "r", Seq: 3, Type: "presence.update"})    // new
	st.sink(core.Event{Room: "r", Type: "presence.cursor", Data: nil}) // ephemeral
	if got := types(snd.take("b")); got != "presence.update#3 presence.cursor" {
		t.Fatalf("b got %q", got)
	}
	if got := types(snd.take("a")); got != "presence.update#3 presence.cursor" {
		t.Fatalf("a got %q", got)
	}
}

// snapFailStore fails Snapshot while fail is set (a store coming back).
type snapFailStore struct {
	*memory.Store
	fail bool
}

func (s *snapFailStore) Snapshot(ctx context.Context, room string, ns ...string) (core.Snapshot, error) {
	if s.fail {
		return core.Snapshot{}, fmt.Errorf("test: %w", core.ErrUnavailable)
	}
	return s.Store.Snapshot(ctx, room, ns...)
}

// TestFailedRepeatJoinKeepsMembership: a repeated join that the store
// refuses is answered internal and leaves the connection in the room: it
// still receives the room's events (found by the chaos run: the failed
// re-join used to drop the membership, silently).
func TestFailedRepeatJoinKeepsMembership(t *testing.T) {
	st := &snapFailStore{Store: memory.New(memory.Options{})}
	snd := newRec()
	r, err := core.NewRouter(core.Options{Store: st, Sender: snd, RatePerSecond: -1, Plugins: core.StaticPlugins{"presence": presenceLike()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = r.Connect(ctx, core.ConnInfo{ID: "a", User: core.User{ID: "a"}, Rooms: []string{"*"}})
	_ = r.Receive(ctx, "a", []byte(`{"type":"join","room":"r"}`))
	snd.take("a")
	st.fail = true
	_ = r.Receive(ctx, "a", []byte(`{"type":"join","room":"r","id":"j2","since":0}`))
	st.fail = false
	if got := snd.take("a"); len(got) != 1 || got[0]["type"] != "error" || got[0]["code"] != "internal" {
		t.Fatalf("failed re-join answered %v, want one error internal", got)
	}
	if !r.Joined("a", "r") {
		t.Fatal("a failed repeated join dropped the membership")
	}
	if _, err := r.Broadcast(ctx, "r", "system.notice", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got := types(snd.take("a")); !strings.HasPrefix(got, "system.notice#") {
		t.Fatalf("after the failed re-join a got %q, want the room's next event", got)
	}
}
