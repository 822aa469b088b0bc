package fielderr

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestUnder(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantKeys []string
		wantMsg  string
	}{
		{"nil", nil, nil, ""},
		{"one", Errorf("addr", "bad"), []string{"store.redis.addr"}, "store.redis.addr: bad"},
		{"joined and wrapped", fmt.Errorf("redis: %w", errors.Join(Errorf("addrs", "required"), Errorf("db", "must be 0"))),
			[]string{"store.redis.addrs", "store.redis.db"}, "store.redis.addrs: required\nstore.redis.db: must be 0"},
		{"plain error", errors.New("boom"), []string{"store.redis"}, "store.redis: boom"},
		{"wrapped plain error", fmt.Errorf("ctx: %w", errors.New("boom")), []string{"store.redis"}, "store.redis: ctx: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Under("store.redis", tt.err)
			if keys := Keys(got); !reflect.DeepEqual(keys, tt.wantKeys) {
				t.Errorf("keys = %q, want %q", keys, tt.wantKeys)
			}
			msg := ""
			if got != nil {
				msg = got.Error()
			}
			if msg != tt.wantMsg {
				t.Errorf("message = %q, want %q", msg, tt.wantMsg)
			}
		})
	}
}
