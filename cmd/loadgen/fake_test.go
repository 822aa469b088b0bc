package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/classgate/classgate/adapters/jwt"
	"github.com/classgate/classgate/core/auth"
)

// fakeGateway is a tiny in-process gateway speaking enough of PROTOCOL v1
// for loadgen's tests: join/joined, durable chat and whiteboard events
// with a per-room seq, ephemeral cursors, ack and error, join with since
// (replay from its history). It can inject one fault at the faultAt-th
// durable message, to check that loadgen notices.
type fakeGateway struct {
	t        *testing.T
	verifier *auth.Verifier
	fault    string // "", "drop", "dup", "swap", "noack", "reject", "close", "resync", "rejoinfail", "regress", "timeout", "nodedupe"
	faultAt  int

	mu       sync.Mutex
	rooms    map[string]*fakeRoom
	durables int        // durable messages so far, all rooms
	held     *heldFrame // for "swap": a frame held back for one member
	// rejoinFailed: for "rejoinfail", the re-join after the resync was
	// refused once.
	rejoinFailed bool
	srv          *httptest.Server
}

type fakeRoom struct {
	seq     uint64
	members []*websocket.Conn
	hist    []string                   // durable events, hist[i] has seq i+1
	last    map[*websocket.Conn]uint64 // highest seq sent to each member
	dedupe  map[string]uint64          // user/id → seq of its commit
}

type heldFrame struct {
	room *fakeRoom
	to   *websocket.Conn
	b    []byte
}

