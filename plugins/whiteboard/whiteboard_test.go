package main

import (
	"encoding/json"
	"fmt"
	"os"
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
	if raw != `{"elements":[],"seq":0,"can":{"clear":false,"erase_any":false,"erase_own":true}}` {
		t.Fatalf("snapshot = %s", raw)
	}
}

// TestErasePermissions: who may erase or redraw whose elements, by
// configuration. Denials are Forbid (the sender gets "forbidden") and leave
// the element on the board.
func TestErasePermissions(t *testing.T) {
	other := sdk.User{ID: "s2", Name: "Sue", Role: "student"}
	assistant := sdk.User{ID: "a1", Name: "Al", Role: "assistant"}
	const (
		denyOthers = "only teachers can erase or redraw other users' elements"
		denyAll    = "only teachers can erase or redraw elements"
	)
	for _, tc := range []struct {
		name       string
		cfg        string
		owner, by  sdk.User
		action     string // erase or redraw
		wantReject string
	}{
		{"student erases own", "", student, student, "erase", ""},
		{"student redraws own", "", student, student, "redraw", ""},
		{"student erases other student's", "", other, student, "erase", denyOthers},
		{"student erases teacher's", "", teacher, student, "erase", denyOthers},
		{"student redraws teacher's", "", teacher, student, "redraw", denyOthers},
		{"teacher erases student's", "", student, teacher, "erase", ""},
		{"teacher redraws student's", "", student, teacher, "redraw", ""},
		{"erase_own off: student erases own", `{"erase_own":false}`, student, student, "erase", denyAll},
		{"erase_own off: teacher erases any", `{"erase_own":false}`, student, teacher, "erase", ""},
		{"assistant may erase any", `{"erase_any_roles":["teacher","assistant"]}`, teacher, assistant, "erase", ""},
		{"assistant not listed", "", teacher, assistant, "erase", denyOthers},
		{"nobody erases others", `{"erase_any_roles":[]}`, student, teacher, "erase", "nobody can erase or redraw other users' elements"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newBoard(t, tc.cfg)
			if res, err := h.Message(tc.owner, "c1", "whiteboard.draw", el("e", "")); err != nil || res.Reject != "" {
				t.Fatalf("draw: %+v %v", res, err)
			}
			typ, data := "whiteboard.erase", `{"id":"e"}`
			if tc.action == "redraw" {
				typ, data = "whiteboard.draw", el("e", `,"x":2`)
			}
			res, err := h.Message(tc.by, "c2", typ, data)
			if err != nil {
				t.Fatal(err)
			}
			if res.Reject != tc.wantReject || res.Forbidden != (tc.wantReject != "") {
				t.Fatalf("reject %q forbidden %v, want %q", res.Reject, res.Forbidden, tc.wantReject)
			}
			s, raw := snapshotOf(t, h)
			wantLeft := tc.wantReject != "" || tc.action == "redraw"
			if (len(s.Elements) == 1) != wantLeft {
				t.Fatalf("board after %s: %s", tc.action, raw)
			}
			if tc.wantReject != "" && strings.Contains(raw, `"x":2`) {
				t.Fatalf("a forbidden redraw changed the element: %s", raw)
			}
		})
	}
}

// TestStudentClearIsForbidden: a role denial of clear is Forbid.
func TestStudentClearIsForbidden(t *testing.T) {
	h := newBoard(t, "")
	if _, err := h.Message(teacher, "c1", "whiteboard.draw", el("a", "")); err != nil {
		t.Fatal(err)
	}
	res, err := h.Message(student, "c2", "whiteboard.clear", `{}`)
	if err != nil || !res.Forbidden || res.Reject != "only teachers can clear the board" {
		t.Fatalf("%+v %v", res, err)
	}
	if s, _ := snapshotOf(t, h); len(s.Elements) != 1 {
		t.Fatal("a forbidden clear cleared the board")
	}
}

