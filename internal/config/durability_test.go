package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/internal/config"
)

// TestDurabilityKeys: store.redis.wait_replicas and wait_timeout (see
// docs/RELIABILITY.md) reach the Redis store from the environment and the
// reference config, and bad values are refused naming the key.
func TestDurabilityKeys(t *testing.T) {
	base := []string{"CLASSGATE_AUTH__HS256_SECRET=" + strings.Repeat("s", 32), "CLASSGATE_STORE__KIND=redis", "CLASSGATE_PLUGINS__CACHE_DIR=none"}
	tests := []struct {
		name        string
		path        string
		env         []string
		wantReplica int
		wantTimeout time.Duration
		wantErr     string
	}{
		{"defaults: off", "", nil, 0, 100 * time.Millisecond, ""},
		{"reference config: off", "../../configs/gateway.yaml", nil, 0, 100 * time.Millisecond, ""},
		{"set", "", []string{"CLASSGATE_STORE__REDIS__WAIT_REPLICAS=2", "CLASSGATE_STORE__REDIS__WAIT_TIMEOUT=250ms"}, 2, 250 * time.Millisecond, ""},
		{"negative replicas", "", []string{"CLASSGATE_STORE__REDIS__WAIT_REPLICAS=-1"}, 0, 0, "store.redis.wait_replicas"},
		{"wait not shorter than op_timeout", "", []string{"CLASSGATE_STORE__REDIS__WAIT_REPLICAS=1", "CLASSGATE_STORE__REDIS__WAIT_TIMEOUT=2s", "CLASSGATE_STORE__REDIS__OP_TIMEOUT=2s"}, 0, 0, "store.redis.wait_timeout"},
		{"not a duration", "", []string{"CLASSGATE_STORE__REDIS__WAIT_TIMEOUT=soon"}, 0, 0, "wait_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(tt.path, append(append([]string{}, base...), tt.env...), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load = %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o := c.RedisOptions().WithDefaults()
			if o.WaitReplicas != tt.wantReplica || o.WaitTimeout != tt.wantTimeout {
				t.Fatalf("wait_replicas=%d wait_timeout=%s, want %d and %s", o.WaitReplicas, o.WaitTimeout, tt.wantReplica, tt.wantTimeout)
			}
		})
	}
}
