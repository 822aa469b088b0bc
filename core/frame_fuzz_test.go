package core_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/classgate/classgate/core"
)

// FuzzParseFrame holds ParseFrame to its contract for any input: it never
// panics; a refusal is bad_request with a message and an id of at most
// MaxIDLen; an accepted frame is valid UTF-8 JSON whose type, room, id and
// data follow the protocol's rules. The seeds run as a regular test; `go
// test -fuzz FuzzParseFrame ./core` explores further.
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"chat.send","room":"r1","id":"c-17","data":{"text":"hello"}}`,
		`{"type":"join","room":"math-7b","id":"j1","since":41}`,
		`{"type":"leave","room":"r","id":"l"}`,
		`{"type":"ping","id":"p1"}`,
		`{"type":"whiteboard.draw","room":"r","id":"d","data":{"element":{"id":"e1","kind":"stroke","points":[[1,2],[3,4]]}}}`,
		"{\"type\":\"chat.send\",\"room\":\"r\",\"id\":\"x\",\"data\":{\"text\":\"\xff\"}}",
		"{\"type\":\"join\",\"room\":\"r\u0000\",\"id\":\"x\"}",
		`{"type":"Chat.send","room":"r"}`,
		`{"type":"a.b.c","room":"r"}`,
		`{"type":5,"id":"m2"}`,
		`{"type":"join","room":"x","since":-1,"id":"m5"}`,
		`{"type":"join","room":"x","since":"7"}`,
		`{"type":"chat.send","room":"r","since":1}`,
		`{"type":"join","room":{}}`,
		`[1,2]`, `hello`, ``, `{`, `{"type":"ping"`, `null`,
		`{"type":"join","room":"` + string(make([]byte, 300)) + `"}`,
		`{"type":"join","type":"leave","room":"r"}`,
		`{"type":"join","room":"\ud800"}`,
		`  {"type":"ping"}  `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := core.ParseFrame(b)
		if len(fr.ID) > core.MaxIDLen {
			t.Fatalf("id of %d bytes", len(fr.ID))
		}
		if err != nil {
			if err.Code != core.CodeBadRequest || err.Message == "" {
				t.Fatalf("refusal %v", err)
			}
			return
		}
		if !utf8.Valid(b) {
			t.Fatalf("accepted invalid UTF-8 %q", b)
		}
		switch fr.Type {
		case "join", "leave", "ping":
		default:
			if _, _, ok := core.SplitType(fr.Type); ok && !core.ValidType(fr.Type) {
				t.Fatalf("accepted type %q", fr.Type)
			}
		}
		if len(fr.Type) == 0 || len(fr.Type) > core.MaxTypeLen {
			t.Fatalf("accepted type %q", fr.Type)
		}
		if fr.Room != "" && !core.ValidRoom(fr.Room) {
			t.Fatalf("accepted room %q", fr.Room)
		}
		if len(fr.Data) > 0 && !core.ValidJSON(fr.Data) {
			t.Fatalf("accepted data %q", fr.Data)
		}
		if fr.Since != nil && fr.Type != "join" {
			t.Fatal("accepted since outside join")
		}
	})
}

// FuzzEncodeEvent: whatever strings reach the encoder (types, rooms, user
// names from tokens), the frame on the wire is valid UTF-8 JSON.
func FuzzEncodeEvent(f *testing.F) {
	f.Add("chat.message", "r1", "Ann", uint64(3), []byte(`{"text":"hi"}`))
	f.Add("a\x00.b", "r\"\\", "\xff", uint64(0), []byte(nil))
	f.Add("x\u2028.y", "<room>&", "\u0085", uint64(1), []byte(`[]`))
	f.Fuzz(func(t *testing.T, typ, room, name string, seq uint64, data []byte) {
		if len(data) > 0 && !core.ValidJSON(data) {
			data = nil // the router never passes invalid data
		}
		b := core.EncodeEvent(&core.Event{Room: room, Type: typ, Seq: seq, TS: 1, From: &core.User{ID: "u", Name: name}, Data: data})
		if !utf8.Valid(b) || !json.Valid(b) {
			t.Fatalf("invalid frame %q", b)
		}
	})
}