// TestBoardBytesBound: a draw that would make the snapshot's data larger
// than max_board_bytes is rejected; erases and smaller redraws make room;
// the snapshot never exceeds the bound.
func TestBoardBytesBound(t *testing.T) {
	pad := func(n int) string { return `,"t":"` + strings.Repeat("x", n) + `"` }
	// Each el("eN", pad(100)) is 132 bytes, 133 in board bytes; with the
	// snapshot's overhead of 100 bytes, 3 fit in 500 (499) and 4 do not (632).
	const cfg = `{"max_element_bytes":250,"max_board_bytes":500}`
	type step struct {
		typ, data  string
		wantReject string
	}
	tooLarge := "board too large (max 500 bytes): erase or clear first"
	for _, tc := range []struct {
		name  string
		steps []step
		board []string
	}{
		{"fills then refuses", []step{
			{"whiteboard.draw", el("e1", pad(100)), ""},
			{"whiteboard.draw", el("e2", pad(100)), ""},
			{"whiteboard.draw", el("e3", pad(100)), ""},
			{"whiteboard.draw", el("e4", pad(100)), tooLarge},
		}, []string{"e1", "e2", "e3"}},
		{"redraw larger refused", []step{
			{"whiteboard.draw", el("e1", pad(100)), ""},
			{"whiteboard.draw", el("e2", pad(100)), ""},
			{"whiteboard.draw", el("e3", pad(100)), ""},
			{"whiteboard.draw", el("e3", pad(170)), tooLarge},
			{"whiteboard.draw", el("e3", pad(10)), ""},
			{"whiteboard.draw", el("e4", pad(50)), ""},
		}, []string{"e1", "e2", "e3", "e4"}},
		{"erase makes room", []step{
			{"whiteboard.draw", el("e1", pad(100)), ""},
			{"whiteboard.draw", el("e2", pad(100)), ""},
			{"whiteboard.draw", el("e3", pad(100)), ""},
			{"whiteboard.erase", `{"id":"e1"}`, ""},
			{"whiteboard.draw", el("e4", pad(100)), ""},
		}, []string{"e2", "e3", "e4"}},
		{"clear makes room", []step{
			{"whiteboard.draw", el("e1", pad(100)), ""},
			{"whiteboard.draw", el("e2", pad(100)), ""},
			{"whiteboard.draw", el("e3", pad(100)), ""},
			{"whiteboard.clear", `{}`, ""},
			{"whiteboard.draw", el("e4", pad(100)), ""},
			{"whiteboard.draw", el("e5", pad(100)), ""},
		}, []string{"e4", "e5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newBoard(t, cfg)
			for i, s := range tc.steps {
				res, err := h.Message(teacher, "c1", s.typ, s.data)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if res.Reject != s.wantReject || res.Forbidden {
					t.Fatalf("step %d: reject %q (forbidden %v), want %q", i, res.Reject, res.Forbidden, s.wantReject)
				}
				h.Seq = 1<<64 - 1 - 10 // the longest seq, to test the overhead
				if _, raw := snapshotOf(t, h); len(raw) > 500 {
					t.Fatalf("step %d: snapshot of %d bytes > 500", i, len(raw))
				}
			}
			s, _ := snapshotOf(t, h)
			if got := ids(t, s); strings.Join(got, ",") != strings.Join(tc.board, ",") {
				t.Fatalf("board = %v, want %v", got, tc.board)
			}
		})
	}
}

// TestLegacyStateSize: counters written before the byte count was kept
// ("<last> <count>") are recomputed from the elements.
func TestLegacyStateSize(t *testing.T) {
	h := newBoard(t, `{"max_element_bytes":200,"max_board_bytes":500}`)
	big := `{"id":"old","t":"` + strings.Repeat("x", 400) + `"}`
	h.State["k"] = []byte("1 1")
	h.State["o:0000000000000001"] = []byte(big)
	h.State["i:old"] = []byte("o:0000000000000001") // no owner recorded
	res, err := h.Message(teacher, "c1", "whiteboard.draw", el("e1", `,"t":"`+strings.Repeat("x", 100)+`"`))
	if err != nil || res.Reject != "board too large (max 500 bytes): erase or clear first" {
		t.Fatalf("draw on a legacy board: %+v %v", res, err)
	}
	if res, err := h.Message(student, "c1", "whiteboard.erase", `{"id":"old"}`); err != nil || !res.Forbidden {
		t.Fatalf("a student erased an element with no recorded owner: %+v %v", res, err)
	}
	if res, err := h.Message(teacher, "c1", "whiteboard.erase", `{"id":"old"}`); err != nil || res.Reject != "" {
		t.Fatalf("teacher erase: %+v %v", res, err)
	}
	if got := string(h.State["k"]); got != "1 0 0" {
		t.Fatalf("counters after erase = %q", got)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg     string
		wantErr string
	}{
		{"", ""},
		{`{"max_board_bytes":` + strconv.Itoa(sdk.MaxJoinStateBytes) + `}`, ""},
		{`{"max_board_bytes":` + strconv.Itoa(sdk.MaxJoinStateBytes+1) + `}`, "max_board_bytes must be between"},
		{`{"max_board_bytes":100}`, "max_board_bytes must be between"},
		{`{"erase_own":"yes"}`, "erase_own"},
		{`{"erase_any_roles":"teacher"}`, "erase_any_roles"},
	} {
		_, err := sdk.NewHarness("whiteboard", New, tc.cfg)
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("config %s: err %v, want %q", tc.cfg, err, tc.wantErr)
		}
	}
}

