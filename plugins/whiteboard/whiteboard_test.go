package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/classgate/classgate/plugins/sdk"
)

var (
	teacher = sdk.User{ID: "t1", Name: "Tess", Role: "teacher"}
	student = sdk.User{ID: "s1", Name: "Sam", Role: "student"}
)

func newBoard(t *testing.T, cfg string) *sdk.Harness {
	t.Helper()
	h, err := sdk.NewHarness("whiteboard", New, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type snap struct {
	Elements []json.RawMessage `json:"elements"`
	Seq      uint64            `json:"seq"`
}

func snapshotOf(t *testing.T, h *sdk.Harness) (snap, string) {
	t.Helper()
	res, err := h.Join(student, "c9", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 1 || res.Replies[0].Type != "whiteboard.snapshot" {
		t.Fatalf("join = %+v", res)
	}
	var s snap
	if err := json.Unmarshal([]byte(res.Replies[0].Data), &s); err != nil {
		t.Fatal(err)
	}
	return s, res.Replies[0].Data
}

func ids(t *testing.T, s snap) []string {
	var out []string
	for _, e := range s.Elements {
		var v struct{ ID string }
		if err := json.Unmarshal(e, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v.ID)
	}
	return out
}

func el(id string, extra string) string {
	return `{"element":{"id":"` + id + `","type":"rect"` + extra + `}}`
}

func TestFrames(t *testing.T) {
	type step struct {
		user       sdk.User
		typ, data  string
		wantReject string
	}
	for _, tc := range []struct {
		name      string
		steps     []step
		wantBoard []string
	}{
		{"draw in order", []step{{student, "whiteboard.draw", el("a", ""), ""}, {teacher, "whiteboard.draw", el("b", ""), ""}}, []string{"a", "b"}},
		{"redraw keeps place", []step{{student, "whiteboard.draw", el("a", ""), ""}, {student, "whiteboard.draw", el("b", ""), ""}, {student, "whiteboard.draw", el("a", `,"x":5`), ""}}, []string{"a", "b"}},
		{"erase", []step{{student, "whiteboard.draw", el("a", ""), ""}, {student, "whiteboard.draw", el("b", ""), ""}, {student, "whiteboard.erase", `{"id":"a"}`, ""}}, []string{"b"}},
		{"erase unknown", []step{{student, "whiteboard.erase", `{"id":"zz"}`, `unknown element "zz"`}}, nil},
		{"teacher clears", []step{{student, "whiteboard.draw", el("a", ""), ""}, {teacher, "whiteboard.clear", `{}`, ""}, {student, "whiteboard.draw", el("c", ""), ""}}, []string{"c"}},
		{"student cannot clear", []step{{student, "whiteboard.draw", el("a", ""), ""}, {student, "whiteboard.clear", `{}`, "only teachers can clear the board"}}, []string{"a"}},
		{"element not object", []step{{student, "whiteboard.draw", `{"element":[1]}`, "element must be an object"}}, nil},
		{"no id", []step{{student, "whiteboard.draw", `{"element":{"type":"line"}}`, "element.id must be a non-empty string of at most 128 bytes"}}, nil},
		{"too large", []step{{student, "whiteboard.draw", el("a", `,"t":"`+strings.Repeat("x", 200)+`"`), "element too large (max 128 bytes)"}}, nil},
		{"points ok", []step{{student, "whiteboard.draw", el("a", `,"points":[[1,2],[3,4],[5,6]]`), ""}}, []string{"a"}},
		{"too many points", []step{{student, "whiteboard.draw", el("a", `,"points":[1,2,3,4]`), "too many points (max 3)"}}, nil},
		{"points not array", []step{{student, "whiteboard.draw", el("a", `,"points":{}`), "element.points must be an array"}}, nil},
		{"board full", []step{{student, "whiteboard.draw", el("a", ""), ""}, {student, "whiteboard.draw", el("b", ""), ""}, {student, "whiteboard.draw", el("c", ""), "board full (max 2 elements)"}, {student, "whiteboard.draw", el("a", `,"x":1`), ""}}, []string{"a", "b"}},
		{"erase frees room", []step{{student, "whiteboard.draw", el("a", ""), ""}, {student, "whiteboard.draw", el("b", ""), ""}, {student, "whiteboard.erase", `{"id":"a"}`, ""}, {student, "whiteboard.draw", el("c", ""), ""}}, []string{"b", "c"}},
		{"bad data", []step{{student, "whiteboard.draw", `nope`, "data must be a JSON object"}}, nil},
		{"unknown", []step{{student, "whiteboard.paint", `{}`, "unknown type whiteboard.paint"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newBoard(t, `{"max_element_bytes":128,"max_points":3,"max_elements":2}`)
			for i, s := range tc.steps {
				seq := h.Seq
				res, err := h.Message(s.user, "c1", s.typ, s.data)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if res.Reject != s.wantReject {
					t.Fatalf("step %d: reject %q, want %q", i, res.Reject, s.wantReject)
				}
				if s.wantReject == "" {
					if len(res.Emits) != 1 || !res.Emits[0].Durable || res.Emits[0].Type != s.typ || res.Emits[0].Seq != seq+1 {
						t.Fatalf("step %d: emits %+v", i, res.Emits)
					}
				}
			}
			s, raw := snapshotOf(t, h)
			if got := ids(t, s); strings.Join(got, ",") != strings.Join(tc.wantBoard, ",") {
				t.Fatalf("board = %v, want %v", got, tc.wantBoard)
			}
			if s.Seq != h.Seq || !strings.Contains(raw, `"elements":[`) {
				t.Fatalf("snapshot %s, want seq %d and an elements array", raw, h.Seq)
			}
		})
	}
}

func TestDrawEchoesElement(t *testing.T) {
	h := newBoard(t, "")
	res, err := h.Message(student, "c1", "whiteboard.draw", `{"element":{"id":"a","points":[[0,0],[1,1]]},"junk":1}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Emits[0].Data; got != `{"element":{"id":"a","points":[[0,0],[1,1]]}}` {
		t.Fatalf("draw data = %s", got)
	}
	res, err = h.Message(student, "c1", "whiteboard.erase", `{"id":"a"}`)
	if err != nil || res.Emits[0].Data != `{"id":"a"}` {
		t.Fatalf("erase = %+v, %v", res, err)
	}
}

// TestSnapshotExactAsOfSeq interleaves other plugins' events and checks that
// each snapshot's seq is the room seq the state corresponds to.
func TestSnapshotExactAsOfSeq(t *testing.T) {
	h := newBoard(t, "")
	for i := 0; i < 5; i++ {
		h.Seq += 3 // durable events of other namespaces
		if _, err := h.Message(student, "c1", "whiteboard.draw", el(strconv.Itoa(i), "")); err != nil {
			t.Fatal(err)
		}
		s, _ := snapshotOf(t, h)
		if s.Seq != h.Seq || len(s.Elements) != i+1 {
			t.Fatalf("snapshot seq %d with %d elements; room seq %d", s.Seq, len(s.Elements), h.Seq)
		}
	}
}

func TestCursor(t *testing.T) {
	for _, tc := range []struct {
		data, wantData, wantReject string
	}{
		{`{"x":1.5,"y":-2}`, `{"x":1.5,"y":-2}`, ""},
		{`{"x":1}`, "", "cursor needs numbers x and y"},
		{`{"x":"1","y":2}`, "", "cursor needs numbers x and y"},
	} {
		h := newBoard(t, "")
		res, err := h.Message(student, "c1", "whiteboard.cursor", tc.data)
		if err != nil {
			t.Fatal(err)
		}
		if res.Reject != tc.wantReject {
			t.Fatalf("%s: reject %q", tc.data, res.Reject)
		}
		if tc.wantReject == "" {
			want := sdk.Event{Type: "whiteboard.cursor", Data: tc.wantData, To: sdk.Target{Kind: sdk.KindOthers, Value: "c1"}}
			if len(res.Emits) != 1 || res.Emits[0] != want || h.Seq != 0 {
				t.Fatalf("%s: emits %+v", tc.data, res.Emits)
			}
		}
	}
}

func TestClearRolesConfig(t *testing.T) {
	h := newBoard(t, `{"clear_roles":["teacher","assistant"]}`)
	res, err := h.Message(student, "c1", "whiteboard.clear", `{}`)
	if err != nil || res.Reject != "only teacher or assistant can clear the board" {
		t.Fatalf("%+v %v", res, err)
	}
	res, err = h.Message(sdk.User{ID: "a", Role: "assistant"}, "c1", "whiteboard.clear", `{}`)
	if err != nil || res.Reject != "" {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestEmptySnapshot(t *testing.T) {
	h := newBoard(t, "")
	_, raw := snapshotOf(t, h)
	if raw != `{"elements":[],"seq":0}` {
		t.Fatalf("snapshot = %s", raw)
	}
}
