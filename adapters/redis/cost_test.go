package redis_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/core"
)

// chatWithState is a stand-in for the chat plugin with the same store traffic:
// each message is a durable event and a state write (the recent-messages
// list a newcomer gets).
func chatWithState() core.Handler {
	return core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
		if c.Hook != core.HookMessage {
			return nil, nil
		}
		return &core.Result{Emits: []core.Emit{{Type: "chat.message", Durable: true, Data: c.Data}},
			Ops: []core.StateOp{{Op: core.OpSet, Key: "last", Value: c.Data}}}, nil
	})
}

// ackSender records the frames sent to each connection.
type ackSender struct {
	mu     sync.Mutex
	frames map[core.ConnID][]string
}

func (s *ackSender) Send(_ context.Context, id core.ConnID, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames[id] = append(s.frames[id], string(b))
	return nil
}

func (s *ackSender) Close(context.Context, core.ConnID, int, string) error { return nil }

func (s *ackSender) take(id core.ConnID) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.frames[id]
	s.frames[id] = nil
	return f
}

// monitor counts the commands Redis receives from clients (round trips:
// nothing on the message path is pipelined) and the commands its scripts
// run, by name, with MONITOR, until stop is called.
type monitor struct {
	conn net.Conn
	done chan struct{}
	// client and script map a command name to its count.
	client, script map[string]int
}

func startMonitor(t testing.TB, srv *redistest.Server) *monitor {
	t.Helper()
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	m := &monitor{conn: c, done: make(chan struct{}), client: map[string]int{}, script: map[string]int{}}
	if _, err := c.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(c)
	if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		t.Fatalf("MONITOR: %q, %v", line, err)
	}
	go func() {
		defer close(m.done)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			// +1700000000.123456 [0 127.0.0.1:5555] "EVALSHA" "..." or
			// [0 lua] for a command a script ran.
			_, rest, ok := strings.Cut(line, "] \"")
			if !ok {
				continue
			}
			name, _, _ := strings.Cut(rest, "\"")
			name = strings.ToLower(name)
			if name == "echo" && strings.Contains(rest, "monitor-stop") {
				return
			}
			if strings.Contains(line, " lua] ") {
				m.script[name]++
			} else {
				m.client[name]++
			}
		}
	}()
	return m
}

// stop waits until the monitor saw every command sent before it.
func (m *monitor) stop(t testing.TB, srv *redistest.Server) {
	t.Helper()
	if _, err := srv.Do("ECHO", "monitor-stop"); err != nil {
		t.Fatal(err)
	}
	<-m.done
	_ = m.conn.Close()
}

func perMessage(counts map[string]int, n int) (total float64, list string) {
	var parts []string
	for name, c := range counts {
		total += float64(c) / float64(n)
		parts = append(parts, fmt.Sprintf("%s %.2f", name, float64(c)/float64(n)))
	}
	sort.Strings(parts)
	return total, strings.Join(parts, ", ")
}

// chatFixture is a router on a Redis store with one member in room "r".
type chatFixture struct {
	r   *core.Router
	snd *ackSender
	srv *redistest.Server
}

