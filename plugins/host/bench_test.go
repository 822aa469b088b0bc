package host

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/plugins/abi/jsonlite"
)

// chatState is a chat room with a full history of 50 messages.
func chatState() map[string][]byte {
	st := map[string][]byte{"n": []byte("50")}
	for i := 0; i < 50; i++ {
		// The chat plugin's slot format: the seq as 8 big-endian bytes,
		// then the history entry's JSON.
		v := binary.BigEndian.AppendUint64(nil, uint64(10+i))
		st["m:"+strconv.Itoa(i)] = append(v, `{"seq":`+strconv.Itoa(10+i)+`,"from":{"id":"u1","name":"Ann","role":"teacher"},"text":"message number `+strconv.Itoa(i)+`"}`...)
	}
	return st
}

// nativeChat is chat.send written as a plain Go core.Handler with the same
// logic as plugins/chat (parse, trim, length check, broadcast, history ops).
var nativeChat = core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
	obj, err := jsonlite.ParseObject(c.Data)
	if err != nil {
		return &core.Result{Reject: "data must be an object {text}"}, nil
	}
	text, ok, err := obj.String("text")
	if err != nil || !ok {
		return &core.Result{Reject: "text must be a string"}, nil
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return &core.Result{Reject: "empty message"}, nil
	}
	if utf8.RuneCountInString(text) > 2000 {
		return &core.Result{Reject: "message too long"}, nil
	}
	msg := jsonlite.AppendString([]byte(`{"text":`), text)
	msg = append(msg, '}')
	seq := c.Seq + 1
	n, _ := strconv.ParseUint(string(c.State["n"]), 10, 64)
	entry := []byte(strconv.FormatUint(seq, 16))
	entry = append(entry, `{"seq":`...)
	entry = strconv.AppendUint(entry, seq, 10)
	entry = append(entry, `,"from":{"id":`...)
	entry = jsonlite.AppendString(entry, c.Sender.ID)
	entry = append(entry, `,"name":`...)
	entry = jsonlite.AppendString(entry, c.Sender.Name)
	entry = append(entry, `,"role":`...)
	entry = jsonlite.AppendString(entry, c.Sender.Role)
	entry = append(entry, `},"text":`...)
	entry = jsonlite.AppendString(entry, text)
	entry = append(entry, '}')
	return &core.Result{
		Emits: []core.Emit{{Type: "chat.message", Data: msg, Durable: true}},
		Ops: []core.StateOp{
			{Op: core.OpSet, Key: "m:" + strconv.FormatUint(n%50, 10), Value: entry},
			{Op: core.OpSet, Key: "n", Value: strconv.AppendUint(nil, n+1, 10)},
		},
	}, nil
})

