package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Target describes the deployment under test.
type Target struct {
	// URL is the WebSocket endpoint (ws://127.0.0.1:PORT/ws or the stage URL).
	URL string
	// Secret signs HS256 test tokens.
	Secret []byte
	// HistoryLimit is the deployment's per-room history size (to provoke
	// a resync).
	HistoryLimit int
	// MaxMessageBytes is the largest frame answered normally; larger ones
	// get too_large.
	MaxMessageBytes int
	// HardLimit is the frame size above which the connection is closed
	// with 1009.
	HardLimit int
	// Lambda marks the API Gateway + Lambda deployment: the suites hold it
	// to the same checks, except for the named differences of
	// LambdaDifferences (lambda.go), each asserted as such.
	Lambda bool
	// CloseCode is, on Lambda, the close code of every connection the
	// function closes (awsapigw.LambdaCloseCode; see CloseCodeOfAPIGateway).
	CloseCode int
	// FrameLimit, when > 0, makes the test clients split messages into
	// frames of at most this many bytes (API Gateway closes connections
	// that send frames above 32 KB).
	FrameLimit int
	// PeerURL, when set, is another node of the same gateway (two nodes on
	// Redis). Tests with several clients dial it for every second client
	// (see dialPeer), so that what they check crosses nodes.
	PeerURL string
	// AdminURL, when set, is the admin listener (http://HOST:PORT, with
	// admin.pprof on) of the node at URL, and AdminToken its bearer token:
	// the hostile suite reads the node's heap there after a forced GC.
	// Empty where the deployment has no readable heap (Lambda).
	AdminURL, AdminToken string
	// HistoryAge is the deployment's history.age: the memory store frees
	// an idle room once its history aged out (0: not the memory store).
	HistoryAge time.Duration
	// MaxConnsPerUser is the node's server.max_connections_per_user (0:
	// no per-user cap the suite can check, as on Lambda).
	MaxConnsPerUser int
}

var roomSeq atomic.Int64

// room returns a room name unique to this test run.
func room(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, roomSeq.Add(1))
}

// Run runs the protocol suite against tg.
func Run(t *testing.T, tg Target) {
	tests := []struct {
		name string
		run  func(t *testing.T, tg Target)
	}{
		{"HandshakeAuth", testHandshake},
		{"Ping", testPing},
		{"JoinRules", testJoin},
		{"LeaveAndNotJoined", testLeave},
		{"UnknownType", testUnknownType},
		{"OrderAcrossSenders", testOrder},
		{"EphemeralHasNoSeq", testEphemeral},
		{"ReplaySince", testReplay},
		{"ResyncBeyondHistory", testResync},
		{"Dedupe", testDedupe},
		{"ForgedFromIgnored", testForgedFrom},
		{"BadInput", testBadInput},
		{"GarbageBurst", testGarbageBurst},
		{"OversizeClose", testHardLimit},
		{"TokenExpiryClose", testTokenExpiry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, tg) })
	}
}

func (tg Target) dial(t *testing.T, user, role string, rooms ...string) *Client {
	t.Helper()
	if len(rooms) == 0 {
		rooms = []string{"*"}
	}
	c := Dial(t, tg.URL, Token(t, tg.Secret, user, role, rooms, time.Hour))
	c.frameLimit = tg.FrameLimit
	return c
}

// dialPeer is dial on the other node when the target has one.
func (tg Target) dialPeer(t *testing.T, user, role string, rooms ...string) *Client {
	t.Helper()
	if tg.PeerURL == "" {
		return tg.dial(t, user, role, rooms...)
	}
	p := tg
	p.URL = tg.PeerURL
	return p.dial(t, user, role, rooms...)
}

func testHandshake(t *testing.T, tg Target) {
	tests := []struct {
		name  string
		token string
	}{
		{"no token", ""},
		{"garbage", "not-a-jwt"},
		{"wrong secret", Token(t, []byte("another-secret-another-secret-!!"), "u", "student", []string{"*"}, time.Hour)},
		{"expired", Token(t, tg.Secret, "u", "student", []string{"*"}, -time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, err := TryDial(tg.URL, tt.token)
			if err == nil {
				t.Fatal("handshake accepted")
			}
			if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("want HTTP 401, got %v", resp)
			}
		})
	}
	// And the server still serves.
	c := tg.dial(t, "u-ok", "student")
	c.Send(`{"type":"ping","id":"p"}`)
	c.ExpectType("pong")
}

