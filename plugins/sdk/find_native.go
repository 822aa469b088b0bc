//go:build !wasip1

package sdk

import (
	"strings"

	"github.com/classgate/classgate/plugins/abi/jsonlite"
)

// FindJSON returns the raw value at a dot-separated key path of the JSON
// document doc ("element.points"; "" is doc itself) and, when the value is
// an array, its element count. found is false when a key is missing; err
// is non-nil when doc is not valid JSON or a step is not an object. raw is
// a sub-slice of doc. In a wasm build the host does this natively
// (json_find); this native version gives the same answers for tests.
func FindJSON(doc []byte, path string) (raw []byte, count int, found bool, err error) {
	if len(doc) == 0 || !jsonlite.Valid(doc) {
		return nil, 0, false, ErrInvalid
	}
	v := doc
	for path != "" {
		key, rest, _ := strings.Cut(path, ".")
		path = rest
		if jsonlite.KindOf(v) != jsonlite.Object {
			return nil, 0, false, ErrInvalid
		}
		r, ok, lerr := jsonlite.Lookup(v, key)
		if lerr != nil {
			return nil, 0, false, ErrInvalid
		}
		if !ok {
			return nil, 0, false, nil
		}
		v = r
	}
	if jsonlite.KindOf(v) == jsonlite.Array {
		n, aerr := jsonlite.ArrayLen(v)
		if aerr != nil {
			return nil, 0, false, ErrInvalid
		}
		count = n
	}
	return v, count, true, nil
}
