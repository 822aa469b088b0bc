package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// RunClassroom checks the three classroom plugins over the wire (the real
// WebAssembly chat, whiteboard and presence plugins): what a room sees and
// what a newcomer's join state holds.
func RunClassroom(t *testing.T, tg Target) {
	tests := []struct {
		name string
		run  func(t *testing.T, tg Target)
	}{
		{"ChatHistory", testChatHistory},
		{"WhiteboardSnapshot", testWhiteboard},
		{"PresencePerUser", testPresence},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, tg) })
	}
}

func testChatHistory(t *testing.T, tg Target) {
	r := room("chat")
	a := tg.dial(t, "chat-a", "teacher")
	a.Join(r, -1)
	a.Send(map[string]any{"type": "chat.send", "room": r, "id": "e", "data": map[string]string{"text": "   "}})
	if m := a.ExpectReply("e"); m.Code != "rejected" {
		t.Fatalf("empty text: %s", m.Raw)
	}
	var seqs []uint64
	for i := 0; i < 3; i++ {
		seqs = append(seqs, a.Say(r, fmt.Sprint("c", i), fmt.Sprintf("  line %d  ", i)).Seq)
	}
	b := tg.dial(t, "chat-b", "student")
	b.Join(r, -1)
	h := b.ExpectType("chat.history")
	var hist struct {
		Messages []struct {
			Seq  uint64 `json:"seq"`
			Text string `json:"text"`
			From User   `json:"from"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(h.Data, &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist.Messages) != 3 {
		t.Fatalf("chat.history: %s", h.Raw)
	}
	for i, m := range hist.Messages {
		if m.Seq != seqs[i] || m.Text != fmt.Sprintf("line %d", i) || m.From.ID != "chat-a" {
			t.Fatalf("history[%d] = %+v, want seq %d trimmed text from chat-a", i, m, seqs[i])
		}
	}
}

type element struct {
	ID     string      `json:"id"`
	Kind   string      `json:"kind"`
	Points [][]float64 `json:"points,omitempty"`
}

func testWhiteboard(t *testing.T, tg Target) {
	r := room("board")
	teacher := tg.dial(t, "wb-t", "teacher")
	teacher.Join(r, -1)
	draw := func(id string) uint64 {
		teacher.Send(map[string]any{"type": "whiteboard.draw", "room": r, "id": "d-" + id,
			"data": map[string]any{"element": element{ID: id, Kind: "stroke", Points: [][]float64{{1, 2}, {3, 4}}}}})
		m := teacher.ExpectReply("d-" + id)
		if m.Type != "ack" {
			t.Fatalf("draw %s: %s", id, m.Raw)
		}
		return m.Seq
	}
	draw("e1")
	draw("e2")
	draw("e3")
	teacher.Send(map[string]any{"type": "whiteboard.erase", "room": r, "id": "x", "data": map[string]string{"id": "e2"}})
	last := teacher.ExpectReply("x").Seq

	student := tg.dial(t, "wb-s", "student")
	j := student.Join(r, -1)
	snap := student.ExpectType("whiteboard.snapshot")
	var s struct {
		Elements []element `json:"elements"`
		Seq      uint64    `json:"seq"`
	}
	if err := json.Unmarshal(snap.Data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Seq < last || j.Seq < last || len(s.Elements) != 2 || s.Elements[0].ID != "e1" || s.Elements[1].ID != "e3" {
		t.Fatalf("snapshot (joined seq %d, last %d): %s", j.Seq, last, snap.Raw)
	}
	// Limits: too many points → rejected.
	pts := make([][]float64, 2500)
	for i := range pts {
		pts[i] = []float64{1, 1}
	}
	teacher.Send(map[string]any{"type": "whiteboard.draw", "room": r, "id": "big", "data": map[string]any{"element": element{ID: "big", Kind: "stroke", Points: pts}}})
	if m := teacher.ExpectReply("big"); m.Code != "rejected" && m.Code != "too_large" {
		t.Fatalf("oversized element: %s", m.Raw)
	}
	// Clear is for teachers only: a role denial is forbidden (PROTOCOL.md 1.1).
	student.Send(map[string]any{"type": "whiteboard.clear", "room": r, "id": "sc", "data": map[string]any{}})
	if m := student.ExpectReply("sc"); m.Code != "forbidden" {
		t.Fatalf("student clear: %s", m.Raw)
	}
	// Cursors are ephemeral and go to the others only.
	student.Send(map[string]any{"type": "whiteboard.cursor", "room": r, "data": map[string]float64{"x": 10, "y": 20}})
	if c := teacher.ExpectType("whiteboard.cursor"); c.Seq != 0 || c.From == nil || c.From.ID != "wb-s" {
		t.Fatalf("cursor: %s", c.Raw)
	}
	teacher.Send(map[string]any{"type": "whiteboard.clear", "room": r, "id": "tc", "data": map[string]any{}})
	if m := teacher.ExpectReply("tc"); m.Type != "ack" || m.Seq == 0 {
		t.Fatalf("teacher clear: %s", m.Raw)
	}
	if m := student.ExpectType("whiteboard.clear"); m.Seq == 0 {
		t.Fatalf("clear event: %s", m.Raw)
	}
	late := tg.dial(t, "wb-late", "student")
	late.Join(r, -1)
	snap = late.ExpectType("whiteboard.snapshot")
	if err := json.Unmarshal(snap.Data, &s); err != nil || len(s.Elements) != 0 {
		t.Fatalf("snapshot after clear: %s", snap.Raw)
	}
	if string(snap.Data) == "" || !json.Valid(snap.Data) || !containsArray(snap.Data, "elements") {
		t.Fatalf("elements must be an array, never null: %s", snap.Raw)
	}
}

func containsArray(data json.RawMessage, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	v := m[key]
	return len(v) > 0 && v[0] == '['
}

type presenceUser struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Role   string `json:"role"`
	Status string `json:"status"`
}

func testPresence(t *testing.T, tg Target) {
	r := room("presence")
	teacher := tg.dial(t, "pr-t", "teacher")
	teacher.Join(r, -1)
	tab1 := tg.dial(t, "pr-s", "student")
	tab1.Join(r, -1)
	st := tab1.ExpectType("presence.state")
	var state struct {
		Users []presenceUser `json:"users"`
	}
	if err := json.Unmarshal(st.Data, &state); err != nil {
		t.Fatal(err)
	}
	if len(state.Users) != 2 {
		t.Fatalf("presence.state: %s", st.Raw)
	}
	for _, u := range state.Users {
		if u.ID == "" || u.Role == "" || u.Status == "" {
			t.Fatalf("presence.state user incomplete: %s", st.Raw)
		}
	}
	if m := teacher.Expect("student's presence.join", func(m Msg) bool {
		return m.Type == "presence.join" && m.From != nil && m.From.ID == "pr-s"
	}); m.Seq == 0 || !json.Valid(m.Data) {
		t.Fatalf("presence.join: %s", m.Raw)
	}
	// A second tab of the same user announces nothing.
	tab2 := tg.dial(t, "pr-s", "student")
	tab2.Join(r, -1)
	tab2.Send(map[string]any{"type": "presence.update", "room": r, "id": "h", "data": map[string]string{"status": "hand_raised"}})
	tab2.ExpectReply("h")
	m := teacher.Expect("presence.update", func(m Msg) bool {
		if m.Type == "presence.join" && m.From != nil && m.From.ID == "pr-s" {
			t.Fatalf("second tab announced again: %s", m.Raw)
		}
		return m.Type == "presence.update"
	})
	var upd struct {
		User   presenceUser `json:"user"`
		Status string       `json:"status"`
	}
	if err := json.Unmarshal(m.Data, &upd); err != nil || upd.User.ID != "pr-s" || upd.Status != "hand_raised" {
		t.Fatalf("presence.update: %s", m.Raw)
	}
	// Closing one of two tabs does not announce a leave; the last does.
	tab1.Close()
	teacher.Quiet("presence.leave", 500*time.Millisecond)
	tab2.Close()
	lv := teacher.ExpectType("presence.leave")
	if lv.Seq == 0 {
		t.Fatalf("presence.leave: %s", lv.Raw)
	}
}