func newChatFixture(t testing.TB, direct bool) *chatFixture {
	t.Helper()
	ctx := context.Background()
	srv := redistest.StartServer(t)
	st, err := redis.New(ctx, redis.Options{Addr: srv.Addr(), Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	snd := &ackSender{frames: map[core.ConnID][]string{}}
	r, err := core.NewRouter(core.Options{Store: st, Sender: snd, Direct: direct, RatePerSecond: -1,
		Plugins: core.StaticPlugins{"chat": chatWithState()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Connect(ctx, core.ConnInfo{ID: "a", User: core.User{ID: "ann", Role: "student"}, Rooms: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Receive(ctx, "a", []byte(`{"type":"join","room":"r"}`)); err != nil {
		t.Fatal(err)
	}
	snd.take("a")
	return &chatFixture{r: r, snd: snd, srv: srv}
}

// send sends chat message i with an id and checks it is acked.
func (f *chatFixture) send(t testing.TB, i int) {
	t.Helper()
	frame := fmt.Sprintf(`{"type":"chat.send","room":"r","id":"m%d","data":{"text":"hello everybody, this is a chat message of typical size"}}`, i)
	if err := f.r.Receive(context.Background(), "a", []byte(frame)); err != nil {
		t.Fatal(err)
	}
	for _, raw := range f.snd.take("a") {
		var m struct{ Type, ID string }
		_ = json.Unmarshal([]byte(raw), &m)
		if m.Type == "ack" && m.ID == fmt.Sprint("m", i) {
			return
		}
		if m.Type == "error" {
			t.Fatalf("message %d: %s", i, raw)
		}
	}
	t.Fatalf("message %d not acked", i)
}

// TestChatMessageCost: what one chat message with an id (as the client
// library sends every one) costs in Redis: the commands the gateway sends
// for it and the commands Redis's scripts run (MONITOR over 200
// messages). On the standalone server that is one command, one round
// trip: the commit, which looks the dedupe key up itself; the snapshot
// the plugin decides on comes from the node's cache (statecache.go,
// core.Snapshot.Cached) — before it was a second round trip, and before
// that the dedupe lookup a third. In direct mode (Lambda) each
// invocation reads the snapshot with the dedupe lookup folded in; add the
// heartbeat (Touch), the connection's record (HGET and SMEMBERS in one
// pipeline) and the member list for the fan-out: six commands in five
// round trips. Redis's scripts run 8 commands for it on the standalone
// server (HMGET meta, MGET of the id and a refusal, one HSET for the
// plugin's state writes, XADD, PUBLISH, HSET meta, EXISTS members, SET id)
// and 13 in direct mode, plus the age trim on one message in 16.
// docs/PERFORMANCE.md quotes these figures.
func TestChatMessageCost(t *testing.T) {
	tests := []struct {
		direct   bool
		commands int // sent by the gateway per message
		scripts  int // run by its scripts, besides the age trim
	}{
		{false, 1, 8},
		{true, 6, 13},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("direct=%v", tt.direct), func(t *testing.T) {
			f := newChatFixture(t, tt.direct)
			const n = 200
			f.send(t, -1) // scripts loaded, room warm
			m := startMonitor(t, f.srv)
			for i := 0; i < n; i++ {
				f.send(t, i)
			}
			m.stop(t, f.srv)
			sent, calls := perMessage(m.client, n)
			sc, scalls := perMessage(m.script, n)
			t.Logf("per chat message: %.2f commands sent (%s); %.2f commands run by scripts (%s)", sent, calls, sc, scalls)
			if sent > float64(tt.commands) {
				t.Fatalf("%.2f commands sent per chat message, want %d", sent, tt.commands)
			}
			// The age trim (TIME and XTRIM) runs on one message in 16.
			if limit := float64(tt.scripts) + 2.0/16; sc > limit+0.001 {
				t.Fatalf("%.2f commands run by scripts per chat message, want at most %.3f", sc, limit)
			}
		})
	}
}

// TestTouchLoadsScriptWhenMissing: the heartbeat loads its script only
// when Redis lacks it (after SCRIPT FLUSH, as after a restart or a
// failover), and still refreshes the connection then.
func TestTouchLoadsScriptWhenMissing(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t)
	prefix := redistest.Prefix(t)
	st, err := redis.New(ctx, redis.Options{Addr: srv.Addr(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddConn(ctx, core.ConnInfo{ID: "c", User: core.User{ID: "u"}}); err != nil {
		t.Fatal(err)
	}
	for i, flush := range []bool{false, true, false} {
		if flush {
			if _, err := srv.Do("SCRIPT", "FLUSH"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := srv.Do("ZADD", prefix+"live", "1", "c"); err != nil { // long ago
			t.Fatal(err)
		}
		if err := st.Touch(ctx, "c"); err != nil {
			t.Fatalf("touch %d (flushed %v): %v", i, flush, err)
		}
		score, err := srv.Do("ZSCORE", prefix+"live", "c")
		if err != nil || fmt.Sprint(score) == "1" {
			t.Fatalf("touch %d (flushed %v) left the score at %v, %v", i, flush, score, err)
		}
	}
}

// BenchmarkChatMessage measures one chat message with an id through the
// router on a local redis-server (standalone mode: snapshot with the
// dedupe lookup, plugin, commit; the bus delivers), serially and from 16
// connections per GOMAXPROCS over 8 rooms. docs/PERFORMANCE.md quotes it.
//
//	go test -run '^$' -bench ChatMessage -benchtime 3s ./adapters/redis/
func BenchmarkChatMessage(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			f := newChatFixture(b, false)
			ctx := context.Background()
			if !parallel {
				b.ResetTimer()
				for i := range b.N {
					frame := fmt.Sprintf(`{"type":"chat.send","room":"r","id":"b%d","data":{"text":"hello everybody, this is a chat message of typical size"}}`, i)
					if err := f.r.Receive(ctx, "a", []byte(frame)); err != nil {
						b.Fatal(err)
					}
					if i%256 == 0 {
						f.snd.take("a")
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				return
			}
			var next atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				n := next.Add(1)
				id := core.ConnID(fmt.Sprint("p", n))
				room := fmt.Sprint("room-", n%8)
				if err := f.r.Connect(ctx, core.ConnInfo{ID: id, User: core.User{ID: string(id)}, Rooms: []string{"*"}}); err != nil {
					b.Error(err)
					return
				}
				if err := f.r.Receive(ctx, id, []byte(`{"type":"join","room":"`+room+`"}`)); err != nil {
					b.Error(err)
					return
				}
				for i := 0; pb.Next(); i++ {
					frame := fmt.Sprintf(`{"type":"chat.send","room":%q,"id":"b%d","data":{"text":"hello everybody, this is a chat message of typical size"}}`, room, i)
					if err := f.r.Receive(ctx, id, []byte(frame)); err != nil {
						b.Error(err)
						return
					}
					if i%256 == 0 {
						f.snd.take(id)
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
