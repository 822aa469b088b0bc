package core_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
)

// protoStep is one frame a connection sends before the frame under test;
// its answers are discarded. advance moves the router's clock instead.
type protoStep struct {
	conn, frame string
	advance     time.Duration
}

// TestProtocolRules: one case per rule of docs/PROTOCOL.md, each named
// after the rule it checks, run on the memory store in both deployments'
// code paths (standalone: the hub; direct: Lambda's fan-out) unless the
// rule is one deployment's. Every case starts from a fresh router with the
// board and presence plugins and connections a (ann, teacher), a2 (ann's
// second tab), b (bob, student) and m (mia, student, token rooms
// "math-*"), sends its setup frames, then the frame under test, and checks
// what the sending connection got: each want is a JSON object whose keys
// must be in the answer with these values ("*": present, any value;
// null: absent), in order and nothing more. Rules whose detail has its own
// test elsewhere name it.
func TestProtocolRules(t *testing.T) {
	long := strings.Repeat("x", core.MaxIDLen+1)
	cases := []struct {
		rule           string
		opts           core.Options
		setup          []protoStep
		conn, frame    string
		want           []string
		closed         int  // close code the connection must get (0: none)
		standaloneOnly bool // a rule of the standalone deployment only
	}{
		// Join.
		{rule: "join: joined first (seq 0 in a fresh room, epoch, connection id, the token's user, features), then each plugin's join state, then live events",
			conn: "a", frame: `{"type":"join","room":"r","id":"j"}`,
			want: []string{
				`{"type":"joined","room":"r","id":"j","seq":0,"epoch":"*","connection_id":"a","user":{"id":"ann","role":"teacher"},"features":["board","presence"]}`,
				`{"type":"board.snapshot","room":"r"}`, `{"type":"presence.state","room":"r"}`,
				`{"type":"presence.join","room":"r","seq":1,"from":{"id":"ann","role":"teacher"}}`}},
		{rule: "join: since replays every durable event with since < seq <= joined.seq, in order, before the join state",
			setup: []protoStep{{conn: "b", frame: `{"type":"join","room":"r"}`},
				{conn: "b", frame: `{"type":"board.draw","room":"r","data":{"id":"e1"}}`},
				{conn: "b", frame: `{"type":"board.draw","room":"r","data":{"id":"e2"}}`}},
			conn: "a", frame: `{"type":"join","room":"r","id":"j","since":1}`,
			want: []string{`{"type":"joined","seq":3}`, `{"type":"board.draw","seq":2,"data":{"id":"e1"}}`,
				`{"type":"board.draw","seq":3,"data":{"id":"e2"}}`, `{"type":"board.snapshot"}`, `{"type":"presence.state"}`,
				`{"type":"presence.join","seq":4}`}},
		{rule: "join: since equal to the room's seq replays nothing",
			setup: []protoStep{{conn: "b", frame: `{"type":"join","room":"r"}`}},
			conn:  "a", frame: `{"type":"join","room":"r","since":1}`,
			want: []string{`{"type":"joined","seq":1}`, `{"type":"board.snapshot"}`, `{"type":"presence.state"}`, `{"type":"presence.join","seq":2}`}},
		{rule: "join: since above the room's seq is answered resync (with seq and epoch), then the join state as a fresh start",
			setup: []protoStep{{conn: "b", frame: `{"type":"join","room":"r"}`}},
			conn:  "a", frame: `{"type":"join","room":"r","since":7}`,
			want: []string{`{"type":"joined","seq":1}`, `{"type":"resync","room":"r","seq":1,"epoch":"*"}`,
				`{"type":"board.snapshot"}`, `{"type":"presence.state"}`, `{"type":"presence.join","seq":2}`}},
		{rule: "join: since with an epoch that is not the room's is answered resync, even if since looks replayable",
			setup: []protoStep{{conn: "b", frame: `{"type":"join","room":"r"}`}},
			conn:  "a", frame: `{"type":"join","room":"r","since":0,"epoch":"0000000000000000"}`,
			want: []string{`{"type":"joined","seq":1}`, `{"type":"resync","seq":1}`,
				`{"type":"board.snapshot"}`, `{"type":"presence.state"}`, `{"type":"presence.join","seq":2}`}},
		{rule: "join: since older than the history reaches is answered resync (history limit; memory store keeps 1000)",
			setup: append([]protoStep{{conn: "b", frame: `{"type":"join","room":"r"}`}}, drawSteps("b", 1001)...),
			conn:  "a", frame: `{"type":"join","room":"r","since":0}`,
			want: []string{`{"type":"joined","seq":1002}`, `{"type":"resync","seq":1002}`,
				`{"type":"board.snapshot"}`, `{"type":"presence.state"}`, `{"type":"presence.join","seq":1003}`}},
		{rule: "join: a repeated join answers joined only (no join state again; TestRejoinIsCheap has the variants)",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`}},
			conn:  "a", frame: `{"type":"join","room":"r","id":"j2"}`,
			want: []string{`{"type":"joined","id":"j2","seq":1}`}},
		{rule: "join: the second tab of a user gets the join state but announces nothing (plugin hook FirstOfUser)",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`}},
			conn:  "a2", frame: `{"type":"join","room":"r"}`,
			want: []string{`{"type":"joined","seq":1,"connection_id":"a2"}`, `{"type":"board.snapshot"}`, `{"type":"presence.state"}`}},
		{rule: "join: a room not in the token's rooms is forbidden",
			conn: "m", frame: `{"type":"join","room":"art-1","id":"j"}`,
			want: []string{`{"type":"error","id":"j","code":"forbidden"}`}},
		{rule: "join: a room matching the token's prefix pattern is allowed",
			conn: "m", frame: `{"type":"join","room":"math-1","id":"j"}`,
			want: []string{`{"type":"joined","id":"j","seq":0}`, `{"type":"board.snapshot"}`, `{"type":"presence.state"}`, `{"type":"presence.join","seq":1}`}},
		{rule: "join: more rooms than limits.max_rooms_per_conn is forbidden",
			opts:  core.Options{MaxRoomsPerConn: 1},
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r1"}`}},
			conn:  "a", frame: `{"type":"join","room":"r2","id":"j"}`,
			want: []string{`{"type":"error","id":"j","code":"forbidden"}`}},
		{rule: "join: a join without room is bad_request",
			conn: "a", frame: `{"type":"join","id":"j"}`,
			want: []string{`{"type":"error","id":"j","code":"bad_request"}`}},

		// Leave.
		{rule: "leave: answered ack without seq",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`}, {conn: "b", frame: `{"type":"join","room":"r"}`}},
			conn:  "a", frame: `{"type":"leave","room":"r","id":"l"}`,
			want: []string{`{"type":"ack","id":"l","seq":null}`}},
		{rule: "leave: the others see the user's departure (leave hook) and the leaver gets no more room events",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`}, {conn: "b", frame: `{"type":"join","room":"r"}`},
				{conn: "a", frame: `{"type":"leave","room":"r"}`}},
			conn: "b", frame: `{"type":"board.draw","room":"r","id":"d","data":{"id":"e"}}`,
			want: []string{`{"type":"board.draw","seq":4}`, `{"type":"ack","id":"d","seq":4}`}},
		{rule: "leave: a plugin frame after leave is not_joined",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`}, {conn: "a", frame: `{"type":"leave","room":"r"}`}},
			conn:  "a", frame: `{"type":"board.draw","room":"r","id":"d","data":{"id":"e"}}`,
			want: []string{`{"type":"error","id":"d","code":"not_joined"}`}},
		{rule: "leave: a room this connection has not joined is not_joined",
			conn: "a", frame: `{"type":"leave","room":"r","id":"l"}`,
			want: []string{`{"type":"error","id":"l","code":"not_joined"}`}},
		{rule: "leave: a leave without room is bad_request",
			conn: "a", frame: `{"type":"leave","id":"l"}`,
			want: []string{`{"type":"error","id":"l","code":"bad_request"}`}},

		// Acknowledgement and de-duplication.
		{rule: "ack: a frame that produced durable events is acked with the seq of the first, after the event",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`}},
			conn:  "a", frame: `{"type":"board.draw","room":"r","id":"d","data":{"id":"e"}}`,
			want: []string{`{"type":"board.draw","seq":2,"from":{"id":"ann","role":"teacher"}}`, `{"type":"ack","id":"d","seq":2}`}},
		{rule: "ack: a frame that produced only ephemeral events is acked without seq",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`}},
			conn:  "a", frame: `{"type":"board.cursor","room":"r","id":"c","data":{"x":1}}`,
			want: []string{`{"type":"board.cursor","seq":null}`, `{"type":"ack","id":"c","seq":null}`}},
		{rule: "ack: a frame without id gets no ack",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`}},
			conn:  "a", frame: `{"type":"board.draw","room":"r","data":{"id":"e"}}`,
			want: []string{`{"type":"board.draw","seq":2}`}},
		{rule: "dedupe: a repeated id from the same user in the same room gets the original ack and is not delivered again (TestRetryAnsweredBeforePlugin has the variants)",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`},
				{conn: "a", frame: `{"type":"board.draw","room":"r","id":"d1","data":{"id":"e1"}}`}},
			conn: "a", frame: `{"type":"board.draw","room":"r","id":"d1","data":{"id":"e1"}}`,
			want: []string{`{"type":"ack","id":"d1","seq":2}`}},
		{rule: "dedupe: the user's other connection repeating the id gets the original ack",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`}, {conn: "a2", frame: `{"type":"join","room":"r"}`},
				{conn: "a", frame: `{"type":"board.draw","room":"r","id":"d1","data":{"id":"e1"}}`}},
			conn: "a2", frame: `{"type":"board.draw","room":"r","id":"d1","data":{"id":"e1"}}`,
			want: []string{`{"type":"ack","id":"d1","seq":2}`}},
		{rule: "dedupe: the same id from another user is a new frame",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`}, {conn: "b", frame: `{"type":"join","room":"r"}`},
				{conn: "a", frame: `{"type":"board.draw","room":"r","id":"d1","data":{"id":"e1"}}`}},
			conn: "b", frame: `{"type":"board.draw","room":"r","id":"d1","data":{"id":"e2"}}`,
			want: []string{`{"type":"board.draw","seq":4}`, `{"type":"ack","id":"d1","seq":4}`}},
		{rule: "dedupe: the same id in another room is a new frame",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`}, {conn: "a", frame: `{"type":"join","room":"s"}`},
				{conn: "a", frame: `{"type":"board.draw","room":"r","id":"d1","data":{"id":"e1"}}`}},
			conn: "a", frame: `{"type":"board.draw","room":"s","id":"d1","data":{"id":"e1"}}`,
			want: []string{`{"type":"board.draw","room":"s","seq":2}`, `{"type":"ack","id":"d1","seq":2}`}},
		{rule: "dedupe: a plugin's refusal is the answer a retry gets again",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`},
				{conn: "a", frame: `{"type":"board.erase","room":"r","id":"x","data":{"id":"nope"}}`},
				{conn: "a", frame: `{"type":"board.draw","room":"r","data":{"id":"nope"}}`}},
			conn: "a", frame: `{"type":"board.erase","room":"r","id":"x","data":{"id":"nope"}}`,
			want: []string{`{"type":"error","id":"x","code":"rejected","message":"no such element"}`}},
		{rule: "dedupe: an id is new again after dedupe.window",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`},
				{conn: "a", frame: `{"type":"board.draw","room":"r","id":"d1","data":{"id":"e1"}}`},
				{advance: 6 * time.Minute}},
			conn: "a", frame: `{"type":"board.draw","room":"r","id":"d1","data":{"id":"e2"}}`,
			want: []string{`{"type":"board.draw","seq":3}`, `{"type":"ack","id":"d1","seq":3}`}},

		// Errors.
		{rule: "bad_request: not JSON",
			conn: "a", frame: `nope`,
			want: []string{`{"type":"error","code":"bad_request","id":null}`}},
		{rule: "bad_request: a JSON value that is not an object",
			conn: "a", frame: `[1,2]`,
			want: []string{`{"type":"error","code":"bad_request"}`}},
		{rule: "bad_request: no type, and the id is recovered for the error",
			conn: "a", frame: `{"room":"r","id":"x"}`,
			want: []string{`{"type":"error","id":"x","code":"bad_request"}`}},
		{rule: "bad_request: a field of the wrong type",
			conn: "a", frame: `{"type":"join","room":"r","id":"x","since":"7"}`,
			want: []string{`{"type":"error","id":"x","code":"bad_request"}`}},
		{rule: "bad_request: since outside join",
			conn: "a", frame: `{"type":"ping","id":"x","since":1}`,
			want: []string{`{"type":"error","id":"x","code":"bad_request"}`}},
		{rule: "bad_request: an id over 64 characters",
			conn: "a", frame: `{"type":"ping","id":"` + long + `"}`,
			want: []string{`{"type":"error","code":"bad_request"}`}},
		{rule: "bad_request: a plugin frame without room",
			conn: "a", frame: `{"type":"board.draw","id":"x"}`,
			want: []string{`{"type":"error","id":"x","code":"bad_request"}`}},
		{rule: "unknown_type: a control type we do not know",
			conn: "a", frame: `{"type":"subscribe","room":"r","id":"x"}`,
			want: []string{`{"type":"error","id":"x","code":"unknown_type"}`}},
		{rule: "unknown_type: a namespace with no plugin enabled in the room",
			setup: []protoStep{{conn: "a", frame: `{"type":"join","room":"r"}`}},
			conn:  "a", frame: `{"type":"quiz.answer","room":"r","id":"x"}`,
			want: []string{`{"type":"error","id":"x","code":"unknown_type"}`}},
		{rule: "not_joined: a plugin frame for a room this connection has not joined",
			conn: "a", frame: `{"type":"board.draw","room":"r","id":"x","data":{"id":"e"}}`,
			want: []string{`{"type":"error","id":"x","code":"not_joined"}`}},
		{rule: "too_large: a frame above limits.max_message_bytes, id recovered",
			opts: core.Options{MaxMessageBytes: 100},
			conn: "a", frame: `{"type":"ping","id":"x","pad":"` + strings.Repeat("p", 100) + `"}`,
			want: []string{`{"type":"error","id":"x","code":"too_large"}`}},
		{rule: "forbidden: a plugin's role rule (a student's clear)",
			setup: []protoStep{{conn: "b", frame: `{"type":"join","room":"r"}`}},
			conn:  "b", frame: `{"type":"board.clear","room":"r","id":"x"}`,
			want: []string{`{"type":"error","id":"x","code":"forbidden"}`}},
		{rule: "rejected: a plugin's other refusal, with its reason",
			setup: []protoStep{{conn: "b", frame: `{"type":"join","room":"r"}`}},
			conn:  "b", frame: `{"type":"board.erase","room":"r","id":"x","data":{"id":"nope"}}`,
			want: []string{`{"type":"error","id":"x","code":"rejected","message":"no such element"}`}},
		{rule: "rate_limited: a frame when the connection's token bucket is empty (limits.rate_per_second, rate_burst)",
			opts:  core.Options{RatePerSecond: 1, RateBurst: 1},
			setup: []protoStep{{conn: "a", frame: `{"type":"ping"}`}},
			conn:  "a", frame: `{"type":"ping","id":"p"}`,
			want:           []string{`{"type":"error","id":"p","code":"rate_limited"}`},
			standaloneOnly: true},
		{rule: "rate_limited: the bucket refills with time",
			opts:  core.Options{RatePerSecond: 1, RateBurst: 1},
			setup: []protoStep{{conn: "a", frame: `{"type":"ping"}`}, {advance: time.Second}},
			conn:  "a", frame: `{"type":"ping","id":"p"}`,
			want:           []string{`{"type":"pong","id":"p"}`},
			standaloneOnly: true},
		{rule: "abuse: limits.abuse_limit frames in a row refused by the rate limiter close the connection with 1008",
			opts:  core.Options{RatePerSecond: 1, RateBurst: 1, AbuseLimit: 2},
			setup: []protoStep{{conn: "a", frame: `{"type":"ping"}`}, {conn: "a", frame: `{"type":"ping"}`}},
			conn:  "a", frame: `{"type":"ping","id":"p"}`,
			want: nil, closed: core.ClosePolicy, standaloneOnly: true},
		{rule: "the connection stays open after a bad frame",
			setup: []protoStep{{conn: "a", frame: `nope`}, {conn: "a", frame: `{"type":"nope"}`}},
			conn:  "a", frame: `{"type":"ping","id":"p"}`,
			want: []string{`{"type":"pong","id":"p"}`}},

		// Ping, token expiry.
		{rule: "ping: answered pong with its id",
			conn: "a", frame: `{"type":"ping","id":"p"}`,
			want: []string{`{"type":"pong","id":"p"}`}},
		{rule: "ping: without id, a pong without id",
			conn: "a", frame: `{"type":"ping"}`,
			want: []string{`{"type":"pong","id":null}`}},
		{rule: "token: a frame after the token's exp closes the connection with 4001",
			setup: []protoStep{{advance: 2 * time.Hour}},
			conn:  "a", frame: `{"type":"ping","id":"p"}`,
			want: nil, closed: core.CloseTokenExpired},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			modes(t, func(t *testing.T, direct bool) {
				if direct && tc.standaloneOnly {
					t.Skip("a rule of the standalone deployment (PROTOCOL.md, differences between deployments)")
				}
				f := newHFix(t, direct, tc.opts)
				exp := time.Unix(0, f.now.Load()).Add(time.Hour)
				for _, c := range []struct{ id, user, role string }{{"a", "ann", "teacher"}, {"a2", "ann", "teacher"}, {"b", "bob", "student"}} {
					if err := f.r.Connect(context.Background(), core.ConnInfo{ID: core.ConnID(c.id), User: core.User{ID: c.user, Role: c.role}, Rooms: []string{"*"}, Expires: exp}); err != nil {
						t.Fatal(err)
					}
				}
				if err := f.r.Connect(context.Background(), core.ConnInfo{ID: "m", User: core.User{ID: "mia", Role: "student"}, Rooms: []string{"math-*"}, Expires: exp}); err != nil {
					t.Fatal(err)
				}
				for _, s := range tc.setup {
					if s.advance != 0 {
						f.now.Add(int64(s.advance))
						continue
					}
					f.recv(t, s.conn, s.frame)
				}
				for _, id := range []core.ConnID{"a", "a2", "b", "m"} {
					f.snd.take(id)
				}
				got := f.recv(t, tc.conn, tc.frame)
				if len(got) != len(tc.want) {
					t.Fatalf("got %d frames, want %d:\n got %q\nwant %q", len(got), len(tc.want), got, tc.want)
				}
				for i, w := range tc.want {
					if err := subset(decode(t, w), decode(t, got[i])); err != nil {
						t.Fatalf("frame %d: %v\n got %s\nwant %s", i, err, got[i], w)
					}
				}
				f.snd.mu.Lock()
				closed := f.snd.closed[core.ConnID(tc.conn)]
				f.snd.mu.Unlock()
				if closed != tc.closed {
					t.Fatalf("close code %d, want %d", closed, tc.closed)
				}
			})
		})
	}
}

// drawSteps returns n board.draw frames of conn, each of a new element.
func drawSteps(conn string, n int) []protoStep {
	s := make([]protoStep, n)
	for i := range s {
		s[i] = protoStep{conn: conn, frame: fmt.Sprintf(`{"type":"board.draw","room":"r","data":{"id":"e%d"}}`, i)}
	}
	return s
}

// subset checks that every key of want is in got with the same value
// (objects compared recursively the same way), "*" meaning any value and
// null meaning that the key must be absent.
func subset(want, got map[string]any) error {
	for k, w := range want {
		g, ok := got[k]
		switch {
		case w == nil:
			if ok {
				return fmt.Errorf("%q present (%v), want absent", k, g)
			}
		case !ok:
			return fmt.Errorf("%q missing", k)
		case w == "*":
		default:
			if wm, isMap := w.(map[string]any); isMap {
				gm, _ := g.(map[string]any)
				if err := subset(wm, gm); err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
			} else if !reflect.DeepEqual(w, g) {
				return fmt.Errorf("%q is %v, want %v", k, g, w)
			}
		}
	}
	return nil
}
