package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/classgate/classgate/plugins/sdk"
)

var (
	ann = sdk.User{ID: "u1", Name: "Ann", Role: "teacher"}
	bob = sdk.User{ID: "u2", Name: "Bob \"B\"", Role: "student"}
)

type user struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Role   string `json:"role"`
	Status string `json:"status"`
}

func newPresence(t *testing.T, cfg string) *sdk.Harness {
	t.Helper()
	h, err := sdk.NewHarness("presence", New, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func state(t *testing.T, res *sdk.Result) []user {
	t.Helper()
	if len(res.Replies) != 1 || res.Replies[0].Type != "presence.state" {
		t.Fatalf("replies = %+v", res.Replies)
	}
	if !strings.Contains(res.Replies[0].Data, `"users":[`) {
		t.Fatalf("users is not an array: %s", res.Replies[0].Data)
	}
	var v struct{ Users []user }
	if err := json.Unmarshal([]byte(res.Replies[0].Data), &v); err != nil {
		t.Fatal(err)
	}
	return v.Users
}

func TestPresenceScenario(t *testing.T) {
	type step struct {
		name        string
		do          func(h *sdk.Harness) (*sdk.Result, error)
		wantDurable []string // types of durable emits
		wantData    []string
		wantUsers   []string // "id:status" in the join reply (joins only)
	}
	steps := []step{
		{"ann joins", func(h *sdk.Harness) (*sdk.Result, error) { return h.Join(ann, "a1", true) },
			[]string{"presence.join"}, []string{`{"user":{"id":"u1","name":"Ann","role":"teacher","status":"online"}}`}, []string{"u1:online"}},
		{"ann second tab", func(h *sdk.Harness) (*sdk.Result, error) { return h.Join(ann, "a2", false) },
			nil, nil, []string{"u1:online"}},
		{"bob joins", func(h *sdk.Harness) (*sdk.Result, error) { return h.Join(bob, "b1", true) },
			[]string{"presence.join"}, []string{`{"user":{"id":"u2","name":"Bob \"B\"","role":"student","status":"online"}}`}, []string{"u1:online", "u2:online"}},
		{"bob raises hand", func(h *sdk.Harness) (*sdk.Result, error) {
			return h.Message(bob, "b1", "presence.update", `{"status":"hand_raised"}`)
		}, []string{"presence.update"}, []string{`{"user":{"id":"u2","name":"Bob \"B\"","role":"student"},"status":"hand_raised"}`}, nil},
		{"ann closes one tab", func(h *sdk.Harness) (*sdk.Result, error) { return h.Leave(ann, "a1", false, false) },
			nil, nil, nil},
		{"bob opens a tab", func(h *sdk.Harness) (*sdk.Result, error) { return h.Join(bob, "b2", false) },
			nil, nil, []string{"u1:online", "u2:hand_raised"}},
		{"ann leaves", func(h *sdk.Harness) (*sdk.Result, error) { return h.Leave(ann, "a2", true, false) },
			[]string{"presence.leave"}, []string{`{"user":{"id":"u1","name":"Ann","role":"teacher"}}`}, nil},
		{"carl joins", func(h *sdk.Harness) (*sdk.Result, error) {
			return h.Join(sdk.User{ID: "u0", Name: "Carl", Role: "student"}, "c1", true)
		}, []string{"presence.join"}, nil, []string{"u0:online", "u2:hand_raised"}},
	}
	h := newPresence(t, "")
	for _, s := range steps {
		res, err := s.do(h)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if res.Reject != "" {
			t.Fatalf("%s: rejected %q", s.name, res.Reject)
		}
		var types, datas []string
		for _, e := range res.Emits {
			if !e.Durable || e.To.Kind != sdk.KindRoom {
				t.Fatalf("%s: non-durable emit %+v", s.name, e)
			}
			types = append(types, e.Type)
			datas = append(datas, e.Data)
		}
		if strings.Join(types, ",") != strings.Join(s.wantDurable, ",") {
			t.Fatalf("%s: durable %v, want %v", s.name, types, s.wantDurable)
		}
		if s.wantData != nil && strings.Join(datas, ",") != strings.Join(s.wantData, ",") {
			t.Fatalf("%s: data %v, want %v", s.name, datas, s.wantData)
		}
		if s.wantUsers != nil {
			var got []string
			for _, u := range state(t, res) {
				if u.Name == "" || u.Role == "" {
					t.Fatalf("%s: user without name/role %+v", s.name, u)
				}
				got = append(got, u.ID+":"+u.Status)
			}
			if strings.Join(got, ",") != strings.Join(s.wantUsers, ",") {
				t.Fatalf("%s: users %v, want %v", s.name, got, s.wantUsers)
			}
		}
	}
}

func TestUpdateValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg, data, wantReject string
	}{
		{"", `{"status":"away"}`, ""},
		{"", `{"status":""}`, "status must be 1–32 characters of a-z, 0-9, '_' or '-'"},
		{"", `{"status":"Away!"}`, "status must be 1–32 characters of a-z, 0-9, '_' or '-'"},
		{"", `{"status":"` + strings.Repeat("a", 33) + `"}`, "status must be 1–32 characters of a-z, 0-9, '_' or '-'"},
		{"", `{}`, "status must be 1–32 characters of a-z, 0-9, '_' or '-'"},
		{"", `[]`, "data must be an object {status}"},
		{`{"statuses":["away","hand_raised"]}`, `{"status":"away"}`, ""},
		{`{"statuses":["away","hand_raised"]}`, `{"status":"dancing"}`, "unknown status dancing"},
	} {
		h := newPresence(t, tc.cfg)
		res, err := h.Message(ann, "a1", "presence.update", tc.data)
		if err != nil {
			t.Fatal(err)
		}
		if res.Reject != tc.wantReject {
			t.Errorf("%s %s: reject %q, want %q", tc.cfg, tc.data, res.Reject, tc.wantReject)
		}
	}
	h := newPresence(t, "")
	if res, err := h.Message(ann, "a1", "presence.dance", `{}`); err != nil || res.Reject != "unknown type presence.dance" {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestEmptyRoomClearsStateAndEmptyStateIsArray(t *testing.T) {
	h := newPresence(t, `{"default_status":"here"}`)
	if _, err := h.Join(ann, "a1", true); err != nil {
		t.Fatal(err)
	}
	h.State["u:ghost"] = []byte(`{"id":"ghost","name":"","role":"","status":"online"}`)
	if _, err := h.Leave(ann, "a1", true, true); err != nil {
		t.Fatal(err)
	}
	if len(h.State) != 0 {
		t.Fatalf("state after room emptied: %v", h.State)
	}
	res, err := h.Join(bob, "b1", true)
	if err != nil {
		t.Fatal(err)
	}
	if us := state(t, res); len(us) != 1 || us[0].Status != "here" {
		t.Fatalf("users = %+v", us)
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []string{`{"default_status":"Not Valid"}`, `{"statuses":"away"}`, `{"hand_status":"Hand Up"}`, `{"hand_status":"online"}`, `{"lower_roles":"teacher"}`} {
		if _, err := sdk.NewHarness("presence", New, cfg); err == nil {
			t.Errorf("config %s accepted", cfg)
		}
	}
}

func TestLowerHand(t *testing.T) {
	carl := sdk.User{ID: "u3", Name: "Carl", Role: "student"}
	for _, tc := range []struct {
		name       string
		cfg        string
		by         sdk.User
		data       string
		bobStatus  string // bob's status before ("" = bob not in the room)
		wantReject string
		wantForbid bool
		wantEmit   string // the presence.update data, "" = none
		wantRecord string // bob's status after
	}{
		{"teacher lowers a raised hand", "", ann, `{"user":"u2"}`, "hand_raised", "", false,
			`{"user":{"id":"u2","name":"Bob \"B\"","role":"student"},"status":"online"}`, "online"},
		{"hand already down: ack, no event", "", ann, `{"user":"u2"}`, "online", "", false, "", "online"},
		{"other status is not a hand", "", ann, `{"user":"u2"}`, "away", "", false, "", "away"},
		{"student may not", "", carl, `{"user":"u2"}`, "hand_raised", "only teacher can lower another user's hand", true, "", "hand_raised"},
		{"student may not lower even their own through it", "", bob, `{"user":"u2"}`, "hand_raised", "only teacher can lower another user's hand", true, "", "hand_raised"},
		{"configured roles", `{"lower_roles":["teacher","assistant"]}`, sdk.User{ID: "u9", Name: "Tia", Role: "assistant"}, `{"user":"u2"}`, "hand_raised", "", false,
			`{"user":{"id":"u2","name":"Bob \"B\"","role":"student"},"status":"online"}`, "online"},
		{"nobody configured", `{"lower_roles":[]}`, ann, `{"user":"u2"}`, "hand_raised", "nobody can lower another user's hand", true, "", "hand_raised"},
		{"custom statuses", `{"default_status":"here","hand_status":"question"}`, ann, `{"user":"u2"}`, "question", "", false,
			`{"user":{"id":"u2","name":"Bob \"B\"","role":"student"},"status":"here"}`, "here"},
		{"unknown user", "", ann, `{"user":"nobody"}`, "hand_raised", "that user is not in the room", false, "", "hand_raised"},
		{"user gone", "", ann, `{"user":"u2"}`, "", "that user is not in the room", false, "", ""},
		{"no user", "", ann, `{}`, "hand_raised", "user must be a user id (a non-empty string)", false, "", "hand_raised"},
		{"user not a string", "", ann, `{"user":2}`, "hand_raised", "user must be a user id (a non-empty string)", false, "", "hand_raised"},
		{"data not an object", "", ann, `"u2"`, "hand_raised", "data must be an object {user}", false, "", "hand_raised"},
		{"unreadable record", "", ann, `{"user":"u3"}`, "hand_raised", "that user's presence record is unreadable", false, "", "hand_raised"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newPresence(t, tc.cfg)
			if tc.bobStatus != "" {
				h.State["u:u2"] = []byte(`{"id":"u2","name":"Bob \"B\"","role":"student","status":"` + tc.bobStatus + `"}`)
			}
			h.State["u:u3"] = []byte(`{"id":"u3",`) // a damaged record
			res, err := h.Message(tc.by, "c1", "presence.lower_hand", tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if res.Reject != tc.wantReject || res.Forbidden != tc.wantForbid {
				t.Fatalf("reject %q forbidden %v, want %q %v", res.Reject, res.Forbidden, tc.wantReject, tc.wantForbid)
			}
			var got string
			for _, e := range res.Emits {
				if e.Type != "presence.update" || !e.Durable || e.To.Kind != sdk.KindRoom {
					t.Fatalf("emit %+v", e)
				}
				got = e.Data
			}
			if got != tc.wantEmit || len(res.Emits) > 1 {
				t.Fatalf("emits %+v, want %s", res.Emits, tc.wantEmit)
			}
			if tc.bobStatus == "" {
				return
			}
			var rec user
			if err := json.Unmarshal(h.State["u:u2"], &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Status != tc.wantRecord || rec.Name != `Bob "B"` || rec.Role != "student" {
				t.Fatalf("record after = %+v, want status %s", rec, tc.wantRecord)
			}
		})
	}
	// A later join sees the lowered hand.
	h := newPresence(t, "")
	for _, u := range []sdk.User{ann, bob} {
		if _, err := h.Join(u, u.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := h.Message(bob, "b1", "presence.update", `{"status":"hand_raised"}`); err != nil || res.Reject != "" {
		t.Fatalf("%+v %v", res, err)
	}
	if res, err := h.Message(ann, "a1", "presence.lower_hand", `{"user":"u2"}`); err != nil || res.Reject != "" {
		t.Fatalf("%+v %v", res, err)
	}
	res, err := h.Join(carl, "c1", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range state(t, res) {
		if u.Status != "online" {
			t.Fatalf("after lowering, state %+v", state(t, res))
		}
	}
}

// TestDocsQuoteDefaults: docs/PROTOCOL.md states the role rule's keys with
// the defaults defined here.
func TestDocsQuoteDefaults(t *testing.T) {
	doc, err := os.ReadFile("../../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	roles, _ := json.Marshal(defaultLowerRoles)
	for _, want := range []string{
		"`presence.lower_hand {user: <user id>}`",
		"`lower_roles` (`" + string(roles) + "`)",
		"`hand_status` (`\"" + defaultHandStatus + "\"`)",
		"`default_status` (`\"" + defaultStatus + "\"`)",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/PROTOCOL.md does not say %s", want)
		}
	}
}

// TestWarmup: the samples registered with sdk.Warmup run cleanly under
// each config (else the host would log a warning and start instances
// cold), and leave the room's state as it was.
func TestWarmup(t *testing.T) {
	for _, cfg := range []string{"", `{"statuses":["here"]}`} {
		h := newPresence(t, cfg)
		if err := h.Warm(); err != nil {
			t.Fatalf("config %s: %v", cfg, err)
		}
		if len(h.State) != 0 || h.Seq != 0 {
			t.Fatalf("config %s: warm-up changed the room: state %v, seq %d", cfg, h.State, h.Seq)
		}
	}
}