// TestDocsQuoteDefaults: docs/PROTOCOL.md states each bound with its key
// and the default defined here.
func TestDocsQuoteDefaults(t *testing.T) {
	doc, err := os.ReadFile("../../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	for key, def := range map[string]int{
		"max_element_bytes": defaultMaxElementBytes,
		"max_points":        defaultMaxPoints,
		"max_elements":      defaultMaxElements,
		"max_board_bytes":   defaultMaxBoardBytes,
	} {
		if want := fmt.Sprintf("`%s` (%d", key, def); !strings.Contains(string(doc), want) {
			t.Errorf("docs/PROTOCOL.md does not say %s…)", want)
		}
	}
	if want := fmt.Sprintf("at most %d", sdk.MaxJoinStateBytes); !strings.Contains(string(doc), want) {
		t.Errorf("docs/PROTOCOL.md does not say %q", want)
	}
}

// TestSnapshotSaysWhatTheRoleMay: the snapshot tells the joining user what
// its role may do under the configuration (the page offers only that).
func TestSnapshotSaysWhatTheRoleMay(t *testing.T) {
	type can struct {
		Clear    bool `json:"clear"`
		EraseAny bool `json:"erase_any"`
		EraseOwn bool `json:"erase_own"`
	}
	for _, tc := range []struct {
		name, cfg string
		user      sdk.User
		want      can
	}{
		{"teacher, defaults", "", teacher, can{true, true, true}},
		{"student, defaults", "", student, can{false, false, true}},
		{"student, erase_own off", `{"erase_own":false}`, student, can{false, false, false}},
		{"teacher, erase_own off", `{"erase_own":false}`, teacher, can{true, true, true}},
		{"student may clear", `{"clear_roles":["teacher","student"]}`, student, can{true, false, true}},
		{"student erases any", `{"erase_any_roles":["student"]}`, student, can{false, true, true}},
		{"nobody clears", `{"clear_roles":[]}`, teacher, can{false, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newBoard(t, tc.cfg)
			res, err := h.Join(tc.user, "c1", true)
			if err != nil {
				t.Fatal(err)
			}
			var s struct {
				Can *can `json:"can"`
			}
			if err := json.Unmarshal([]byte(res.Replies[0].Data), &s); err != nil {
				t.Fatal(err)
			}
			if s.Can == nil || *s.Can != tc.want {
				t.Fatalf("can = %+v, want %+v (%s)", s.Can, tc.want, res.Replies[0].Data)
			}
			// The rights it states are the ones enforced.
			if _, err := h.Message(teacher, "c0", "whiteboard.draw", el("t1", "")); err != nil {
				t.Fatal(err)
			}
			if _, err := h.Message(tc.user, "c1", "whiteboard.draw", el("own", "")); err != nil {
				t.Fatal(err)
			}
			for _, a := range []struct {
				typ, data string
				allowed   bool
			}{
				{"whiteboard.erase", `{"id":"own"}`, tc.want.EraseOwn},
				{"whiteboard.erase", `{"id":"t1"}`, tc.want.EraseAny || tc.user == teacher && tc.want.EraseOwn},
				{"whiteboard.clear", `{}`, tc.want.Clear},
			} {
				res, err := h.Message(tc.user, "c1", a.typ, a.data)
				if err != nil {
					t.Fatal(err)
				}
				if got := res.Reject == ""; got != a.allowed || (!got && !res.Forbidden) {
					t.Errorf("%s %s: reject %q forbidden %v, want allowed %v", a.typ, a.data, res.Reject, res.Forbidden, a.allowed)
				}
			}
		})
	}
}

// TestWarmup: the samples registered with sdk.Warmup run cleanly under
// each config (else the host would log a warning and start instances
// cold), and leave the room's state as it was.
func TestWarmup(t *testing.T) {
	for _, cfg := range []string{""} {
		h := newBoard(t, cfg)
		if err := h.Warm(); err != nil {
			t.Fatalf("config %s: %v", cfg, err)
		}
		if len(h.State) != 0 || h.Seq != 0 {
			t.Fatalf("config %s: warm-up changed the room: state %v, seq %d", cfg, h.State, h.Seq)
		}
	}
}
