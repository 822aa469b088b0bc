package redis_test

import (
	"os"
	"strings"
	"testing"

	"github.com/classgate/classgate/adapters/redis"
)

// TestReliabilityDocQuotesDefaults: docs/RELIABILITY.md states the WAIT
// keys with the defaults the code has.
func TestReliabilityDocQuotesDefaults(t *testing.T) {
	b, err := os.ReadFile("../../docs/RELIABILITY.md")
	if err != nil {
		t.Fatal(err)
	}
	var zero redis.Options
	for _, want := range []string{
		"`store.redis.wait_replicas: N` (default `0`, off)",
		"`store.redis.wait_timeout` (default `" + redis.DefaultWaitTimeout.String() + "`)",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("docs/RELIABILITY.md does not say %s", want)
		}
	}
	if zero.WithDefaults().WaitReplicas != 0 {
		t.Error("wait_replicas is on by default; the doc says off")
	}
}
