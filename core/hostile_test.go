package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// rawSender records the exact bytes of every frame, and refuses to record
// anything that is not valid UTF-8 JSON.
type rawSender struct {
	mu     sync.Mutex
	frames map[core.ConnID][]string
	closed map[core.ConnID]int
	bad    []string
}

func newRaw() *rawSender {
	return &rawSender{frames: map[core.ConnID][]string{}, closed: map[core.ConnID]int{}}
}

func (s *rawSender) Send(_ context.Context, id core.ConnID, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !core.ValidJSON(b) {
		s.bad = append(s.bad, string(b))
	}
	s.frames[id] = append(s.frames[id], string(b))
	return nil
}

func (s *rawSender) Close(_ context.Context, id core.ConnID, code int, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed[id] = code
	return nil
}

func (s *rawSender) take(id core.ConnID) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.frames[id]
	s.frames[id] = nil
	return f
}

// board is a stateful plugin like the whiteboard: draw adds an element,
// erase removes one (refusing an unknown id), clear is for teachers only.
// Its join hook fails while the state holds "broken".
type board struct{ calls atomic.Int32 }

func (b *board) Handle(_ context.Context, c *core.Call) (*core.Result, error) {
	switch c.Hook {
	case core.HookJoin:
		if c.State["broken"] != nil {
			return nil, errors.New("board too large to send")
		}
		return &core.Result{Replies: []core.Emit{{Type: "board.snapshot", Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, len(c.State)))}}}, nil
	case core.HookLeave:
		return nil, nil
	}
	b.calls.Add(1)
	var d struct{ ID string }
	_ = json.Unmarshal(c.Data, &d)
	switch c.Type {
	case "board.draw":
		if c.State[d.ID] != nil {
			return &core.Result{Reject: "element exists"}, nil
		}
		return &core.Result{Ops: []core.StateOp{{Op: core.OpSet, Key: d.ID, Value: []byte("1")}},
			Emits: []core.Emit{{Type: "board.draw", Durable: true, Data: c.Data}}}, nil
	case "board.erase":
		if c.State[d.ID] == nil {
			return &core.Result{Reject: "no such element"}, nil
		}
		return &core.Result{Ops: []core.StateOp{{Op: core.OpDel, Key: d.ID}},
			Emits: []core.Emit{{Type: "board.erase", Durable: true, Data: c.Data}}}, nil
	case "board.clear":
		if c.Sender.Role != "teacher" {
			return &core.Result{Reject: "only teachers may clear the board", Forbidden: true}, nil
		}
		return &core.Result{Ops: []core.StateOp{{Op: core.OpClear}}, Emits: []core.Emit{{Type: "board.clear", Durable: true}}}, nil
	case "board.cursor":
		return &core.Result{Emits: []core.Emit{{Type: "board.cursor", Data: c.Data}}}, nil
	case "board.emit":
		// Emits whatever type and data the frame asks for (a buggy plugin).
		var e struct {
			T string
			D string
		}
		_ = json.Unmarshal(c.Data, &e)
		if e.D == "invalid-utf8" {
			e.D = "{\"a\":\"\xff\"}"
		}
		return &core.Result{Emits: []core.Emit{{Type: e.T, Data: json.RawMessage(e.D)}}}, nil
	}
	return &core.Result{Reject: "unknown"}, nil
}

type hfix struct {
	r   *core.Router
	snd *rawSender
	st  *memory.Store
	b   *board
	now atomic.Int64 // unix nanoseconds of the router's clock
}

func newHFix(t *testing.T, direct bool, o core.Options) *hfix {
	t.Helper()
	f := &hfix{snd: newRaw(), b: &board{}}
	f.now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, f.now.Load()) }
	f.st = memory.New(memory.Options{Now: clock})
	o.Store, o.Sender, o.Direct = f.st, f.snd, direct
	if o.Plugins == nil {
		o.Plugins = core.StaticPlugins{"board": f.b, "presence": presenceLike()}
	}
	o.Now = clock
	if o.RatePerSecond == 0 {
		o.RatePerSecond = -1
	}
	r, err := core.NewRouter(o)
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	return f
}

