package sdk

import (
	"errors"
	"testing"
)

func TestFindJSON(t *testing.T) {
	doc := []byte(`{"element":{"id":"s1","points":[[1,2],[3,4],[5,6]],"meta":{"a":null}},"n":5}`)
	tests := []struct {
		path  string
		raw   string
		count int
		found bool
		err   error
	}{
		{"", string(doc), 0, true, nil},
		{"element.id", `"s1"`, 0, true, nil},
		{"element.points", `[[1,2],[3,4],[5,6]]`, 3, true, nil},
		{"element.meta.a", `null`, 0, true, nil},
		{"element.nope", "", 0, false, nil},
		{"n.x", "", 0, false, ErrInvalid}, // a step that is not an object
	}
	for _, tt := range tests {
		raw, count, found, err := FindJSON(doc, tt.path)
		if string(raw) != tt.raw || count != tt.count || found != tt.found || !errors.Is(err, tt.err) {
			t.Errorf("FindJSON(%q) = %q, %d, %v, %v; want %q, %d, %v, %v", tt.path, raw, count, found, err, tt.raw, tt.count, tt.found, tt.err)
		}
	}
	if _, _, _, err := FindJSON([]byte(`{"a":`), "a"); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid JSON: err = %v", err)
	}
}
