package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Hostile cases for the frame path (PROTOCOL v1.1, docs/PROTOCOL.md
// "Limits"): invalid UTF-8, bad room ids and types, binary floods,
// re-join floods, the contract's seq fields and retried ids.
func init() {
	registerHostile("Frames/InvalidUTF8NotRelayed", testInvalidUTF8)
	registerHostile("Frames/RoomAndTypeRules", testRoomAndTypeRules)
	registerHostile("Frames/BinaryFlood", testBinaryFlood)
	registerHostile("Frames/RejoinFloodIsCheap", testRejoinFlood)
	registerHostile("Frames/ContractSeqFields", testContractSeqFields)
	registerHostile("Frames/RetriedIDs", testRetriedIDs)
}

// assertClean fails if any frame c received so far, up to and including
// the one matched by until, is not valid UTF-8 JSON; it returns the frames.
func assertClean(t *testing.T, c *Client, what string, until func(Msg) bool) []Msg {
	t.Helper()
	var got []Msg
	c.Expect(what, func(m Msg) bool {
		if !utf8.ValidString(m.Raw) || !json.Valid([]byte(m.Raw)) {
			t.Fatalf("received an invalid frame: %q", m.Raw)
		}
		got = append(got, m)
		return until(m)
	})
	return got
}

func testInvalidUTF8(t *testing.T, tg Target) {
	r := room("utf8")
	a, b := tg.dial(t, "mallory", "student"), tg.dialPeer(t, "victim", "student")
	a.Join(r, -1)
	b.Join(r, -1)
	tests := []struct{ name, frame string }{
		{"chat.send", fmt.Sprintf("{\"type\":\"chat.send\",\"room\":%q,\"id\":\"u1\",\"data\":{\"text\":\"bad \xff byte\"}}", r)},
		{"whiteboard.draw", fmt.Sprintf("{\"type\":\"whiteboard.draw\",\"room\":%q,\"id\":\"u2\",\"data\":{\"element\":{\"id\":\"e\xff1\",\"kind\":\"text\",\"text\":\"\xfe\xff\"}}}", r)},
		{"presence.update", fmt.Sprintf("{\"type\":\"presence.update\",\"room\":%q,\"id\":\"u3\",\"data\":{\"status\":\"\xc3\"}}", r)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprint("u", i+1)
			a.Send([]byte(tt.frame))
			m := a.ExpectReply(id)
			if tg.differs(InvalidUTF8BecomesReplacement) {
				// The emulator hands the body to the function inside a
				// JSON event, as API Gateway does, and JSON encoding has
				// already replaced the bad bytes with U+FFFD: the function
				// sees valid text and may accept it. Either way nothing
				// invalid may reach the other member (checked below).
				if m.Type != "ack" && m.Code != "bad_request" && m.Code != "rejected" {
					t.Fatalf("answer: %s", m.Raw)
				}
			} else if m.Type != "error" || m.Code != "bad_request" {
				t.Fatalf("answer: %s, want bad_request", m.Raw)
			}
		})
	}
	// The room still works, and everything the other member received on
	// the way was valid UTF-8 JSON.
	a.Say(r, "ok", "marker")
	assertClean(t, b, "the marker", func(m Msg) bool { return m.Type == "chat.message" && text(m) == "marker" })
	// A newcomer gets valid join states.
	c := tg.dialPeer(t, "newcomer", "student")
	c.Join(r, 0)
	assertClean(t, c, "whiteboard.snapshot", func(m Msg) bool { return m.Type == "whiteboard.snapshot" })
	b.Say(r, "ok2", "still here")
}