func (f *hfix) connect(t *testing.T, id, user, role string) {
	t.Helper()
	err := f.r.Connect(context.Background(), core.ConnInfo{ID: core.ConnID(id), User: core.User{ID: user, Role: role}, Rooms: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *hfix) recv(t *testing.T, id, frame string) []string {
	t.Helper()
	if err := f.r.Receive(context.Background(), core.ConnID(id), []byte(frame)); err != nil {
		t.Fatal(err)
	}
	return f.snd.take(core.ConnID(id))
}

func decode(t *testing.T, raw string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("invalid JSON %q: %v", raw, err)
	}
	return m
}

func modes(t *testing.T, run func(t *testing.T, direct bool)) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) { run(t, direct) })
	}
}

// TestInvalidInputNotRelayed: a frame with invalid UTF-8 or a bad room or
// type is answered bad_request on both deployments' code paths; nothing of
// it reaches the other member or the room's history, and the room keeps
// working.
func TestInvalidInputNotRelayed(t *testing.T) {
	modes(t, func(t *testing.T, direct bool) {
		f := newHFix(t, direct, core.Options{})
		f.connect(t, "m", "mallory", "student")
		f.connect(t, "o", "olga", "student")
		f.recv(t, "m", `{"type":"join","room":"r"}`)
		f.recv(t, "o", `{"type":"join","room":"r"}`)
		f.snd.take("m")
		tests := []struct{ name, frame string }{
			{"0xFF in draw data", "{\"type\":\"board.draw\",\"room\":\"r\",\"id\":\"x\",\"data\":{\"id\":\"e1\",\"label\":\"\xff\"}}"},
			{"0xFF as a raw value", "{\"type\":\"board.draw\",\"room\":\"r\",\"id\":\"x\",\"data\":{\"id\":\"e2\xff\"}}"},
			{"0xFE in room", "{\"type\":\"board.draw\",\"room\":\"r\xfe\",\"id\":\"x\",\"data\":{\"id\":\"e3\"}}"},
			{"control character in type", `{"type":"board.dr\u0001aw","room":"r","id":"x","data":{"id":"e4"}}`},
			{"control character in room", `{"type":"join","room":"r\u001b[2J","id":"x"}`},
			{"over-long room", `{"type":"join","room":"` + strings.Repeat("x", 300) + `","id":"x"}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := f.recv(t, "m", tt.frame)
				if len(got) != 1 {
					t.Fatalf("answers: %q", got)
				}
				if m := decode(t, got[0]); m["code"] != "bad_request" || m["id"] != "x" {
					t.Fatalf("answer: %s", got[0])
				}
				if o := f.snd.take("o"); len(o) != 0 {
					t.Fatalf("other member received %q", o)
				}
			})
		}
		snap, err := f.st.Snapshot(context.Background(), "r", "board")
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.State["board"]) != 0 || f.b.calls.Load() != 0 {
			t.Fatalf("invalid frames reached the plugin: state %v, %d calls", snap.State["board"], f.b.calls.Load())
		}
		// The room still works.
		f.recv(t, "m", `{"type":"board.draw","room":"r","id":"ok","data":{"id":"e1"}}`)
		if o := f.snd.take("o"); len(o) != 1 || !strings.Contains(o[0], `"board.draw"`) {
			t.Fatalf("other member after the attack: %q", o)
		}
		if len(f.snd.bad) != 0 {
			t.Fatalf("invalid frames sent: %q", f.snd.bad)
		}
	})
}

// TestEmitsValidated: a plugin's emits and the admin broadcast follow the
// same type and data rules as client frames.
func TestEmitsValidated(t *testing.T) {
	f := newHFix(t, false, core.Options{})
	f.connect(t, "a", "ann", "teacher")
	f.recv(t, "a", `{"type":"join","room":"r"}`)
	tests := []struct{ name, t, d, code string }{
		{"valid", "board.note", `{"a":1}`, ""},
		{"control character in type", "board.no\u0007te", `{}`, "plugin_error"},
		{"upper case type", "Board.note", `{}`, "plugin_error"},
		{"type of 65 bytes", "board." + strings.Repeat("n", 59), `{}`, "plugin_error"},
		{"invalid UTF-8 data", "board.note", "invalid-utf8", "plugin_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame, _ := json.Marshal(map[string]any{"type": "board.emit", "room": "r", "id": tt.name, "data": map[string]string{"T": tt.t, "D": tt.d}})
			got := f.recv(t, "a", string(frame))
			last := decode(t, got[len(got)-1])
			if tt.code == "" {
				if last["type"] != "ack" {
					t.Fatalf("valid emit: %q", got)
				}
				return
			}
			if last["code"] != tt.code || len(got) != 1 {
				t.Fatalf("got %q, want %s", got, tt.code)
			}
		})
	}
	ctx := context.Background()
	bc := []struct {
		name, room, typ, data string
		ok                    bool
	}{
		{"valid", "r", "system.notice", `{"text":"hi"}`, true},
		{"control character in type", "r", "system.no\ntice", `{}`, false},
		{"bad type", "r", "notice", `{}`, false},
		{"invalid UTF-8 data", "r", "system.notice", "{\"text\":\"\xff\"}", false},
		{"over-long room", strings.Repeat("r", 257), "system.notice", `{}`, false},
		{"control character in room", "r\x00", "system.notice", `{}`, false},
	}
	for _, tt := range bc {
		_, err := f.r.Broadcast(ctx, tt.room, tt.typ, json.RawMessage(tt.data))
		if (err == nil) != tt.ok {
			t.Errorf("Broadcast %s: err %v", tt.name, err)
		}
	}
	if len(f.snd.bad) != 0 {
		t.Fatalf("invalid frames sent: %q", f.snd.bad)
	}
}

// TestContractFields: joined carries seq 0 in a fresh room, resync always
// carries seq, acks of durable frames carry seq and acks of ephemeral ones
// none; arrays are arrays.
func TestContractFields(t *testing.T) {
	modes(t, func(t *testing.T, direct bool) {
		// Only board here: presence would make the room's seq 1 on join.
		f := newHFix(t, direct, core.Options{Plugins: core.StaticPlugins{"board": &board{}}})
		f.connect(t, "a", "ann", "student")
		got := f.recv(t, "a", `{"type":"join","room":"fresh","id":"j"}`)
		if len(got) < 1 || !strings.HasPrefix(got[0], `{"type":"joined"`) || !strings.Contains(got[0], `"seq":0`) || !strings.Contains(got[0], `"features":["board"]`) {
			t.Fatalf("joined of a fresh room: %q", got)
		}
		got = f.recv(t, "a", `{"type":"join","room":"fresh","id":"j2","since":5}`)
		if len(got) < 2 || !strings.Contains(got[1], `"type":"resync"`) || !strings.Contains(got[1], `"seq":0`) {
			t.Fatalf("resync in a fresh room: %q", got)
		}
		got = f.recv(t, "a", `{"type":"board.cursor","room":"fresh","id":"c","data":{"x":1}}`)
		if ack := got[len(got)-1]; ack != `{"type":"ack","id":"c"}` {
			t.Fatalf("ack of an ephemeral frame: %s", ack)
		}
		got = f.recv(t, "a", `{"type":"board.draw","room":"fresh","id":"d","data":{"id":"e"}}`)
		if ack := got[len(got)-1]; ack != `{"type":"ack","id":"d","seq":1}` {
			t.Fatalf("ack of a durable frame: %s", ack)
		}
		got = f.recv(t, "a", `{"type":"ping","id":"p"}`)
		if len(got) != 1 || got[0] != `{"type":"pong","id":"p"}` {
			t.Fatalf("pong: %q", got)
		}
	})
}

// TestForbiddenFromPlugin: a plugin's role refusal is forbidden, its other
// refusals rejected.
func TestForbiddenFromPlugin(t *testing.T) {
	modes(t, func(t *testing.T, direct bool) {
		f := newHFix(t, direct, core.Options{})
		f.connect(t, "s", "sam", "student")
		f.recv(t, "s", `{"type":"join","room":"r"}`)
		tests := []struct{ frame, code string }{
			{`{"type":"board.clear","room":"r","id":"x"}`, "forbidden"},
			{`{"type":"board.erase","room":"r","id":"y","data":{"id":"nope"}}`, "rejected"},
		}
		for _, tt := range tests {
			got := f.recv(t, "s", tt.frame)
			if len(got) != 1 || decode(t, got[0])["code"] != tt.code {
				t.Fatalf("%s: %q, want %s", tt.frame, got, tt.code)
			}
		}
	})
}

// TestRetryAnsweredBeforePlugin: a retried id gets the original answer
// (ack with seq, or the original refusal) without calling the plugin, and
// nothing is delivered twice.
func TestRetryAnsweredBeforePlugin(t *testing.T) {
	modes(t, func(t *testing.T, direct bool) {
		f := newHFix(t, direct, core.Options{})
		f.connect(t, "a", "ann", "student")
		f.connect(t, "a2", "ann", "student") // ann's second tab
		f.connect(t, "o", "olga", "student")
		for _, c := range []string{"a", "a2", "o"} {
			f.recv(t, c, `{"type":"join","room":"r"}`)
		}
		f.snd.take("o")
		draw := f.recv(t, "a", `{"type":"board.draw","room":"r","id":"d1","data":{"id":"e1"}}`)
		erase := f.recv(t, "a", `{"type":"board.erase","room":"r","id":"x1","data":{"id":"e1"}}`)
		bad := f.recv(t, "a", `{"type":"board.erase","room":"r","id":"x2","data":{"id":"zz"}}`)
		f.recv(t, "a2", `{"type":"ping"}`)
		f.snd.take("o")
		calls := f.b.calls.Load()
		tests := []struct {
			name, conn, frame string
			want              []string
		}{
			{"draw again", "a", `{"type":"board.draw","room":"r","id":"d1","data":{"id":"e1"}}`, draw},
			{"erase again", "a", `{"type":"board.erase","room":"r","id":"x1","data":{"id":"e1"}}`, erase},
			{"erase again from another tab", "a2", `{"type":"board.erase","room":"r","id":"x1","data":{"id":"e1"}}`, erase},
			{"refusal again", "a", `{"type":"board.erase","room":"r","id":"x2","data":{"id":"zz"}}`, bad},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := f.recv(t, tt.conn, tt.frame)
				if len(got) != 1 || got[0] != tt.want[len(tt.want)-1] {
					t.Fatalf("retry answered %q, want only the original answer %q", got, tt.want[len(tt.want)-1])
				}
				if o := f.snd.take("o"); len(o) != 0 {
					t.Fatalf("retry delivered again: %q", o)
				}
			})
		}
		if n := f.b.calls.Load(); n != calls {
			t.Fatalf("the plugin ran %d more times for retries", n-calls)
		}
		if erase[len(erase)-1] != `{"type":"ack","id":"x1","seq":4}` || !strings.Contains(bad[0], `"rejected"`) {
			t.Fatalf("originals: %q %q", erase, bad)
		}
		// Another user's same id is not a retry.
		f.recv(t, "o", `{"type":"board.draw","room":"r","id":"d1","data":{"id":"e9"}}`)
		if n := f.b.calls.Load(); n != calls+1 {
			t.Fatal("another user's id was taken for a retry")
		}
		// After the window the id is new again.
		f.now.Add(int64(6 * time.Minute))
		f.snd.take("a")
		if got := f.recv(t, "a", `{"type":"board.erase","room":"r","id":"x2","data":{"id":"zz"}}`); len(got) != 1 || f.b.calls.Load() != calls+2 {
			t.Fatalf("id after the window: %q", got)
		}
	})
}

// TestRejoinIsCheap: joining a room again answers joined (and the replay)
// without the join hooks; a re-join that resyncs gets the join state again.
func TestRejoinIsCheap(t *testing.T) {
	modes(t, func(t *testing.T, direct bool) {
		f := newHFix(t, direct, core.Options{})
		f.connect(t, "a", "ann", "student")
		first := f.recv(t, "a", `{"type":"join","room":"r","id":"j"}`)
		if n := len(first); n != 4 { // joined, board.snapshot, presence.state, presence.join
			t.Fatalf("first join: %q", first)
		}
		f.recv(t, "a", `{"type":"board.draw","room":"r","id":"d","data":{"id":"e1"}}`)
		tests := []struct {
			name, frame string
			want        []string // types in order
		}{
			{"re-join", `{"type":"join","room":"r","id":"j2"}`, []string{"joined"}},
			{"re-join with since", `{"type":"join","room":"r","id":"j3","since":1}`, []string{"joined", "board.draw"}},
			{"re-join that resyncs", `{"type":"join","room":"r","id":"j4","since":99}`, []string{"joined", "resync", "board.snapshot", "presence.state"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := f.recv(t, "a", tt.frame)
				var ts []string
				for _, g := range got {
					ts = append(ts, decode(t, g)["type"].(string))
				}
				if strings.Join(ts, " ") != strings.Join(tt.want, " ") {
					t.Fatalf("got %q", got)
				}
			})
		}
	})
}

// TestJoinChargesRateLimit: replayed events and join states cost the
// connection rate-limit tokens by size, so a re-join flood asking for a
// long replay runs dry and is closed, not served at full size.
func TestJoinChargesRateLimit(t *testing.T) {
	f := newHFix(t, false, core.Options{RatePerSecond: 1, RateBurst: 20, AbuseLimit: 5, MaxMessageBytes: 1024})
	f.connect(t, "w", "writer", "student")
	f.connect(t, "a", "ann", "student")
	f.recv(t, "w", `{"type":"join","room":"r"}`)
	big := strings.Repeat("x", 900)
	for i := 0; i < 16; i++ {
		f.now.Add(int64(time.Second)) // the writer stays within its rate
		f.recv(t, "w", fmt.Sprintf(`{"type":"board.draw","room":"r","data":{"id":"e%d","pad":%q}}`, i, big))
	}
	f.recv(t, "a", `{"type":"join","room":"r"}`)
	in, out, joins := 0, 0, 0
	for i := 0; i < 200; i++ {
		frame := fmt.Sprintf(`{"type":"join","room":"r","id":"j%d","since":0}`, i)
		in += len(frame)
		for _, g := range f.recv(t, "a", frame) {
			out += len(g)
			if strings.HasPrefix(g, `{"type":"joined"`) {
				joins++
			}
		}
		if f.snd.closed["a"] != 0 {
			break
		}
	}
	if f.snd.closed["a"] != core.ClosePolicy {
		t.Fatalf("re-join flood not closed (%d joins answered, %d bytes out for %d in)", joins, out, in)
	}
	// Each replay is ~16 KiB, i.e. 16 tokens: the burst of 20 pays for
	// one, the debt allows one more; then the abuse limit closes it.
	if joins > 3 {
		t.Fatalf("%d replays of 16 KiB served from a burst of 20 tokens", joins)
	}
}

// TestJoinHookFailureIsReported: a newcomer whose join state cannot be
// built gets an error naming the plugin, not silence.
func TestJoinHookFailureIsReported(t *testing.T) {
	modes(t, func(t *testing.T, direct bool) {
		f := newHFix(t, direct, core.Options{})
		if _, err := f.st.Commit(context.Background(), core.Commit{Room: "r", Namespace: "board", Ops: []core.StateOp{{Op: core.OpSet, Key: "broken", Value: []byte("1")}}}); err != nil {
			t.Fatal(err)
		}
		f.connect(t, "a", "ann", "student")
		got := f.recv(t, "a", `{"type":"join","room":"r","id":"j"}`)
		var errFrame map[string]any
		for _, g := range got {
			if m := decode(t, g); m["type"] == "error" {
				errFrame = m
			}
		}
		if errFrame == nil || errFrame["code"] != "plugin_error" || errFrame["room"] != "r" || !strings.Contains(errFrame["message"].(string), "board") {
			t.Fatalf("join with a failing join hook: %q", got)
		}
		if !strings.Contains(strings.Join(got, " "), "presence.state") {
			t.Fatalf("the other plugins' join state is missing: %q", got)
		}
	})
}

// TestBinaryFramesRateLimited: binary frames are answered bad_request, but
// only while the rate limit allows; a flood is closed with 1008 like a
// text flood.
func TestBinaryFramesRateLimited(t *testing.T) {
	f := newHFix(t, false, core.Options{RatePerSecond: 1, RateBurst: 3, AbuseLimit: 4})
	f.connect(t, "b", "bin", "student")
	ctx := context.Background()
	var codes []string
	for i := 0; i < 20 && f.snd.closed["b"] == 0; i++ {
		if err := f.r.ReceiveBinary(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		for _, g := range f.snd.take("b") {
			codes = append(codes, decode(t, g)["code"].(string))
		}
	}
	want := "bad_request bad_request bad_request rate_limited rate_limited rate_limited"
	if strings.Join(codes, " ") != want || f.snd.closed["b"] != core.ClosePolicy {
		t.Fatalf("binary flood answered %q, closed %d; want %q then 1008", codes, f.snd.closed["b"], want)
	}
	// Another connection is served.
	f.connect(t, "c", "ok", "student")
	if got := f.recv(t, "c", `{"type":"ping","id":"p"}`); len(got) != 1 {
		t.Fatalf("after the flood: %q", got)
	}
}