func testPing(t *testing.T, tg Target) {
	c := tg.dial(t, "pinger", "student")
	c.Send(`{"type":"ping","id":"p1"}`)
	if m := c.Next(5 * time.Second); m.Type != "pong" || m.ID != "p1" {
		t.Fatalf("ping answered with %s", m.Raw)
	}
}

func testJoin(t *testing.T, tg Target) {
	r := room("school-7/math")
	c := tg.dial(t, "ann", "teacher", "school-7/*", "exact-room")
	tests := []struct {
		name  string
		frame string
		code  string
	}{
		{"room not in claim", `{"type":"join","room":"school-8/x","id":"a"}`, "forbidden"},
		{"prefix is not exact", `{"type":"join","room":"exact-room-2","id":"a"}`, "forbidden"},
		{"no room", `{"type":"join","id":"a"}`, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Send(tt.frame)
			m := c.ExpectReply("a")
			if m.Type != "error" || m.Code != tt.code {
				t.Fatalf("got %s, want error %s", m.Raw, tt.code)
			}
		})
	}
	m := c.Join(r, -1)
	if m.Room != r || m.ConnectionID == "" || m.User == nil || m.User.ID != "ann" || m.User.Role != "teacher" || m.User.Name != "Name ann" {
		t.Fatalf("joined frame: %s", m.Raw)
	}
	if m.Features == nil || !strings.Contains(m.Raw, `"features":[`) {
		t.Fatalf("joined without features array: %s", m.Raw)
	}
	c.Say(r, "m1", "hello")
	c2 := tg.dial(t, "bob", "student", "*")
	if m2 := c2.Join(r, -1); m2.Seq < 1 || m2.ConnectionID == m.ConnectionID {
		t.Fatalf("second joined frame: %s", m2.Raw)
	}
	c3 := tg.dial(t, "cid", "student", "exact-room")
	c3.Join("exact-room", -1)
}

func testLeave(t *testing.T, tg Target) {
	r := room("leave")
	c := tg.dial(t, "lee", "student")
	c.Send(fmt.Sprintf(`{"type":"chat.send","room":%q,"id":"x1","data":{"text":"hi"}}`, r))
	if m := c.ExpectReply("x1"); m.Code != "not_joined" {
		t.Fatalf("send before join: %s", m.Raw)
	}
	c.Join(r, -1)
	c.Send(fmt.Sprintf(`{"type":"leave","room":%q,"id":"l1"}`, r))
	if m := c.ExpectReply("l1"); m.Type != "ack" {
		t.Fatalf("leave: %s", m.Raw)
	}
	c.Send(fmt.Sprintf(`{"type":"leave","room":%q,"id":"l2"}`, r))
	if m := c.ExpectReply("l2"); m.Code != "not_joined" {
		t.Fatalf("second leave: %s", m.Raw)
	}
	c.Send(fmt.Sprintf(`{"type":"chat.send","room":%q,"id":"x2","data":{"text":"hi"}}`, r))
	if m := c.ExpectReply("x2"); m.Code != "not_joined" {
		t.Fatalf("send after leave: %s", m.Raw)
	}
}

func testUnknownType(t *testing.T, tg Target) {
	r := room("unknown")
	c := tg.dial(t, "uk", "student")
	c.Join(r, -1)
	for i, f := range []string{
		fmt.Sprintf(`{"type":"nosuchplugin.do","room":%q,"id":"u0"}`, r),
		fmt.Sprintf(`{"type":"subscribe","room":%q,"id":"u1"}`, r),
	} {
		c.Send(f)
		if m := c.ExpectReply(fmt.Sprint("u", i)); m.Code != "unknown_type" {
			t.Fatalf("%s: %s", f, m.Raw)
		}
	}
}