func testRoomAndTypeRules(t *testing.T, tg Target) {
	r := room("rules")
	c := tg.dial(t, "rules", "student")
	c.Join(r, -1)
	long := strings.Repeat("r", 257)
	tests := []struct {
		name  string
		frame any
	}{
		{"control character in room", map[string]any{"type": "join", "room": "a\u0007b", "id": "x"}},
		{"escape sequence in room", map[string]any{"type": "join", "room": "a\u001b[2Jb", "id": "x"}},
		{"newline in room", map[string]any{"type": "chat.send", "room": r + "\n", "id": "x", "data": map[string]string{"text": "hi"}}},
		{"C1 control in room", map[string]any{"type": "join", "room": "a\u0085b", "id": "x"}},
		{"room of 257 bytes", map[string]any{"type": "join", "room": long, "id": "x"}},
		{"control character in type", map[string]any{"type": "chat.se\u0000nd", "room": r, "id": "x", "data": map[string]string{"text": "hi"}}},
		{"upper case type", map[string]any{"type": "Chat.send", "room": r, "id": "x", "data": map[string]string{"text": "hi"}}},
		{"quote in type", map[string]any{"type": "chat.\"send", "room": r, "id": "x"}},
		{"non-ASCII type", map[string]any{"type": "chät.send", "room": r, "id": "x"}},
		{"two dots in type", map[string]any{"type": "chat.send.x", "room": r, "id": "x"}},
		{"type of 65 bytes", map[string]any{"type": "chat." + strings.Repeat("s", 60), "room": r, "id": "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Send(tt.frame)
			m := c.ExpectReply("x")
			if m.Type != "error" || m.Code != "bad_request" || m.Message == "" {
				t.Fatalf("got %s, want bad_request", m.Raw)
			}
			c.Send(`{"type":"ping","id":"alive"}`)
			if p := c.ExpectReply("alive"); p.Type != "pong" {
				t.Fatalf("after bad input: %s", p.Raw)
			}
		})
	}
	// The limits themselves are allowed: a room of exactly 256 bytes of
	// UTF-8 (2-byte characters) and a type of 64 bytes reach the plugin
	// (unknown_type: no such plugin).
	edge := strings.Repeat("é", 128)
	c.Send(map[string]any{"type": "join", "room": edge, "id": "edge"})
	if m := c.ExpectReply("edge"); m.Type != "joined" || m.Room != edge {
		t.Fatalf("join of a 256-byte room: %s", m.Raw)
	}
	c.Send(map[string]any{"type": "nosuch." + strings.Repeat("a", 57), "room": edge, "id": "t64"})
	if m := c.ExpectReply("t64"); m.Code != "unknown_type" {
		t.Fatalf("64-byte type: %s", m.Raw)
	}
}

func testBinaryFlood(t *testing.T, tg Target) {
	r := room("binflood")
	victim := tg.dialPeer(t, "bin-victim", "student")
	victim.Join(r, -1)
	c := tg.dial(t, "binflood", "student")
	c.Join(r, -1)
	c.ExpectType("whiteboard.snapshot") // the last join state; events are skipped below
	// Standalone nodes answer binary frames after the rate limiter, like
	// text frames: past the burst they are refused rate_limited, and a
	// sustained flood is closed with 1008. The Lambda function keeps no
	// per-connection state between invocations, so it has no rate limiter
	// (API Gateway's stage throttling is the limit there): every binary
	// frame is answered bad_request and nothing is closed.
	n := 50_000
	if tg.differs(NoRateLimiter) {
		n = 300
	}
	sent := make(chan int, 1)
	go func() {
		i := 0
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for ; i < n; i++ {
			if c.ws.Write(ctx, websocket.MessageBinary, []byte(`{"type":"ping","id":"b"}`)) != nil {
				break // closed for abuse
			}
		}
		sent <- i
	}()
	answers, limited, closed := 0, 0, false
	for !closed {
		m, ok := c.TryNext(30 * time.Second)
		if !ok {
			select {
			case <-c.done:
				closed = true
				continue
			default:
			}
			t.Fatalf("silence after %d answers", answers)
		}
		if strings.Contains(m.Type, ".") {
			continue // the room's own events (this client's presence.join)
		}
		if m.Type != "error" || m.ID != "" || (m.Code != "bad_request" && m.Code != "rate_limited") {
			t.Fatalf("binary frame answered %s", m.Raw)
		}
		answers++
		if m.Code == "rate_limited" {
			limited++
		}
		if tg.differs(NoRateLimiter) && answers == n {
			break
		}
		if !tg.differs(NoRateLimiter) && limited > 0 && answers >= n {
			break // every frame answered, none closed: the server refilled fast enough
		}
	}
	frames := <-sent
	switch {
	case tg.differs(NoRateLimiter):
		if limited != 0 || closed {
			t.Fatalf("Lambda: %d rate_limited, closed %v", limited, closed)
		}
	case limited == 0:
		t.Fatalf("%d binary frames, %d answers, none rate_limited", frames, answers)
	case closed:
		if code := websocket.CloseStatus(c.closeErr()); code != websocket.StatusPolicyViolation {
			t.Fatalf("binary flood closed with %v, want 1008", code)
		}
	}
	t.Logf("%d binary frames sent, %d answered (%d rate_limited), closed: %v", frames, answers, limited, closed)
	// The room's other member is unaffected.
	d := tg.dial(t, "after-binflood", "student")
	d.Join(r, -1)
	d.Say(r, "after", "still serving")
	assertClean(t, victim, "the message after the flood", func(m Msg) bool { return m.Type == "chat.message" && text(m) == "still serving" })
}

