package host

import (
	"encoding/json"
	"testing"

	"github.com/classgate/classgate/core"
)

// BenchmarkGuestOps measures single SDK operations inside the test guest
// (nothing, parse an object, one emit, one state get/set, ten allocations),
// to see where the time of a call goes.
func BenchmarkGuestOps(b *testing.B) {
	h := newHost(b, one("t", Plugin{Source: wasmPath("guest"), PoolSize: 1}))
	st := map[string][]byte{"n": []byte("50")}
	for _, a := range []string{"nothing", "b-parse", "b-emit", "b-get", "b-set", "b-alloc"} {
		b.Run(a, func(b *testing.B) {
			benchCalls(b, h.Handler("r1", "t"), func() *core.Call {
				return &core.Call{Hook: core.HookMessage, Type: "t." + a, Room: "r1", Conn: "c1", State: st, Data: json.RawMessage(`{"text":"  hello everyone, page 42 please  "}`)}
			})
		})
	}
}
