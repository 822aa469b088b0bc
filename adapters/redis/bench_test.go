package redis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/core"
)

// BenchmarkCommit measures Commit (one durable chat-sized event, history
// append, publication) on a local redis-server: serial latency, and
// throughput with 32 concurrent committers over 8 rooms. The "wait"
// variants acknowledge only after WAIT 1 (one replica).
//
//	go test -run '^$' -bench Commit -benchtime 3s ./adapters/redis/
func BenchmarkCommit(b *testing.B) {
	primary := redistest.StartServer(b)
	redistest.StartReplica(b, primary)
	cases := []struct {
		name    string
		wait    int
		workers int // goroutines per GOMAXPROCS; 0 = serial
	}{
		{"nowait/serial", 0, 0},
		{"nowait/parallel", 0, 16},
		{"wait1/serial", 1, 0},
		{"wait1/parallel", 1, 16},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := redis.New(ctx, redis.Options{Addr: primary.Addr(), Prefix: redistest.Prefix(b), WaitReplicas: c.wait})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := json.RawMessage(`{"text":"hello everybody, this is a chat message of typical size"}`)
			var mu sync.Mutex
			var lat []time.Duration
			var room atomic.Int64
			commit := func(r string, mine *[]time.Duration) {
				start := time.Now()
				_, err := s.Commit(ctx, core.Commit{Room: r, Durable: []core.Event{{Room: r, Type: "chat.message",
					TS: start.UnixMilli(), From: &core.User{ID: "u1", Name: "Ann", Role: "student"}, Data: data}}})
				if err != nil {
					b.Error(err)
				}
				*mine = append(*mine, time.Since(start))
			}
			b.ResetTimer()
			if c.workers == 0 {
				mine := make([]time.Duration, 0, b.N)
				for range b.N {
					commit("bench", &mine)
				}
				lat = mine
			} else {
				b.SetParallelism(c.workers)
				b.RunParallel(func(pb *testing.PB) {
					r := fmt.Sprintf("bench-%d", room.Add(1)%8)
					var mine []time.Duration
					for pb.Next() {
						commit(r, &mine)
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
			}
			b.StopTimer()
			report(b, lat)
		})
	}
}

// report adds commits/s and latency percentiles to the benchmark output.
func report(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
