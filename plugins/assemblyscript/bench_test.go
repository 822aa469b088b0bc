package assemblyscript

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/plugins/host"
)

// BenchmarkPollCalls measures one call through the real host (one
// instance) for each poll build: a vote on an open poll in one room, the
// same alternating between two rooms (a snapshot reset per call), and the
// join state of a late joiner. Quoted in plugins/README.md
// ("AssemblyScript"):
//
//	go test -run='^$' -bench=PollCalls -benchtime=2000x ./plugins/assemblyscript
func BenchmarkPollCalls(b *testing.B) {
	st := map[string][]byte{"p": []byte(`{"question":"Q","options":["a","b","c"]}`), "o": []byte("1"), "t": []byte("10,20,30")}
	for _, m := range polls() {
		if m.name == "assemblyscript" && asMissing != "" {
			b.Log(asMissing)
			continue
		}
		h, err := host.New(context.Background(), host.Config{CacheDir: cacheDir, Namespaces: map[string]host.Plugin{"poll": {Source: m.path, PoolSize: 1, Timeout: callTimeout}}}, nil)
		if err != nil {
			b.Fatal(err)
		}
		hd := h.Handler("r1", "poll")
		b.Run("vote/"+m.name, func(b *testing.B) {
			i := 0
			benchCalls(b, hd, func() *core.Call {
				i++
				return &core.Call{Hook: core.HookMessage, Type: "poll.vote", Room: "r1", Conn: "c1", State: st,
					Sender: core.User{ID: "u" + strconv.Itoa(i), Role: "student"}, Data: json.RawMessage(`{"choice":1}`)}
			})
		})
		// Two rooms on one instance: the host resets the instance (copies
		// back its memory and globals, ABI.md §2) before every call.
		b.Run("vote-room-switch/"+m.name, func(b *testing.B) {
			i := 0
			benchCalls(b, hd, func() *core.Call {
				i++
				return &core.Call{Hook: core.HookMessage, Type: "poll.vote", Room: "r" + strconv.Itoa(i%2+1), Conn: "c1", State: st,
					Sender: core.User{ID: "u" + strconv.Itoa(i), Role: "student"}, Data: json.RawMessage(`{"choice":1}`)}
			})
		})
		b.Run("join/"+m.name, func(b *testing.B) {
			benchCalls(b, hd, func() *core.Call {
				return &core.Call{Hook: core.HookJoin, Room: "r1", Conn: "c1", State: st, FirstOfUser: true,
					Sender: core.User{ID: "late", Role: "student"}}
			})
		})
		h.Close(context.Background())
	}
}

// benchCalls times hd on the calls mk makes, after a warm-up, and reports
// the median and 99th percentile besides the mean.
func benchCalls(b *testing.B, hd core.Handler, mk func() *core.Call) {
	b.Helper()
	ctx := context.Background()
	for range 200 {
		if _, err := hd.Handle(ctx, mk()); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c := mk()
		t0 := time.Now()
		res, err := hd.Handle(ctx, c)
		lat = append(lat, time.Since(t0))
		if err != nil || res.Reject != "" {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}
