package core_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/classgate/classgate/core"
)

func TestParseFrameValidation(t *testing.T) {
	room256 := strings.Repeat("r", core.MaxRoomLen)
	type64 := "a." + strings.Repeat("b", core.MaxTypeLen-2)
	tests := []struct {
		name  string
		frame string
		ok    bool
		id    string // the id the error must carry
	}{
		{"plain", `{"type":"chat.send","room":"r1","id":"c1","data":{"text":"hi"}}`, true, ""},
		{"utf-8 room and text", `{"type":"chat.send","room":"Mathe-Ä 7b 🧮","data":{"text":"grüß"}}`, true, ""},
		{"room of 256 bytes", `{"type":"join","room":"` + room256 + `"}`, true, ""},
		{"type of 64 bytes", `{"type":"` + type64 + `","room":"r"}`, true, ""},
		{"unknown control word", `{"type":"subscribe","room":"r"}`, true, ""},
		{"type with digits _ -", `{"type":"white_board-2.draw_x-1","room":"r"}`, true, ""},

		{"0xFF inside data", "{\"type\":\"chat.send\",\"room\":\"r\",\"id\":\"u1\",\"data\":{\"text\":\"a\xffb\"}}", false, "u1"},
		{"0xFF in element of data", "{\"type\":\"whiteboard.draw\",\"room\":\"r\",\"id\":\"u2\",\"data\":{\"element\":{\"id\":\"e\xff\"}}}", false, "u2"},
		{"truncated UTF-8 in room", "{\"type\":\"join\",\"room\":\"r\xc3\",\"id\":\"u3\"}", false, "u3"},
		{"overlong encoding", "{\"type\":\"join\",\"room\":\"\xc0\xaf\",\"id\":\"u4\"}", false, "u4"},
		{"surrogate half", "{\"type\":\"join\",\"room\":\"\xed\xa0\x80\",\"id\":\"u5\"}", false, "u5"},
		{"room of 257 bytes", `{"type":"join","room":"` + room256 + `x","id":"l1"}`, false, "l1"},
		{"control character in room", `{"type":"join","room":"a\u0007b","id":"c1"}`, false, "c1"},
		{"newline in room", `{"type":"join","room":"a\nb","id":"c2"}`, false, "c2"},
		{"DEL in room", "{\"type\":\"join\",\"room\":\"a\x7fb\",\"id\":\"c3\"}", false, "c3"},
		{"C1 control in room", `{"type":"join","room":"a\u0085b","id":"c4"}`, false, "c4"},
		{"control character in type", `{"type":"chat.se\u0000nd","room":"r","id":"t1"}`, false, "t1"},
		{"upper case type", `{"type":"Chat.send","room":"r","id":"t2"}`, false, "t2"},
		{"space in type", `{"type":"chat.send now","room":"r","id":"t3"}`, false, "t3"},
		{"quote in type", `{"type":"chat.s\"end","room":"r","id":"t4"}`, false, "t4"},
		{"non-ASCII type", `{"type":"chät.send","room":"r","id":"t5"}`, false, "t5"},
		{"two dots", `{"type":"chat.send.now","room":"r","id":"t6"}`, false, "t6"},
		{"empty action", `{"type":"chat.","room":"r","id":"t7"}`, false, "t7"},
		{"empty namespace", `{"type":".send","room":"r","id":"t8"}`, false, "t8"},
		{"type of 65 bytes", `{"type":"` + type64 + `b","room":"r","id":"t9"}`, false, "t9"},
		{"long control word", `{"type":"` + strings.Repeat("x", core.MaxTypeLen+1) + `","id":"t10"}`, false, "t10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := core.ParseFrame([]byte(tt.frame))
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", f)
			}
			if err.Code != core.CodeBadRequest || err.Message == "" {
				t.Fatalf("got %v, want bad_request with a message", err)
			}
			if f.ID != tt.id {
				t.Fatalf("error carries id %q, want %q", f.ID, tt.id)
			}
		})
	}
}

func TestValidRules(t *testing.T) {
	types := []struct {
		t  string
		ok bool
	}{
		{"chat.send", true}, {"a.b", true}, {"x_1-2.y_3-4", true},
		{"", false}, {"chat", false}, {"chat.", false}, {".send", false}, {"a.b.c", false},
		{"Chat.send", false}, {"chat.send\n", false}, {"chat.sénd", false}, {"chat send", false},
		{"a." + strings.Repeat("b", 62), true}, {"a." + strings.Repeat("b", 63), false},
	}
	for _, tt := range types {
		if got := core.ValidType(tt.t); got != tt.ok {
			t.Errorf("ValidType(%q) = %v, want %v", tt.t, got, tt.ok)
		}
	}
	rooms := []struct {
		r  string
		ok bool
	}{
		{"r", true}, {"school-7/math 7b", true}, {"Ä🧮", true}, {strings.Repeat("é", 128), true},
		{"", false}, {strings.Repeat("é", 128) + "x", false}, {"a\tb", false}, {"a\u200bb", true},
		{"a\u009fb", false}, {"a\xffb", false},
	}
	for _, tt := range rooms {
		if got := core.ValidRoom(tt.r); got != tt.ok {
			t.Errorf("ValidRoom(%q) = %v, want %v", tt.r, got, tt.ok)
		}
	}
	data := []struct {
		d  string
		ok bool
	}{
		{`{"a":"b"}`, true}, {`"é"`, true}, {"{\"a\":\"\xff\"}", false}, {`{"a":`, false}, {"\"\xc3\"", false},
	}
	for _, tt := range data {
		if got := core.ValidJSON([]byte(tt.d)); got != tt.ok {
			t.Errorf("ValidJSON(%q) = %v, want %v", tt.d, got, tt.ok)
		}
	}
}

// TestEncodeEventIsJSON: whatever strings an event carries (types from a
// store written by an older version, rooms, user names from a token), the
// wire form is valid UTF-8 JSON that decodes back to the same values.
func TestEncodeEventIsJSON(t *testing.T) {
	tests := []struct {
		name       string
		typ, room  string
		user       string
		wantType   string
		wantRoomEq bool
	}{
		{"plain", "chat.message", "r", "Ann", "chat.message", true},
		{"control character in type", "chat.mes\u0001sage", "r", "Ann", "chat.mes\u0001sage", true},
		{"quotes and backslash", `a"b\c.d`, `r"\`, `"A"`, `a"b\c.d`, true},
		{"html characters", "a<b>.c&d", "<r>", "<script>", "a<b>.c&d", true},
		{"line separators", "a\u2028.b", "r\u2029", "x", "a\u2028.b", true},
		{"invalid UTF-8 is replaced", "a\xff.b", "r\xfe", "\xff", "a\ufffd.b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := core.EncodeEvent(&core.Event{Room: tt.room, Type: tt.typ, TS: 1, From: &core.User{ID: "u", Name: tt.user}})
			if !utf8.Valid(b) || !json.Valid(b) {
				t.Fatalf("not valid UTF-8 JSON: %q", b)
			}
			var got struct {
				Type string          `json:"type"`
				Room string          `json:"room"`
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.Type != tt.wantType || (tt.wantRoomEq && got.Room != tt.room) {
				t.Fatalf("decoded %+v from %s", got, b)
			}
			if string(got.Data) != "{}" {
				t.Fatalf("event without data must carry data {}: %s", b)
			}
		})
	}
}
