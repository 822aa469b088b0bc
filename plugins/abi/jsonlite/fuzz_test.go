package jsonlite

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// objectSeeds are the seed corpus of FuzzObject: objects plugins read
// (chat.send, whiteboard.draw, presence.update), edge cases and garbage.
var objectSeeds = []struct{ doc, key string }{
	{`{"text":"hello"}`, "text"},
	{`{"text":"hi \"you\" \u00e9\n"}`, "text"},
	{`{"element":{"id":"e1","type":"line","points":[[0,0],[5,5]]}}`, "element"},
	{`{"status":"hand_raised"}`, "status"},
	{`{"id":"a","id":"b"}`, "id"},
	{`{"a":null}`, "a"},
	{`{"a":1,}`, "a"},
	{`{"a" 1}`, "a"},
	{` { "x" : [ 1 , { "y" : "z" } ] } `, "x"},
	{`{"\u0041":1}`, "A"},
	{`{"t":"\ud83d\ude00"}`, "t"},
	{`[1,2]`, "0"},
	{`{"a":"\xff"}`, "a"},
	{`{`, ""},
	{``, ""},
}

// FuzzObject holds the guest JSON reader to encoding/json on objects: no
// input makes it panic, it accepts exactly the valid objects (below its
// depth limit), and what it returns for a key is what encoding/json finds.
func FuzzObject(f *testing.F) {
	for _, s := range objectSeeds {
		f.Add(s.doc, s.key)
	}
	f.Fuzz(func(t *testing.T, doc, key string) {
		b := []byte(doc)
		obj, perr := ParseObject(b)
		raw, found, lerr := Lookup(b, key)
		str, strOK, serr := LookupString(b, key)
		KindOf(b)
		_, _ = ArrayLen(b)
		_, _ = UnquoteBytes(b)
		if strings.Count(doc, "[")+strings.Count(doc, "{") >= MaxDepth || !utf8.ValidString(doc) {
			return // jsonlite limits depth and does not validate UTF-8 (package doc)
		}
		var m map[string]json.RawMessage
		jerr := json.Unmarshal(b, &m)
		isObject := jerr == nil && m != nil
		if (perr == nil) != isObject {
			t.Fatalf("ParseObject(%q) err = %v; encoding/json: %v", doc, perr, jerr)
		}
		if !isObject {
			return
		}
		for k, want := range m {
			if got, ok := obj.Get(k); !ok || !bytes.Equal(got, want) {
				t.Fatalf("Get(%q) = %q %v, encoding/json has %q", k, got, ok, want)
			}
		}
		want, has := m[key]
		if lerr != nil || found != has {
			t.Fatalf("Lookup(%q, %q) = %q %v %v; encoding/json has %v", doc, key, raw, found, lerr, has)
		}
		if found && !json.Valid(raw) {
			t.Fatalf("Lookup(%q, %q) returned invalid JSON %q", doc, key, raw)
		}
		var s string
		isString := has && json.Unmarshal(want, &s) == nil && string(want) != "null"
		if serr == nil && strOK && bytes.Count(b, []byte(key)) == 1 && (!isString || string(str) != s) {
			t.Fatalf("LookupString(%q, %q) = %q; encoding/json has %s", doc, key, str, want)
		}
	})
}

// FuzzAppendString: whatever the bytes, AppendString writes one valid JSON
// string that decodes to what encoding/json's own encoding decodes to.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "hi", "\"\\/", "\x00\x1f\n\t", "é😀", "\u2028\u2029", "\xff\xfe", strings.Repeat("ab\"", 20)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		if !utf8.Valid(out) || !json.Valid(out) {
			t.Fatalf("AppendString(%q) = %q: not valid UTF-8 JSON", s, out)
		}
		var got, want string
		ref, _ := json.Marshal(s)
		if json.Unmarshal(out, &got) != nil || json.Unmarshal(ref, &want) != nil || got != want {
			t.Fatalf("AppendString(%q) decodes to %q, encoding/json's to %q", s, got, want)
		}
		if back, err := Unquote(out); err != nil || back != want {
			t.Fatalf("Unquote(AppendString(%q)) = %q %v", s, back, err)
		}
	})
}