func testRejoinFlood(t *testing.T, tg Target) {
	r := room("rejoin")
	teacher := tg.dialPeer(t, "rj-teacher", "teacher")
	teacher.Join(r, -1)
	// A large board: 12 elements of 8 KB (a join state of ~100 KB, under
	// API Gateway's 128 KB message limit so every deployment can send it).
	pad := strings.Repeat("x", 8<<10)
	for i := 0; i < 12; i++ {
		id := fmt.Sprint("d", i)
		teacher.Send(map[string]any{"type": "whiteboard.draw", "room": r, "id": id,
			"data": map[string]any{"element": map[string]any{"id": fmt.Sprint("e", i), "kind": "text", "text": pad}}})
		if m := teacher.ExpectReply(id); m.Type != "ack" {
			t.Fatalf("draw %d: %s", i, m.Raw)
		}
	}
	c := tg.dial(t, "rj-flooder", "student")
	c.Join(r, -1)
	// Join states come in feature order; the whiteboard's is the last.
	snap := c.ExpectType("whiteboard.snapshot")
	if len(snap.Raw) < 12*len(pad) {
		t.Fatalf("snapshot of %d bytes", len(snap.Raw))
	}
	// The flood, within the default rate limit (burst 200): each repeat is
	// answered by one joined frame, not by the board again.
	const joins = 150
	in, out := 0, 0
	for i := 0; i < joins; i++ {
		f := fmt.Sprintf(`{"type":"join","room":%q,"id":"rj%d"}`, r, i)
		in += len(f)
		c.Send(f)
	}
	got := 0
	// Count every answer (ConcurrentFramesOfOneConnection: on Lambda they
	// may arrive in another order).
	c.Expect("every joined", func(m Msg) bool {
		out += len(m.Raw)
		switch m.Type {
		case "joined":
			got++
		case "whiteboard.snapshot", "presence.state", "chat.history":
			t.Fatalf("re-join re-sent %s (%d bytes)", m.Type, len(m.Raw))
		case "error":
			t.Fatalf("re-join refused: %s", m.Raw)
		}
		return got == joins
	})
	// docs/PROTOCOL.md: a repeated join costs one joined frame, at most
	// the request's room and id plus 1 KiB.
	if got != joins || out > in+joins*1024 {
		t.Fatalf("%d re-joins (%d bytes in) answered by %d joined frames, %d bytes out", joins, in, got, out)
	}
	t.Logf("re-join flood: %d bytes in, %d bytes out (board %d bytes)", in, out, len(snap.Raw))
	// The room works for everyone afterwards.
	teacher.Say(r, "after", "after the flood")
	c.Expect("the message after the flood", func(m Msg) bool { return m.Type == "chat.message" && text(m) == "after the flood" })
}