// benchCalls runs hd b.N times and reports the p50 and p99 latency and
// the CPU time of the calling thread per call (cpu-ns/op).
func benchCalls(b *testing.B, hd core.Handler, mk func() *core.Call) {
	b.Helper()
	defer lockThread()()
	ctx := context.Background()
	for i := 0; i < 200; i++ { // warm up
		if _, err := hd.Handle(ctx, mk()); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := threadCPU()
	for i := 0; i < b.N; i++ {
		c := mk()
		t0 := time.Now()
		res, err := hd.Handle(ctx, c)
		lat = append(lat, time.Since(t0))
		if err != nil || res.Reject != "" {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((threadCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkChatSend compares one chat.send through the wasm plugin with the
// same logic as a native handler.
func BenchmarkChatSend(b *testing.B) {
	st := chatState()
	mk := func() *core.Call {
		return &core.Call{Hook: core.HookMessage, Type: "chat.send", Room: "r1", Conn: "c1", Seq: 60, State: st,
			Sender: core.User{ID: "u1", Name: "Ann", Role: "teacher"}, Data: json.RawMessage(`{"text":"  hello everyone, page 42 please  "}`)}
	}
	b.Run("native", func(b *testing.B) { benchCalls(b, nativeChat, mk) })
	b.Run("wasm", func(b *testing.B) {
		h := newHost(b, one("chat", Plugin{Source: wasmPath("chat"), PoolSize: 1}))
		benchCalls(b, h.Handler("r1", "chat"), mk)
	})
}

// BenchmarkPluginCalls measures other typical calls through wasm.
func BenchmarkPluginCalls(b *testing.B) {
	h := newHost(b, Config{Namespaces: map[string]Plugin{
		"chat":       {Source: wasmPath("chat"), PoolSize: 1},
		"whiteboard": {Source: wasmPath("whiteboard"), PoolSize: 1},
		"presence":   {Source: wasmPath("presence"), PoolSize: 1},
	}})
	ann := core.User{ID: "u1", Name: "Ann", Role: "teacher"}
	board := map[string][]byte{"n": []byte("100"), "c": []byte("100")}
	for i := 0; i < 100; i++ {
		k := "o:" + strings.Repeat("0", 13) + strconv.FormatInt(int64(0x100+i), 16)
		board[k] = []byte(`{"id":"e` + strconv.Itoa(i) + `","type":"stroke","points":[[1,2],[3,4],[5,6],[7,8]]}`)
		board["i:e"+strconv.Itoa(i)] = []byte(k)
	}
	for _, tc := range []struct {
		name string
		ns   string
		call core.Call
	}{
		{"chat-typing", "chat", core.Call{Hook: core.HookMessage, Type: "chat.typing", Data: json.RawMessage(`{}`)}},
		{"chat-join-history50", "chat", core.Call{Hook: core.HookJoin, State: chatState()}},
		{"whiteboard-cursor", "whiteboard", core.Call{Hook: core.HookMessage, Type: "whiteboard.cursor", Data: json.RawMessage(`{"x":120.5,"y":88}`)}},
		{"whiteboard-draw-20pts", "whiteboard", core.Call{Hook: core.HookMessage, Type: "whiteboard.draw", State: board,
			Data: json.RawMessage(`{"element":{"id":"s1","type":"stroke","color":"#f00","points":[` + strings.TrimSuffix(strings.Repeat("[10.5,20.25],", 20), ",") + `]}}`)}},
		{"whiteboard-join-snapshot100", "whiteboard", core.Call{Hook: core.HookJoin, State: board}},
		{"presence-update", "presence", core.Call{Hook: core.HookMessage, Type: "presence.update", Data: json.RawMessage(`{"status":"hand_raised"}`)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			benchCalls(b, h.Handler("r1", tc.ns), func() *core.Call {
				c := tc.call
				c.Room, c.Conn, c.Sender = "r1", "c1", ann
				return &c
			})
		})
	}
}

// BenchmarkInstantiate measures creating one chat instance from the compiled
// module: "init" runs _initialize and cg_init, "from-snapshot" (what the
// pool does once a snapshot exists) maps the state after cg_init instead.
// It reports the instance's linear memory.
func BenchmarkInstantiate(b *testing.B) {
	h := newHost(b, one("chat", Plugin{Source: wasmPath("chat"), PoolSize: 1}))
	v := h.gen.entries["chat"].stable
	ctx := context.Background()
	for _, mode := range []string{"init", "from-snapshot"} {
		b.Run(mode, func(b *testing.B) {
			defer lockThread()()
			var mem uint32
			cpu0 := threadCPU()
			for i := 0; i < b.N; i++ {
				var in *instance
				var err error
				if mode == "init" {
					in, err = newInstance(ctx, v, v.rt, v.cm, v.globalNames, v.cfg, 0, true)
				} else {
					if v.snap == nil || v.snap.file == nil {
						b.Skip("no snapshot file")
					}
					in, err = newInstanceFromSnapshot(ctx, v.rt, v.cm, v.globalNames, v.snap, 0)
				}
				if err != nil {
					b.Fatal(err)
				}
				mem = in.mod.Memory().Size()
				in.close()
			}
			b.ReportMetric(float64(mem), "linear-bytes/instance")
			b.ReportMetric(float64((threadCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkInstanceMemory reports the linear memory of a chat instance
// bound to one room after 10,000 messages (the Go heap inside grows to its
// steady state), and how much of it is the instance's own: the pages it
// wrote since it was mapped from the snapshot; the rest is the snapshot's
// page cache, shared by every instance of the module.
func BenchmarkInstanceMemory(b *testing.B) {
	h := newHost(b, one("chat", Plugin{Source: wasmPath("chat"), PoolSize: 1}))
	hd := h.Handler("r1", "chat")
	st := chatState()
	v := h.gen.entries["chat"].stable
	if in := v.pool.idleInstances()[0]; !in.reset() { // mapped from the snapshot, as every later instance is
		b.Fatal("reset")
	}
	for i := 0; i < b.N; i++ {
		for j := 0; j < 10000; j++ {
			if _, err := hd.Handle(context.Background(), &core.Call{Hook: core.HookMessage, Type: "chat.send", Room: "r1", Conn: "c1", State: st,
				Data: json.RawMessage(`{"text":"hello"}`)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	in := v.pool.idleInstances()[0]
	b.ReportMetric(float64(in.mod.Memory().Size()), "linear-bytes/instance")
	if in.lin != nil && in.lin.file != nil {
		view, _ := in.mod.Memory().Read(0, in.mod.Memory().Size())
		if n, err := in.lin.writtenPages(view); err == nil {
			b.ReportMetric(float64(n*pageSize), "private-bytes/instance")
		}
	}
}

// BenchmarkColdStart measures New with the three classroom plugins: without
// a compilation cache, and with a warm on-disk cache.
func BenchmarkColdStart(b *testing.B) {
	cfg := func(cache string) Config {
		return Config{CacheDir: cache, Namespaces: map[string]Plugin{
			"chat":       {Source: wasmPath("chat")},
			"whiteboard": {Source: wasmPath("whiteboard")},
			"presence":   {Source: wasmPath("presence")},
		}}
	}
	start := func(b *testing.B, c Config) {
		h, err := New(context.Background(), c, nil)
		if err != nil {
			b.Fatal(err)
		}
		h.Close(context.Background())
	}
	b.Run("no-cache", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			start(b, cfg(""))
		}
	})
	b.Run("disk-cache", func(b *testing.B) {
		dir := filepath.Join(b.TempDir(), "cache")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		start(b, cfg(dir)) // warm the cache
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start(b, cfg(dir))
		}
	})
}

// BenchmarkRoomSwitch measures the cost of the isolation contract (ABI.md
// §2): chat.send through one instance when every call is for the same room
// (the instance stays bound to it) and when calls alternate between two
// rooms (every call resets the instance: a fresh instantiation), and with
// two instances for two rooms (each stays bound, no reset), and with the
// default pool of 2 serving 100 rooms in turn (the standard load: nearly
// every call resets an instance).
func BenchmarkRoomSwitch(b *testing.B) {
	st := chatState()
	for _, tc := range []struct {
		name  string
		pool  int
		rooms []string
	}{
		{"same-room-pool1", 1, []string{"r1"}},
		{"alternating-rooms-pool1", 1, []string{"r1", "r2"}},
		{"alternating-rooms-pool2", 2, []string{"r1", "r2"}},
		{"100-rooms-round-robin-pool2", 2, hundredRooms},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHost(b, one("chat", Plugin{Source: wasmPath("chat"), PoolSize: tc.pool}))
			i := 0
			benchCalls(b, h.Handler("r1", "chat"), func() *core.Call {
				i++
				return &core.Call{Hook: core.HookMessage, Type: "chat.send", Room: tc.rooms[i%len(tc.rooms)], Conn: "c1", Seq: 60, State: st,
					Sender: core.User{ID: "u1", Name: "Ann", Role: "teacher"}, Data: json.RawMessage(`{"text":"hello"}`)}
			})
		})
	}
}

// hundredRooms are the rooms of the standard load (loadgen -rooms 100).
var hundredRooms = func() []string {
	r := make([]string, 100)
	for i := range r {
		r[i] = "lg-" + strconv.Itoa(i)
	}
	return r
}()

// BenchmarkPollVote: a vote of the example poll plugin (written in the
// style plugins/README.md recommends) against chat.send, the reference.
func BenchmarkPollVote(b *testing.B) {
	h := newHost(b, one("poll", Plugin{Source: wasmPath("poll"), PoolSize: 1}))
	st := map[string][]byte{"p": []byte(`{"question":"Q","options":["a","b","c"]}`), "o": []byte("1"), "t": []byte("10,20,30")}
	i := 0
	benchCalls(b, h.Handler("r1", "poll"), func() *core.Call {
		i++
		return &core.Call{Hook: core.HookMessage, Type: "poll.vote", Room: "r1", Conn: "c1", State: st,
			Sender: core.User{ID: "u" + strconv.Itoa(i), Role: "student"}, Data: json.RawMessage(`{"choice":1}`)}
	})
}
