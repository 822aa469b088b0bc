package jsonlite

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

var samples = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0.5e+10`, `1E3`, `"x"`, `"\u00e9\n\"\\\/"`,
	`{"a":1,"b":[1,2,{"c":null}],"d":"e"}`, ` { "a" : [ ] } `, `"\ud83d\ude00"`,
	`{`, `}`, `[1,]`, `{"a":}`, `{"a" 1}`, `01`, `-`, `1.`, `1e`, `"abc`, `"\x"`, `"\u12"`, "\"a\tb\"",
	`tru`, `nul`, `{"a":1}x`, `[1 2]`, `{1:2}`, `""`, `[[[[]]]]`, `{"a":{"b":{"c":{}}}}`,
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	for _, s := range samples {
		if got, want := Valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("Valid(%q) = %v, encoding/json says %v", s, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range samples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Count(s, "[")+strings.Count(s, "{") >= MaxDepth {
			return
		}
		if got, want := Valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", s, got, want)
		}
		if !utf8.ValidString(s) {
			return // jsonlite does not validate UTF-8 (see the package doc)
		}
		if v, err := Unquote([]byte(s)); err == nil {
			var w string
			if json.Unmarshal([]byte(s), &w) != nil || w != v {
				t.Fatalf("Unquote(%q) = %q, encoding/json gives %q", s, v, w)
			}
		}
	})
}

func TestParseObject(t *testing.T) {
	obj, err := ParseObject([]byte(` {"text":"hi \"you\"", "n": 2.5, "b": true, "nil": null, "arr":[1,[2]], "o":{"x":1}, "text2":"\u00e9", "dup":1, "dup":2} `))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key, want string
	}{{"arr", `[1,[2]]`}, {"o", `{"x":1}`}, {"dup", `2`}, {"nil", `null`}} {
		if v, ok := obj.Get(tc.key); !ok || string(v) != tc.want {
			t.Errorf("Get(%s) = %s, %v", tc.key, v, ok)
		}
	}
	if s, ok, err := obj.String("text"); s != `hi "you"` || !ok || err != nil {
		t.Errorf("String(text) = %q %v %v", s, ok, err)
	}
	if s, _, _ := obj.String("text2"); s != "é" {
		t.Errorf("String(text2) = %q", s)
	}
	if _, ok, err := obj.String("nil"); ok || err != nil {
		t.Error("null string should be absent")
	}
	if _, _, err := obj.String("n"); !errors.Is(err, ErrType) || !strings.Contains(err.Error(), `"n"`) {
		t.Errorf("String(n) err = %v", err)
	}
	if f, ok, err := obj.Number("n"); f != 2.5 || !ok || err != nil {
		t.Errorf("Number(n) = %v %v %v", f, ok, err)
	}
	if b, ok, err := obj.Bool("b"); !b || !ok || err != nil {
		t.Errorf("Bool(b) = %v %v %v", b, ok, err)
	}
	if n, err := ArrayLen(mustGet(t, obj, "arr")); n != 2 || err != nil {
		t.Errorf("ArrayLen = %d %v", n, err)
	}
	if els, err := Elements([]byte(`[]`)); els == nil || len(els) != 0 || err != nil {
		t.Errorf("Elements([]) = %v %v", els, err)
	}
	for _, bad := range []string{`[]`, `"x"`, `{"a":1,}`, `{"a":1} {}`, ``} {
		if _, err := ParseObject([]byte(bad)); err == nil {
			t.Errorf("ParseObject(%q) succeeded", bad)
		}
	}
	if _, err := ParseObject([]byte(strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1))); !errors.Is(err, ErrDepth) {
		t.Errorf("deep object: %v", err)
	}
}

func mustGet(t *testing.T, o Obj, k string) []byte {
	v, ok := o.Get(k)
	if !ok {
		t.Fatalf("missing %s", k)
	}
	return v
}

func TestAppendStringRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "tab\tnl\ncr\r\x01\x1f", "é ü 😀", "\u2028\u2029", "bad\xffutf8"} {
		enc := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("AppendString(%q) = %s: %v", s, enc, err)
		}
		if got != strings.ToValidUTF8(s, "\ufffd") {
			t.Errorf("round trip of %q gave %q", s, got)
		}
		if back, err := Unquote(enc); err != nil || back != got {
			t.Errorf("Unquote(%s) = %q, %v", enc, back, err)
		}
	}
}

func TestKindOf(t *testing.T) {
	for in, want := range map[string]Kind{`{`: Object, ` [`: Array, `"`: String, `t`: Bool, `n`: Null, `-1`: Number, `x`: Invalid, ``: Invalid} {
		if got := KindOf([]byte(in)); got != want {
			t.Errorf("KindOf(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestLookup(t *testing.T) {
	obj := []byte(` {"a":1, "t\u0065xt" : "hi", "o":{"text":"no"}, "text2":"x"} `)
	for _, tc := range []struct {
		key, want string
		found     bool
	}{{"a", "1", true}, {"text", `"hi"`, true}, {"o", `{"text":"no"}`, true}, {"zz", "", false}} {
		raw, found, err := Lookup(obj, tc.key)
		if err != nil || found != tc.found || string(raw) != tc.want {
			t.Errorf("Lookup(%s) = %s %v %v", tc.key, raw, found, err)
		}
	}
	for _, bad := range []string{`[]`, `{"a":}`, `{"a":1,}`} {
		if _, _, err := Lookup([]byte(bad), "zz"); err == nil {
			t.Errorf("Lookup in %s succeeded", bad)
		}
	}
	if b, err := UnquoteBytes([]byte(`"plain"`)); err != nil || string(b) != "plain" {
		t.Error(string(b), err)
	}
	if b, err := UnquoteBytes([]byte(`"a\nb"`)); err != nil || string(b) != "a\nb" {
		t.Error(string(b), err)
	}
	if got := string(AppendString(nil, []byte("q\"é"))); got != `"q\"é"` {
		t.Error(got)
	}
}

func TestLongStrings(t *testing.T) {
	for _, s := range []string{strings.Repeat("abcdefgh", 5), strings.Repeat("abcdefg\"", 3), strings.Repeat("é", 20) + "x\\y" + strings.Repeat("z", 9), "0123456\n89abcdefghijklmnop\x01"} {
		enc := AppendString(nil, s)
		var want string
		if err := json.Unmarshal(enc, &want); err != nil || want != s {
			t.Fatalf("AppendString(%q) = %s (%v)", s, enc, err)
		}
		obj := append(append([]byte(`{"k":`), enc...), '}')
		got, ok, err := LookupString(obj, "k")
		if err != nil || !ok || string(got) != s {
			t.Fatalf("LookupString(%s) = %q %v %v", obj, got, ok, err)
		}
		if !Valid(obj) {
			t.Fatalf("Valid(%s) = false", obj)
		}
	}
	if _, ok, err := LookupString([]byte(`{"k":null}`), "k"); ok || err != nil {
		t.Fatal("null")
	}
	if _, _, err := LookupString([]byte(`{"k":1}`), "k"); !errors.Is(err, ErrType) {
		t.Fatal(err)
	}
}