func testContractSeqFields(t *testing.T, tg Target) {
	r := room("fresh")
	c := tg.dial(t, "seqs", "student")
	c.Send(fmt.Sprintf(`{"type":"join","room":%q,"id":"j"}`, r))
	j := c.ExpectReply("j")
	if j.Type != "joined" || !strings.Contains(j.Raw, `"seq":0`) {
		t.Fatalf("joined of a fresh room must carry seq 0: %s", j.Raw)
	}
	c.Send(fmt.Sprintf(`{"type":"chat.send","room":%q,"id":"m","data":{"text":"hi"}}`, r))
	if a := c.ExpectReply("m"); a.Type != "ack" || !strings.Contains(a.Raw, `"seq":`) || a.Seq == 0 {
		t.Fatalf("ack of a durable frame: %s", a.Raw)
	}
	c.Send(fmt.Sprintf(`{"type":"chat.typing","room":%q,"id":"t","data":{}}`, r))
	if a := c.ExpectReply("t"); a.Type != "ack" || strings.Contains(a.Raw, `"seq"`) {
		t.Fatalf("ack of an ephemeral frame: %s", a.Raw)
	}
	// A resync carries the room's seq too (here a since from the future).
	d := tg.dialPeer(t, "seqs2", "student")
	d.Send(fmt.Sprintf(`{"type":"join","room":%q,"id":"j","since":1000000}`, r))
	d.ExpectReply("j")
	rs := d.ExpectType("resync")
	if !strings.Contains(rs.Raw, `"seq":`) || rs.Room != r {
		t.Fatalf("resync: %s", rs.Raw)
	}
	// Arrays in join states are arrays.
	e := tg.dial(t, "seqs3", "student")
	e.Join(room("empty"), -1)
	s := e.ExpectType("whiteboard.snapshot")
	if !strings.Contains(s.Raw, `"elements":[]`) {
		t.Fatalf("empty board: %s", s.Raw)
	}
}

func testRetriedIDs(t *testing.T, tg Target) {
	r := room("retry")
	a, b := tg.dial(t, "rt-a", "student"), tg.dialPeer(t, "rt-b", "student")
	a.Join(r, -1)
	b.Join(r, -1)
	send := func(id string, frame map[string]any) Msg {
		t.Helper()
		frame["room"], frame["id"] = r, id
		a.Send(frame)
		return a.ExpectReply(id)
	}
	draw := map[string]any{"type": "whiteboard.draw", "data": map[string]any{"element": map[string]any{"id": "el1", "kind": "rect"}}}
	erase := map[string]any{"type": "whiteboard.erase", "data": map[string]any{"id": "el1"}}
	eraseUnknown := map[string]any{"type": "whiteboard.erase", "data": map[string]any{"id": "nope"}}
	d1 := send("d1", draw)
	x1 := send("x1", erase)
	u1 := send("u1", eraseUnknown)
	c1 := a.Say(r, "c1", "once")
	if d1.Type != "ack" || x1.Type != "ack" || x1.Seq == 0 || u1.Code != "rejected" {
		t.Fatalf("originals: %s %s %s", d1.Raw, x1.Raw, u1.Raw)
	}
	// A second tab of the same user retries too.
	a2 := tg.dialPeer(t, "rt-a", "student")
	a2.Join(r, -1)
	tests := []struct {
		name  string
		id    string
		frame map[string]any
		want  Msg
	}{
		{"erase again", "x1", erase, x1},
		{"draw again after the erase", "d1", draw, d1},
		{"refused erase again", "u1", eraseUnknown, u1},
		{"chat again", "c1", map[string]any{"type": "chat.send", "data": map[string]string{"text": "once"}}, c1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []*Client{a, a2} {
				tt.frame["room"], tt.frame["id"] = r, tt.id
				c.Send(tt.frame)
				m := c.ExpectReply(tt.id)
				if m.Type != tt.want.Type || m.Seq != tt.want.Seq || m.Code != tt.want.Code || m.Message != tt.want.Message {
					t.Fatalf("retry answered %s, want the original %s", m.Raw, tt.want.Raw)
				}
			}
		})
	}
	// The other member got each event once.
	a.Say(r, "end", "marker")
	counts := map[string]int{}
	assertClean(t, b, "the marker", func(m Msg) bool {
		counts[m.Type]++
		return m.Type == "chat.message" && text(m) == "marker"
	})
	if counts["whiteboard.draw"] != 1 || counts["whiteboard.erase"] != 1 || counts["chat.message"] != 2 {
		t.Fatalf("delivered %v, want each event once", counts)
	}
}
