package host

import (
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
