package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// BenchmarkRouterRoomsParallel sends chat messages into 100 rooms of 30
// members at once, one publisher goroutine per room (as loadgen's standard
// load), through the router on the memory store with a discarding sender:
// the router's own cost per message, 30 deliveries each. Run with
// -cpu 1,2 to see whether a second core adds throughput (a lock or a
// goroutine every room shares would keep it flat), and -mutexprofile /
// -blockprofile to see where goroutines wait:
//
//	go test -run '^$' -bench RouterRoomsParallel -cpu 1,2 -mutexprofile mutex.out ./core
func BenchmarkRouterRoomsParallel(b *testing.B) {
	const rooms, members = 100, 30
	ctx := context.Background()
	snd := &countSender{}
	r, err := core.NewRouter(core.Options{Store: memory.New(memory.Options{}), Sender: snd,
		Plugins: core.StaticPlugins{"chat": echoChat()}, RatePerSecond: -1})
	if err != nil {
		b.Fatal(err)
	}
	for room := range rooms {
		for m := range members {
			id := core.ConnID(fmt.Sprintf("c%d-%d", room, m))
			if err := r.Connect(ctx, core.ConnInfo{ID: id, User: core.User{ID: string(id)}, Rooms: []string{"*"}}); err != nil {
				b.Fatal(err)
			}
			if err := r.Receive(ctx, id, []byte(fmt.Sprintf(`{"type":"join","room":"r%d"}`, room))); err != nil {
				b.Fatal(err)
			}
		}
	}
	text, _ := json.Marshal(map[string]any{"text": "Could you explain the second step of the proof again, please?"})
	var next atomic.Int64
	before := snd.n.Load()
	b.ReportAllocs()
	b.SetParallelism(max(1, rooms/runtime.GOMAXPROCS(0))) // one goroutine per room
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := next.Add(1) - 1
		room := g % rooms
		id := core.ConnID(fmt.Sprintf("c%d-0", room))
		for i := 0; pb.Next(); i++ {
			frame := fmt.Appendf(nil, `{"type":"chat.send","room":"r%d","id":"g%d-%d","data":%s}`, room, g, i, text)
			if err := r.Receive(ctx, id, frame); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if got := snd.n.Load() - before; got < int64(b.N)*(members+1) {
		b.Fatalf("sent %d frames for %d messages, want ≥ %d each (deliveries + ack)", got, b.N, members+1)
	}
	b.ReportMetric(float64(b.N)*members/b.Elapsed().Seconds(), "deliveries/s")
}