// testOrder: senders post concurrently while members join; every member
// receives the room's durable events in seq order without gap or repeat
// from its joined seq, and all members the same events in the same order.
// The same on every deployment: Lambda too (its ordered hand-off, see
// docs/LAMBDA.md).
func testOrder(t *testing.T, tg Target) {
	r := room("order")
	const senders, each, late = 4, 50, 2
	var members []*Client
	var joined []uint64
	for i := 0; i < senders+1; i++ {
		// Every other member (and sender) on the other node, where the
		// target has one: the room's commits come from both nodes at once,
		// and each node's members must still see one gapless order (a
		// node delivers its own commits without waiting for the Bus).
		dial := tg.dial
		if i%2 == 1 {
			dial = tg.dialPeer
		}
		c := dial(t, fmt.Sprint("o", i), "student")
		joined = append(joined, c.Join(r, -1).Seq)
		members = append(members, c)
	}
	var lates []*Client
	for i := 0; i < late; i++ {
		lates = append(lates, tg.dialPeer(t, fmt.Sprint("late", i), "student"))
	}
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(c *Client, s int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				c.Send(map[string]any{"type": "chat.send", "room": r, "id": fmt.Sprintf("s%d-%d", s, i), "data": map[string]string{"text": fmt.Sprintf("%d/%d", s, i)}})
			}
		}(members[s], s)
	}
	// Members joining while the room is busy.
	var lateJoined []uint64
	for _, c := range lates {
		lateJoined = append(lateJoined, c.Join(r, -1).Seq)
	}
	wg.Wait()
	var first []string
	var firstSeqs []uint64
	for i, c := range members {
		got, seqs := inOrder(t, c, fmt.Sprint("member ", i), joined[i], senders*each)
		if i == 0 {
			first, firstSeqs = got, seqs
		} else if strings.Join(got, ",") != strings.Join(first, ",") {
			t.Fatalf("member %d saw another order", i)
		}
	}
	for i, c := range lates {
		// The chat messages after its joined seq, as member 0 saw them.
		k := sort.Search(len(firstSeqs), func(j int) bool { return firstSeqs[j] > lateJoined[i] })
		got, _ := inOrder(t, c, fmt.Sprint("late member ", i), lateJoined[i], len(first)-k)
		if strings.Join(got, ",") != strings.Join(first[k:], ",") {
			t.Fatalf("late member %d (joined at %d) saw %d messages, not the %d after its join in order", i, lateJoined[i], len(got), len(first)-k)
		}
	}
}

// inOrder reads c's frames until n chat messages came, and fails unless
// every durable room event (any type) continues the previous one by
// exactly one from seq from. It returns the chat messages as "seq:text"
// and their seqs.
func inOrder(t *testing.T, c *Client, who string, from uint64, n int) ([]string, []uint64) {
	t.Helper()
	var got []string
	var seqs []uint64
	last := from
	for len(got) < n {
		m := c.Next(30 * time.Second)
		if m.Seq == 0 || !strings.Contains(m.Type, ".") {
			continue // answers (ack, pong), join states, ephemeral events
		}
		if m.Seq != last+1 {
			t.Fatalf("%s: seq %d (%s) after %d", who, m.Seq, m.Type, last)
		}
		last = m.Seq
		if m.Type == "chat.message" {
			got = append(got, fmt.Sprint(m.Seq, ":", text(m)))
			seqs = append(seqs, m.Seq)
		}
	}
	return got, seqs
}

func testEphemeral(t *testing.T, tg Target) {
	r := room("eph")
	a, b := tg.dial(t, "ea", "student"), tg.dial(t, "eb", "student")
	a.Join(r, -1)
	b.Join(r, -1)
	a.Send(map[string]any{"type": "chat.typing", "room": r, "id": "t1", "data": map[string]any{}})
	if m := a.ExpectReply("t1"); m.Type != "ack" || m.Seq != 0 {
		t.Fatalf("typing ack: %s", m.Raw)
	}
	m := b.ExpectType("chat.typing")
	if m.Seq != 0 || m.From == nil || m.From.ID != "ea" {
		t.Fatalf("typing event: %s", m.Raw)
	}
}

