package redis_test

import (
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		o       redis.Options
		badKeys []string // keys the error must name; none = valid
	}{
		{"zero is single on localhost", redis.Options{}, nil},
		{"single", redis.Options{Mode: "single", Addr: "10.0.0.1:6379", DB: 2}, nil},
		{"sentinel", redis.Options{Mode: "sentinel", Addrs: []string{"a:26379"}, MasterName: "m"}, nil},
		{"cluster", redis.Options{Mode: "cluster", Addrs: []string{"a:7000", "b:7000"}}, nil},
		{"unknown mode", redis.Options{Mode: "ring"}, []string{"mode"}},
		{"sentinel needs addrs and name", redis.Options{Mode: "sentinel"}, []string{"addrs", "master_name"}},
		{"cluster needs addrs, db 0", redis.Options{Mode: "cluster", DB: 1}, []string{"addrs", "db"}},
		{"addr only in single", redis.Options{Mode: "cluster", Addrs: []string{"a:1"}, Addr: "b:2"}, []string{"addr"}},
		{"addrs not in single", redis.Options{Addrs: []string{"a:1"}}, []string{"addrs"}},
		{"host:port", redis.Options{Addr: "localhost"}, []string{"addr"}},
		{"prefix without braces", redis.Options{Prefix: "x{y}:"}, []string{"prefix"}},
		{"negatives", redis.Options{DB: -1, HistoryLimit: -1, HistoryAge: -time.Second, LivenessTTL: -1, WaitReplicas: -1,
			DialTimeout: -1, OpTimeout: -1}, []string{"db", "history_limit", "history_age", "liveness_ttl", "wait_replicas", "dial_timeout", "op_timeout"}},
		{"idle room TTL", redis.Options{IdleRoomTTL: -time.Second}, []string{"idle_room_ttl"}},
		{"idle room TTL below 1ms", redis.Options{IdleRoomTTL: time.Microsecond}, []string{"idle_room_ttl"}},
		{"wait shorter than op", redis.Options{WaitReplicas: 1, WaitTimeout: 3 * time.Second, OpTimeout: time.Second}, []string{"wait_timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if len(tt.badKeys) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors naming %v", tt.badKeys)
			}
			for _, k := range tt.badKeys {
				if !strings.Contains(err.Error(), "redis: "+k+":") {
					t.Errorf("Validate() = %q, does not name %s", err, k)
				}
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := redis.Options{}.WithDefaults()
	want := redis.Options{Mode: "single", Addr: "127.0.0.1:6379", Prefix: "classgate:", HistoryLimit: 1000,
		HistoryAge: time.Hour, LivenessTTL: 30 * time.Second, WaitTimeout: 100 * time.Millisecond,
		DialTimeout: 2 * time.Second, OpTimeout: 2 * time.Second}
	if o.IdleRoomTTL != o.HistoryAge {
		t.Fatalf("idle room TTL %s, want the history age %s", o.IdleRoomTTL, o.HistoryAge)
	}
	if o := (redis.Options{HistoryAge: 3 * time.Hour}).WithDefaults(); o.IdleRoomTTL != 3*time.Hour {
		t.Fatalf("idle room TTL %s, want the configured history age 3h", o.IdleRoomTTL)
	}
	if o.Mode != want.Mode || o.Addr != want.Addr || o.Prefix != want.Prefix || o.HistoryLimit != want.HistoryLimit ||
		o.HistoryAge != want.HistoryAge || o.LivenessTTL != want.LivenessTTL || o.WaitTimeout != want.WaitTimeout ||
		o.DialTimeout != want.DialTimeout || o.OpTimeout != want.OpTimeout {
		t.Fatalf("defaults = %+v, want %+v", o, want)
	}
}
