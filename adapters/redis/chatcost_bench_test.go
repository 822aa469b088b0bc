package redis_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/core"
)

// chatRing has the chat plugin's store traffic (plugins/chat): each
// message is a durable event and two state writes, a slot of a ring of 50
// recent messages and the counter "n", so a room's state is 51 keys of
// about 150 bytes once the ring is full.
func chatRing() core.Handler {
	return core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
		if c.Hook != core.HookMessage {
			return nil, nil
		}
		n, _ := strconv.ParseUint(string(c.State["n"]), 10, 64)
		entry := fmt.Sprintf(`{"seq":%d,"from":{"id":"u","name":"Ann","role":"student"},"text":"hello everybody, this is a chat message of typical size, and some more"}`, c.Seq+1)
		return &core.Result{Emits: []core.Emit{{Type: "chat.message", Durable: true, Data: c.Data}},
			Ops: []core.StateOp{{Op: core.OpSet, Key: fmt.Sprint("m:", n%50), Value: []byte(entry)},
				{Op: core.OpSet, Key: "n", Value: []byte(strconv.FormatUint(n+1, 10))}}}, nil
	})
}

// redisTotals reads redis-server's CPU seconds (user + sys) and the number
// of commands it ran, by name (commands run by scripts included).
func redisTotals(tb testing.TB, srv *redistest.Server) (cpu float64, calls map[string]int) {
	tb.Helper()
	info, err := srv.Do("INFO", "all")
	if err != nil {
		tb.Fatal(err)
	}
	text := fmt.Sprint(info)
	for _, f := range []string{"used_cpu_sys", "used_cpu_user"} {
		m := regexp.MustCompile(f + `:([0-9.]+)`).FindStringSubmatch(text)
		if m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			cpu += v
		}
	}
	calls = map[string]int{}
	for _, m := range regexp.MustCompile(`cmdstat_([a-z|]+):calls=(\d+)`).FindAllStringSubmatch(text, -1) {
		calls[m[1]], _ = strconv.Atoi(m[2])
	}
	return cpu, calls
}

// BenchmarkChatRedisCost measures what a chat message costs Redis when
// many rooms publish at once, as on a loaded node: 32 rooms with one
// publisher each (32 goroutines), each message through the router (snapshot
// with the dedupe lookup, plugin, commit; the bus delivers to the room's
// member). Reported per message: redis-server CPU (µs, from INFO's
// used_cpu_*: CPU time, not wall time, so other load on the machine
// distorts it little), round trips (pipelines; 0 when not known), EVALSHA
// calls and the commands Redis ran in all. docs/PERFORMANCE.md quotes it.
//
//	go test -run '^$' -bench ChatRedisCost -benchtime 20000x ./adapters/redis/
func BenchmarkChatRedisCost(b *testing.B) {
	ctx := context.Background()
	srv := redistest.StartServer(b)
	st, err := redis.New(ctx, redis.Options{Addr: srv.Addr(), Prefix: redistest.Prefix(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	snd := &ackSender{frames: map[core.ConnID][]string{}}
	r, err := core.NewRouter(core.Options{Store: st, Sender: snd, RatePerSecond: -1,
		Plugins: core.StaticPlugins{"chat": chatRing()}})
	if err != nil {
		b.Fatal(err)
	}
	const rooms = 32
	for i := range rooms {
		id := core.ConnID(fmt.Sprint("p", i))
		if err := r.Connect(ctx, core.ConnInfo{ID: id, User: core.User{ID: string(id)}, Rooms: []string{"*"}}); err != nil {
			b.Fatal(err)
		}
		if err := r.Receive(ctx, id, []byte(fmt.Sprintf(`{"type":"join","room":"room-%d"}`, i))); err != nil {
			b.Fatal(err)
		}
		// Fill the ring, as in a room that has been chatting for a while.
		for j := range 60 {
			frame := fmt.Sprintf(`{"type":"chat.send","room":"room-%d","id":"w%d","data":{"text":"warm"}}`, i, j)
			if err := r.Receive(ctx, id, []byte(frame)); err != nil {
				b.Fatal(err)
			}
		}
		snd.take(id)
	}
	calls0, pipes0 := redis.PipelineStats(st)
	cpu0, cmd0 := redisTotals(b, srv)
	var next atomic.Int64
	b.SetParallelism((rooms + 1) / 2) // × GOMAXPROCS 2 = 32 goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := next.Add(1) - 1
		id := core.ConnID(fmt.Sprint("p", n%rooms))
		room := fmt.Sprint("room-", n%rooms)
		for i := 0; pb.Next(); i++ {
			frame := fmt.Sprintf(`{"type":"chat.send","room":%q,"id":"g%d-%d","data":{"text":"hello everybody, this is a chat message of typical size"}}`, room, n, i)
			if err := r.Receive(ctx, id, []byte(frame)); err != nil {
				b.Error(err)
				return
			}
			if i%64 == 0 {
				snd.take(id)
			}
		}
	})
	b.StopTimer()
	cpu1, cmd1 := redisTotals(b, srv)
	calls1, pipes1 := redis.PipelineStats(st)
	total := 0
	for k, v := range cmd1 {
		if k != "info" {
			total += v - cmd0[k]
		}
	}
	n := float64(b.N)
	b.ReportMetric((cpu1-cpu0)*1e6/n, "redis-µs/msg")
	b.ReportMetric(float64(cmd1["evalsha"]-cmd0["evalsha"])/n, "evalsha/msg")
	b.ReportMetric(float64(total)/n, "redis-cmds/msg")
	if calls1 > calls0 {
		b.ReportMetric(float64(pipes1-pipes0)/n, "roundtrips/msg")
	}
	b.ReportMetric(n/b.Elapsed().Seconds(), "msgs/s")
}