func testReplay(t *testing.T, tg Target) {
	r := room("replay")
	a, b := tg.dial(t, "ra", "student"), tg.dial(t, "rb", "student")
	a.Join(r, -1)
	j := b.Join(r, -1)
	a.Say(r, "r1", "one")
	last := b.ExpectType("chat.message").Seq
	b.Close()
	var want []uint64
	for i := 0; i < 5; i++ {
		want = append(want, a.Say(r, fmt.Sprint("r2-", i), fmt.Sprint("missed ", i)).Seq)
	}
	b2 := tg.dial(t, "rb", "student")
	j2 := b2.Join(r, int64(last))
	if j2.Seq != want[len(want)-1] || j.ConnectionID == j2.ConnectionID {
		t.Fatalf("re-joined: %s", j2.Raw)
	}
	for i, w := range want {
		m := b2.ExpectType("chat.message")
		if m.Seq != w || text(m) != fmt.Sprint("missed ", i) {
			t.Fatalf("replay %d: %s, want seq %d", i, m.Raw, w)
		}
	}
}

func testResync(t *testing.T, tg Target) {
	if tg.HistoryLimit == 0 || tg.HistoryLimit > 200 {
		t.Skip("history limit too large to exceed quickly")
	}
	r := room("resync")
	a := tg.dial(t, "rs", "student")
	a.Join(r, -1)
	for i := 0; i < tg.HistoryLimit+3; i++ {
		a.Send(map[string]any{"type": "chat.send", "room": r, "id": fmt.Sprint("h", i), "data": map[string]string{"text": "x"}})
		a.ExpectReply(fmt.Sprint("h", i))
	}
	b := tg.dial(t, "rs2", "student")
	b.Join(r, 1)
	if m := b.Expect("resync", func(m Msg) bool { return m.Type == "resync" || m.Type == "chat.message" }); m.Type != "resync" || m.Room != r {
		t.Fatalf("want resync, got %s", m.Raw)
	}
	// A join with since beyond the room's seq also resyncs.
	c := tg.dial(t, "rs3", "student")
	c.Join(r, 1_000_000)
	c.ExpectType("resync")
}

func testDedupe(t *testing.T, tg Target) {
	r := room("dedupe")
	a, b := tg.dial(t, "da", "student"), tg.dial(t, "db", "student")
	a.Join(r, -1)
	b.Join(r, -1)
	first := a.Say(r, "same-id", "once")
	second := a.Say(r, "same-id", "once")
	if first.Seq != second.Seq {
		t.Fatalf("repeat acked with seq %d, want original %d", second.Seq, first.Seq)
	}
	// The same id from another connection of the same user is a repeat too.
	a2 := tg.dial(t, "da", "student")
	a2.Join(r, -1)
	if third := a2.Say(r, "same-id", "once"); third.Seq != first.Seq {
		t.Fatalf("repeat from second tab acked with seq %d", third.Seq)
	}
	a.Say(r, "other-id", "marker")
	n := 0
	for {
		m := b.ExpectType("chat.message")
		if text(m) == "marker" {
			break
		}
		n++
	}
	if n != 1 {
		t.Fatalf("message delivered %d times", n)
	}
}

func testForgedFrom(t *testing.T, tg Target) {
	r := room("forged")
	a, b := tg.dial(t, "mallory", "student"), tg.dial(t, "fb", "teacher")
	a.Join(r, -1)
	b.Join(r, -1)
	a.Send(fmt.Sprintf(`{"type":"chat.send","room":%q,"id":"f1","from":{"id":"fb","name":"Teacher","role":"teacher"},"data":{"text":"x","from":{"id":"fb"}}}`, r))
	a.ExpectReply("f1")
	m := b.ExpectType("chat.message")
	if m.From == nil || m.From.ID != "mallory" || m.From.Role != "student" {
		t.Fatalf("from not taken from the token: %s", m.Raw)
	}
}