func newFakeGateway(t *testing.T, secret, fault string) *fakeGateway {
	t.Helper()
	v, err := jwt.New(jwt.Options{HS256Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGateway{t: t, verifier: v, fault: fault, faultAt: 5, rooms: map[string]*fakeRoom{}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGateway) URL() string { return "ws" + strings.TrimPrefix(g.srv.URL, "http") + "/ws" }

func (g *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	claims, err := g.verifier.Verify(r.URL.Query().Get("token"))
	if err != nil {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := context.Background()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			g.leave(c)
			return
		}
		var f struct {
			Type  string          `json:"type"`
			Room  string          `json:"room"`
			ID    string          `json:"id"`
			Data  json.RawMessage `json:"data"`
			Since *uint64         `json:"since"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			g.write(c, `{"type":"error","code":"bad_request","message":"not json"}`)
			continue
		}
		if f.Type == "join" {
			g.join(c, f.Room, f.ID, f.Since)
			continue
		}
		g.handle(c, claims, f.Type, f.Room, f.ID, f.Data)
	}
}

func (g *fakeGateway) handle(c *websocket.Conn, cl auth.Claims, typ, room, id string, data json.RawMessage) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rm := g.rooms[room]
	if rm == nil {
		g.write(c, `{"type":"error","id":`+strconv.Quote(id)+`,"code":"not_joined","message":"join first"}`)
		return
	}
	out := map[string]string{"chat.send": "chat.message", "whiteboard.draw": "whiteboard.draw", "whiteboard.cursor": "whiteboard.cursor"}[typ]
	if out == "" {
		g.write(c, `{"type":"error","id":`+strconv.Quote(id)+`,"code":"unknown_type","message":"no plugin"}`)
		return
	}
	from := `{"id":` + strconv.Quote(cl.Subject) + `,"name":"x","role":"student"}`
	if out == "whiteboard.cursor" {
		ev := `{"type":"whiteboard.cursor","room":` + strconv.Quote(room) + `,"ts":1,"from":` + from + `,"data":` + string(data) + `}`
		for _, m := range rm.members {
			if m != c {
				g.write(m, ev)
			}
		}
		g.write(c, `{"type":"ack","id":`+strconv.Quote(id)+`}`)
		return
	}
	if seq, ok := rm.dedupe[cl.Subject+"/"+id]; ok && g.fault != "nodedupe" {
		// A retry of a message already committed: the original seq,
		// nothing delivered again.
		g.write(c, `{"type":"ack","id":`+strconv.Quote(id)+`,"seq":`+strconv.FormatUint(seq, 10)+`}`)
		return
	}
	g.durables++
	fault := ""
	if g.durables == g.faultAt {
		fault = g.fault
	}
	if fault == "reject" {
		g.write(c, `{"type":"error","id":`+strconv.Quote(id)+`,"code":"rejected","message":"test"}`)
		return
	}
	if fault == "regress" {
		// The store lost the room: seqs start again, and (like a
		// gateway that drops seq <= last) nobody hears of it.
		rm.seq, rm.hist = 0, nil
	}
	rm.seq++
	ev := `{"type":"` + out + `","room":` + strconv.Quote(room) + `,"seq":` + strconv.FormatUint(rm.seq, 10) + `,"ts":1,"from":` + from + `,"data":` + string(data) + `}`
	rm.dedupe[cl.Subject+"/"+id] = rm.seq
	switch fault {
	case "noack":
	case "timeout", "nodedupe":
		// Committed, but the answer is the error of a commit that
		// timed out: the client cannot tell, and retries.
		g.write(c, `{"type":"error","id":`+strconv.Quote(id)+`,"code":"internal","message":"store timeout (test)"}`)
	default:
		g.write(c, `{"type":"ack","id":`+strconv.Quote(id)+`,"seq":`+strconv.FormatUint(rm.seq, 10)+`}`)
	}
	rm.hist = append(rm.hist, ev)
	victim := rm.members[len(rm.members)-1] // never the publisher (first)
	for _, m := range rm.members {
		if rm.last[m] >= rm.seq {
			continue // regress: silently dropped
		}
		rm.last[m] = rm.seq
		switch {
		case m == victim && (fault == "resync" || fault == "rejoinfail"):
			g.write(m, `{"type":"resync","room":`+strconv.Quote(room)+`,"seq":`+strconv.FormatUint(rm.seq, 10)+`}`)
		case m == victim && fault == "drop":
		case m == victim && fault == "dup":
			g.write(m, ev)
			g.write(m, ev)
		case m == victim && fault == "swap":
			g.held = &heldFrame{room: rm, to: m, b: []byte(ev)}
		case m == victim && fault == "close":
			go m.Close(4008, "slow consumer (test)") // Close waits for the peer; g.mu is held
		default:
			g.write(m, ev)
		}
	}
	if g.held != nil && g.held.room == rm && fault != "swap" {
		g.write(g.held.to, string(g.held.b))
		g.held = nil
	}
}

// join adds c to room (once) and answers joined, the events after since
// (or a resync when since is ahead of the room) and a presence state.
func (g *fakeGateway) join(c *websocket.Conn, room, id string, since *uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rm := g.rooms[room]
	if rm == nil {
		rm = &fakeRoom{last: map[*websocket.Conn]uint64{}, dedupe: map[string]uint64{}}
		g.rooms[room] = rm
	}
	if g.fault == "rejoinfail" && id == rejoinID && !g.rejoinFailed {
		// The store is still down: the join fails and, as the gateway
		// does, the membership is gone.
		g.rejoinFailed = true
		rm.members = slices.DeleteFunc(rm.members, func(m *websocket.Conn) bool { return m == c })
		g.write(c, `{"type":"error","id":`+strconv.Quote(id)+`,"code":"internal","message":"store down (test)"}`)
		return
	}
	if !slices.Contains(rm.members, c) {
		rm.members = append(rm.members, c)
	}
	rm.last[c] = rm.seq
	g.write(c, `{"type":"joined","room":`+strconv.Quote(room)+`,"id":`+strconv.Quote(id)+`,"seq":`+strconv.FormatUint(rm.seq, 10)+`}`)
	if since != nil {
		if *since > rm.seq {
			g.write(c, `{"type":"resync","room":`+strconv.Quote(room)+`,"seq":`+strconv.FormatUint(rm.seq, 10)+`}`)
		}
		for s := *since; s < uint64(len(rm.hist)); s++ {
			g.write(c, rm.hist[s])
		}
	}
	g.write(c, `{"type":"presence.state","room":`+strconv.Quote(room)+`,"data":{"users":[]}}`)
}

func (g *fakeGateway) leave(c *websocket.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, rm := range g.rooms {
		for i, m := range rm.members {
			if m == c {
				rm.members = append(rm.members[:i], rm.members[i+1:]...)
				break
			}
		}
	}
}

func (g *fakeGateway) write(c *websocket.Conn, s string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Write(ctx, websocket.MessageText, []byte(s))
}
