package redis_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/classgate/classgate/adapters/redis"
)

// TestREADMENamesEveryKey: the configuration table of README.md names
// every store.redis key Options has (nested ones as tls.ca_file).
func TestREADMENamesEveryKey(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(typ reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("koanf")
			if tag == "" {
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, prefix+tag+".")
				continue
			}
			keys = append(keys, prefix+tag)
		}
	}
	walk(reflect.TypeOf(redis.Options{}), "")
	if len(keys) < 20 {
		t.Fatalf("found only %d keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(string(b), "`"+k+"`") {
			t.Errorf("README.md does not name store.redis key %s", k)
		}
	}
}