func testBadInput(t *testing.T, tg Target) {
	r := room("bad")
	c := tg.dial(t, "bad", "student")
	c.Join(r, -1)
	long := strings.Repeat("i", 65)
	big := fmt.Sprintf(`{"type":"chat.send","room":%q,"id":"big","data":{"text":%q}}`, r, strings.Repeat("x", tg.MaxMessageBytes+10))
	tests := []struct {
		name   string
		frame  string
		binary bool
		code   string
		id     string
	}{
		{"not json", `hello`, false, "bad_request", ""},
		{"json array", `[1,2]`, false, "bad_request", ""},
		{"truncated", `{"type":"ping"`, false, "bad_request", ""},
		{"missing type", `{"room":"x","id":"m1"}`, false, "bad_request", "m1"},
		{"type not string", `{"type":5,"id":"m2"}`, false, "bad_request", "m2"},
		{"room not string", `{"type":"join","room":{},"id":"m3"}`, false, "bad_request", "m3"},
		{"since not number", `{"type":"join","room":"x","since":"7","id":"m4"}`, false, "bad_request", "m4"},
		{"negative since", `{"type":"join","room":"x","since":-1,"id":"m5"}`, false, "bad_request", "m5"},
		{"id too long", `{"type":"ping","id":"` + long + `"}`, false, "bad_request", ""},
		{"since on non-join", fmt.Sprintf(`{"type":"chat.send","room":%q,"since":1,"id":"m6"}`, r), false, "bad_request", "m6"},
		{"oversize", big, false, "too_large", "big"},
		{"binary frame", `{"type":"ping"}`, true, "bad_request", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.binary {
				c.SendBinary([]byte(tt.frame))
			} else {
				c.Send(tt.frame)
			}
			m := c.ExpectType("error")
			if m.Code != tt.code || m.ID != tt.id || m.Message == "" {
				t.Fatalf("got %s, want code %s id %q", m.Raw, tt.code, tt.id)
			}
			// Still serving on the same connection.
			c.Send(`{"type":"ping","id":"alive"}`)
			if p := c.ExpectReply("alive"); p.Type != "pong" {
				t.Fatalf("after bad input: %s", p.Raw)
			}
		})
	}
}

func testGarbageBurst(t *testing.T, tg Target) {
	c := tg.dial(t, "burst", "student")
	for i := 0; i < 1000; i++ {
		// Sustained abuse may close the connection before the burst ends
		// (checked below), so a failed write ends the burst.
		if err := c.TrySend(fmt.Sprintf(`{"garbage":%d`, i)); err != nil {
			break
		}
	}
	errs := 0
	closed := false
	for errs < 1000 && !closed {
		select {
		case m, ok := <-c.in:
			if !ok {
				closed = true
				break
			}
			if m.Type != "error" || (m.Code != "bad_request" && m.Code != "rate_limited") {
				t.Fatalf("garbage answered with %s", m.Raw)
			}
			errs++
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of 1000 garbage frames answered", errs)
		}
	}
	if closed {
		// Sustained abuse may close the connection, with policy 1008.
		if code := websocket.CloseStatus(c.closeErr()); code != websocket.StatusPolicyViolation {
			t.Fatalf("abusive connection closed with %v, want 1008", code)
		}
	}
	// A fresh connection works.
	d := tg.dial(t, "after-burst", "student")
	d.Send(`{"type":"ping","id":"ok"}`)
	d.ExpectReply("ok")
}

func testHardLimit(t *testing.T, tg Target) {
	if tg.HardLimit == 0 {
		t.Skip("no hard limit configured")
	}
	c := tg.dial(t, "huge", "student")
	c.Send(fmt.Sprintf(`{"type":"ping","id":%q}`, strings.Repeat("x", tg.HardLimit+1)))
	if code := c.ExpectClose(10 * time.Second); code != websocket.StatusMessageTooBig {
		t.Fatalf("closed with %v, want 1009", code)
	}
	d := tg.dial(t, "after-huge", "student")
	d.Send(`{"type":"ping","id":"ok"}`)
	d.ExpectReply("ok")
}

// testTokenExpiry: a connection whose token expires is closed by the
// server within a bound although it sends nothing (4001; on Lambda the
// function deletes it when its expiry index is swept — by any invocation
// or the scheduled one — and API Gateway closes it with its own code).
func testTokenExpiry(t *testing.T, tg Target) {
	c := Dial(t, tg.URL, Token(t, tg.Secret, "short", "student", []string{"*"}, 2*time.Second))
	c.Send(`{"type":"ping","id":"p"}`)
	c.ExpectReply("p")
	want := tg.serverCloseCode(4001)
	if code := c.ExpectClose(15 * time.Second); code != want {
		t.Fatalf("closed with %v, want %v", code, want)
	}
}

var _ = json.Marshal
