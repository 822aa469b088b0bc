package host

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/classgate/classgate/core"
)

// room is a minimal stand-in for the router and store: it keeps each
// namespace's state and the room's seq and commits results like the router.
type room struct {
	t     *testing.T
	h     *Host
	id    string
	seq   uint64
	state map[string]map[string][]byte
	log   []core.Emit // durable events in seq order
}

func (r *room) do(ns string, c *core.Call) *core.Result {
	r.t.Helper()
	c.Room, c.Seq = r.id, r.seq
	if r.state[ns] == nil {
		r.state[ns] = map[string][]byte{}
	}
	c.State = r.state[ns]
	hd := r.h.Handler(r.id, ns)
	if hd == nil {
		r.t.Fatalf("namespace %s not enabled", ns)
	}
	res, err := hd.Handle(context.Background(), c)
	if err != nil {
		r.t.Fatalf("%s %v: %v", ns, c.Hook, err)
	}
	if res.Reject != "" {
		return res
	}
	next := map[string][]byte{}
	for k, v := range r.state[ns] {
		next[k] = v
	}
	for _, op := range res.Ops {
		switch op.Op {
		case core.OpSet:
			next[op.Key] = op.Value
		case core.OpDel:
			delete(next, op.Key)
		case core.OpClear:
			next = map[string][]byte{}
		}
	}
	r.state[ns] = next
	for _, e := range res.Emits {
		if e.Durable {
			r.seq++
			r.log = append(r.log, e)
		}
	}
	return res
}

func (r *room) join(u core.User, conn core.ConnID, first bool) map[string]json.RawMessage {
	replies := map[string]json.RawMessage{}
	for _, ns := range r.h.Features(r.id) {
		res := r.do(ns, &core.Call{Hook: core.HookJoin, Sender: u, Conn: conn, FirstOfUser: first})
		for _, rep := range res.Replies {
			replies[rep.Type] = rep.Data
		}
	}
	return replies
}

func (r *room) send(u core.User, conn core.ConnID, typ, data string) *core.Result {
	ns, _, _ := core.SplitType(typ)
	return r.do(ns, &core.Call{Hook: core.HookMessage, Type: typ, Data: json.RawMessage(data), Sender: u, Conn: conn})
}

// TestClassroomPlugins runs the three real plugins through the host.
func TestClassroomPlugins(t *testing.T) {
	cfg := Config{Namespaces: map[string]Plugin{
		"chat":       {Source: wasmPath("chat"), Config: map[string]any{"history": 2}},
		"whiteboard": {Source: wasmPath("whiteboard")},
		"presence":   {Source: wasmPath("presence")},
	}}
	h := newHost(t, cfg)
	r := &room{t: t, h: h, id: "class-1", state: map[string]map[string][]byte{}}
	ann := core.User{ID: "u1", Name: "Ann", Role: "teacher"}
	bob := core.User{ID: "u2", Name: "Bob", Role: "student"}

	r.join(ann, "a1", true)
	r.send(ann, "a1", "chat.send", `{"text":" one "}`)
	r.send(ann, "a1", "whiteboard.draw", `{"element":{"id":"e1","type":"line","points":[[0,0],[5,5]]}}`)
	r.send(ann, "a1", "chat.send", `{"text":"two"}`)
	r.send(ann, "a1", "presence.update", `{"status":"away"}`)
	r.send(ann, "a1", "whiteboard.draw", `{"element":{"id":"e2","type":"rect"}}`)
	r.send(ann, "a1", "chat.send", `{"text":"three"}`)
	if res := r.send(bob, "b1", "whiteboard.clear", `{}`); res.Reject != "only teachers can clear the board" {
		t.Fatalf("student clear: %+v", res)
	}
	if res := r.send(ann, "a1", "chat.send", `{"text":"   "}`); res.Reject != "empty message" {
		t.Fatalf("empty chat: %+v", res)
	}
	seqBeforeBob := r.seq
	got := r.join(bob, "b1", true)
	if r.seq != seqBeforeBob+1 {
		t.Fatalf("bob's join committed %d durable events, want 1 (presence.join)", r.seq-seqBeforeBob)
	}

	var snap struct {
		Elements []struct{ ID string }
		Seq      uint64
	}
	if err := json.Unmarshal(got["whiteboard.snapshot"], &snap); err != nil {
		t.Fatal(err)
	}
	// The whiteboard's join call ran after presence's (features are sorted:
	// chat, presence, whiteboard), so it saw the seq including presence.join.
	if snap.Seq != r.seq || len(snap.Elements) != 2 || snap.Elements[0].ID != "e1" || snap.Elements[1].ID != "e2" {
		t.Fatalf("snapshot %s (room seq %d)", got["whiteboard.snapshot"], r.seq)
	}
	var hist struct {
		Messages []struct {
			Seq  uint64
			Text string
		}
	}
	if err := json.Unmarshal(got["chat.history"], &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist.Messages) != 2 || hist.Messages[0].Text != "two" || hist.Messages[1].Text != "three" {
		t.Fatalf("history %s", got["chat.history"])
	}
	for _, m := range hist.Messages {
		if e := r.log[m.Seq-1]; e.Type != "chat.message" {
			t.Fatalf("history seq %d points at %s", m.Seq, e.Type)
		}
	}
	var pres struct {
		Users []struct{ ID, Name, Role, Status string }
	}
	if err := json.Unmarshal(got["presence.state"], &pres); err != nil {
		t.Fatal(err)
	}
	if len(pres.Users) != 2 || pres.Users[0].Status != "away" || pres.Users[1].ID != "u2" || pres.Users[1].Status != "online" {
		t.Fatalf("presence %s", got["presence.state"])
	}
	want := []string{"presence.join", "chat.message", "whiteboard.draw", "chat.message", "presence.update", "whiteboard.draw", "chat.message", "presence.join"}
	for i, e := range r.log {
		if e.Type != want[i] {
			t.Fatalf("event %d = %s, want %s", i+1, e.Type, want[i])
		}
	}
}
