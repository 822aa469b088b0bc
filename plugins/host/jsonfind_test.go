package host

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/classgate/classgate/plugins/abi"
)

func TestFindJSON(t *testing.T) {
	doc := []byte(` {"element":{"id":"s1","points":[[1,2],[3,4]]},"n":5}`)
	tests := []struct {
		path  string
		raw   string
		count int
		res   int32
	}{
		{"element", `{"id":"s1","points":[[1,2],[3,4]]}`, 0, abi.ResultOK},
		{"element.points", `[[1,2],[3,4]]`, 2, abi.ResultOK},
		{"element.id", `"s1"`, 0, abi.ResultOK},
		{"element.color", "", 0, abi.ResultNotFound},
		{"n.x", "", 0, abi.ResultInvalid},
	}
	for _, tt := range tests {
		off, n, count, res := findJSON(doc, tt.path)
		if res != tt.res || count != tt.count || (res == abi.ResultOK && string(doc[off:off+n]) != tt.raw) {
			t.Errorf("findJSON(%q) = %d,%d,%d,%d", tt.path, off, n, count, res)
		}
	}
	if _, _, _, res := findJSON([]byte(`{"a":[`), "a"); res != abi.ResultInvalid {
		t.Errorf("invalid JSON: %d", res)
	}
}

// FuzzFindJSON feeds the host's json_find (native code run on documents a
// guest supplies, often straight from a client frame) arbitrary documents
// and paths: it never panics, a value it finds lies within the document and
// is valid JSON, and an array's count is its number of elements.
func FuzzFindJSON(f *testing.F) {
	f.Add(` {"element":{"id":"s1","points":[[1,2],[3,4]]},"n":5}`, "element.points")
	f.Add(`{"a":{"b":{"c":[]}}}`, "a.b.c")
	f.Add(`{"a":1,"a":[1]}`, "a")
	f.Add(`{"a":[`, "a")
	f.Add(`[1,2]`, "")
	f.Add(`{"\u0061":"x"}`, "a")
	f.Fuzz(func(t *testing.T, doc, path string) {
		off, n, count, res := findJSON([]byte(doc), path)
		if res != abi.ResultOK {
			if res != abi.ResultNotFound && res != abi.ResultInvalid {
				t.Fatalf("result %d", res)
			}
			return
		}
		if off < 0 || n < 0 || off+n > len(doc) {
			t.Fatalf("value at %d+%d outside a document of %d bytes", off, n, len(doc))
		}
		raw := []byte(doc[off : off+n]) // the whole document (path "") keeps its spaces
		raw = bytes.TrimSpace(raw)
		if !json.Valid(raw) {
			t.Fatalf("found invalid JSON %q", raw)
		}
		if raw[0] == '[' {
			var els []json.RawMessage
			if err := json.Unmarshal(raw, &els); err == nil && len(els) != count {
				t.Fatalf("count %d for %s", count, raw)
			}
		} else if count != 0 {
			t.Fatalf("count %d for a non-array %s", count, raw)
		}
	})
}
