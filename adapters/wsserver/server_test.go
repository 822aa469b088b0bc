package wsserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/classgate/classgate/adapters/jwt"
	"github.com/classgate/classgate/adapters/wsserver"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
	"github.com/classgate/classgate/internal/e2e"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var secret = []byte("test-secret-test-secret-test-secret")

// chatHandler is a Go stand-in for the wasm chat plugin: enough of its
// behaviour for protocol tests.
func chatHandler() core.Handler {
	return core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
		if c.Hook != core.HookMessage {
			return nil, nil
		}
		switch c.Type {
		case "chat.send":
			var d struct{ Text string }
			if err := json.Unmarshal(c.Data, &d); err != nil || strings.TrimSpace(d.Text) == "" {
				return &core.Result{Reject: "empty message"}, nil
			}
			b, _ := json.Marshal(map[string]string{"text": d.Text})
			return &core.Result{Emits: []core.Emit{{Type: "chat.message", Data: b, Durable: true}}}, nil
		case "chat.typing":
			return &core.Result{Emits: []core.Emit{{Type: "chat.typing", Data: json.RawMessage(`{}`), To: core.Target{Kind: core.TargetOthers, Conn: c.Conn}}}}, nil
		case "chat.boom":
			return nil, fmt.Errorf("boom")
		case "chat.slow":
			// A message that takes the node 20ms (TestShedAfter).
			time.Sleep(20 * time.Millisecond)
			return &core.Result{Emits: []core.Emit{{Type: "chat.message", Data: c.Data, Durable: true}}}, nil
		}
		return &core.Result{Reject: "unknown chat action"}, nil
	})
}

type gw struct {
	srv    *wsserver.Server
	http   *httptest.Server
	router *core.Router
	url    string
}

type cfg struct {
	ws     wsserver.Options
	router core.Options
	hist   int
}

func start(t *testing.T, c cfg) *gw {
	t.Helper()
	v, err := jwt.New(jwt.Options{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	c.ws.Verifier = v
	if c.hist == 0 {
		c.hist = 20
	}
	st := memory.New(memory.Options{HistoryLimit: c.hist})
	srv := wsserver.New(c.ws)
	c.router.Store, c.router.Sender = st, srv
	c.router.Plugins = core.StaticPlugins{"chat": chatHandler()}
	if c.router.MaxMessageBytes == 0 {
		c.router.MaxMessageBytes = 4096
	}
	r, err := core.NewRouter(c.router)
	if err != nil {
		t.Fatal(err)
	}
	srv.Attach(r)
	mux := http.NewServeMux()
	mux.Handle("/ws", srv)
	hs := httptest.NewServer(mux)
	g := &gw{srv: srv, http: hs, router: r, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	return g
}

// outputModes are the two ways room fan-out leaves the server: one
// io_uring submission per batch of members, or a write(2) per member.
// Tests of the output path run in both.
var outputModes = []struct {
	name      string
	noIOUring bool
}{{"io_uring", false}, {"write", true}}

// forModes runs f once per output mode, skipping io_uring where the
// kernel refuses it.
func forModes(t *testing.T, c cfg, f func(t *testing.T, g *gw)) {
	for _, m := range outputModes {
		t.Run(m.name, func(t *testing.T) {
			c := c
			c.ws.NoIOUring = m.noIOUring
			g := start(t, c)
			if !m.noIOUring && !g.srv.IOUring() {
				t.Skip("io_uring is not available on this kernel")
			}
			f(t, g)
		})
	}
}

// TestProtocol runs the shared end-to-end suite against the standalone
// server over real WebSocket connections.
func TestProtocol(t *testing.T) {
	// Limits out of the suite's way (its raw client pipelines bursts and
	// does not retry rate_limited): rate limits raised, shedding after a
	// minute; TestRateLimit and TestShedAfter test them.
	forModes(t, cfg{ws: wsserver.Options{ReadLimit: 64 << 10, ShedAfter: time.Minute}, router: core.Options{RatePerSecond: 2000, RateBurst: 2000}}, func(t *testing.T, g *gw) {
		e2e.Run(t, e2e.Target{URL: g.url, Secret: secret, HistoryLimit: 20, MaxMessageBytes: 4096, HardLimit: 64 << 10})
	})
}

func dial(t *testing.T, g *gw, user string) *e2e.Client {
	return e2e.Dial(t, g.url, e2e.Token(t, secret, user, "student", []string{"*"}, time.Hour))
}

func TestRateLimit(t *testing.T) {
	g := start(t, cfg{router: core.Options{RatePerSecond: 5, RateBurst: 5, AbuseLimit: 20}})
	c := dial(t, g, "flood")
	for i := 0; i < 40; i++ {
		// The server may close the abusive connection before the flood
		// ends; the close is asserted below.
		if err := c.TrySend(fmt.Sprintf(`{"type":"ping","id":"p%d"}`, i)); err != nil {
			break
		}
	}
	pongs, limited := 0, 0
	for {
		select {
		case m, ok := <-nextOrClose(c):
			if !ok {
				goto closed
			}
			switch {
			case m.Type == "pong":
				pongs++
			case m.Code == "rate_limited":
				if !strings.HasPrefix(m.ID, "p") {
					t.Fatalf("rate_limited without the frame's id: %s", m.Raw)
				}
				limited++
			default:
				t.Fatalf("unexpected %s", m.Raw)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("abusive connection not closed")
		}
	}
closed:
	if pongs < 5 || limited < 1 {
		t.Fatalf("pongs=%d rate_limited=%d", pongs, limited)
	}
	if code := c.ExpectClose(5 * time.Second); code != websocket.StatusPolicyViolation {
		t.Fatalf("closed with %v, want 1008", code)
	}
	d := dial(t, g, "polite")
	d.Send(`{"type":"ping","id":"ok"}`)
	d.ExpectReply("ok")
}

// nextOrClose adapts Client.Next to a channel for select loops.
func nextOrClose(c *e2e.Client) <-chan e2e.Msg {
	ch := make(chan e2e.Msg, 1)
	go func() {
		defer close(ch)
		defer func() { _ = recover() }()
		m, ok := c.TryNext(15 * time.Second)
		if ok {
			ch <- m
		}
	}()
	return ch
}

func TestRoomCapAndPluginError(t *testing.T) {
	g := start(t, cfg{router: core.Options{MaxRoomsPerConn: 2}})
	c := dial(t, g, "cap")
	c.Join("a", -1)
	c.Join("b", -1)
	c.Send(`{"type":"join","room":"c","id":"j3"}`)
	if m := c.ExpectReply("j3"); m.Code != "forbidden" {
		t.Fatalf("third room: %s", m.Raw)
	}
	c.Send(`{"type":"chat.boom","room":"a","id":"b1","data":{}}`)
	if m := c.ExpectReply("b1"); m.Code != "plugin_error" {
		t.Fatalf("failing handler: %s", m.Raw)
	}
	c.Send(`{"type":"chat.send","room":"a","id":"b2","data":{"text":"   "}}`)
	if m := c.ExpectReply("b2"); m.Code != "rejected" || m.Message != "empty message" {
		t.Fatalf("rejected: %s", m.Raw)
	}
	c.Say("a", "b3", "still fine")
}

// slowObserver is a core.Observer whose SlowConsumer hook calls f; the
// other hooks are NopObserver's.
type slowObserver struct {
	core.NopObserver
	f func()
}

func (o slowObserver) SlowConsumer() { o.f() }

func slowFunc(f func()) core.Observer { return slowObserver{f: f} }

func TestSlowConsumer(t *testing.T) {
	closing := make(chan struct{}, 16)
	forModes(t, cfg{ws: wsserver.Options{SendQueue: 64, Observer: slowFunc(func() {
		select {
		case closing <- struct{}{}:
		default:
		}
	})},
		router: core.Options{RatePerSecond: -1, MaxMessageBytes: 16 << 10}}, func(t *testing.T, g *gw) {
		testSlowConsumer(t, g, closing)
	})
}

func testSlowConsumer(t *testing.T, g *gw, closing chan struct{}) {
	slow := dial(t, g, "slow")
	slow.Join("busy", -1)
	slow.Pause() // stop reading: the socket buffers fill, then the queue
	fast := dial(t, g, "fast")
	fast.Join("busy", -1)
	// 8 KB messages until the kernel's socket buffers and the queue
	// overflow and the server gives up on the slow member; then it reads
	// again and finds the 4008 close frame behind the queued data.
	payload := strings.Repeat("z", 8000)
	for i, stop := 0, false; !stop && i < 20000; i++ {
		select {
		case <-closing:
			stop = true
			continue
		default:
		}
		fast.Send(map[string]any{"type": "chat.send", "room": "busy", "data": map[string]string{"text": payload}})
		// Paced so the reading member keeps up while the paused one cannot.
		time.Sleep(time.Millisecond)
	}
	slow.Resume()
	if code := slow.ExpectClose(10 * time.Second); code != 4008 {
		t.Fatalf("slow consumer closed with %v, want 4008", code)
	}
	// The room goes on for the fast member.
	fast.Say("busy", "after", "still here")
}

func TestShutdownDrains(t *testing.T) {
	g := start(t, cfg{})
	c := dial(t, g, "drain")
	c.Join("r", -1)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- g.srv.Shutdown(ctx)
	}()
	if code := c.ExpectClose(5 * time.Second); code != 1012 {
		t.Fatalf("closed with %v, want 1012", code)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g.srv.Ready() {
		t.Fatal("still ready after shutdown")
	}
	_, resp, err := e2e.TryDial(g.url, e2e.Token(t, secret, "late", "student", []string{"*"}, time.Hour))
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("handshake while draining: %v %v, want 503", err, resp)
	}
}

func TestOriginAllowList(t *testing.T) {
	g := start(t, cfg{ws: wsserver.Options{AllowedOrigins: []string{"classroom.example"}}})
	tok := e2e.Token(t, secret, "o", "student", []string{"*"}, time.Hour)
	tests := []struct {
		origin string
		ok     bool
	}{{"", true}, {"https://classroom.example", true}, {"https://evil.example", false}}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ws, resp, err := websocket.Dial(ctx, g.url+"?token="+tok, &websocket.DialOptions{HTTPHeader: h})
			if tt.ok != (err == nil) {
				t.Fatalf("origin %q: err=%v resp=%v", tt.origin, err, resp)
			}
			if err == nil {
				ws.CloseNow()
			} else if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("refused with HTTP %d, want 403", resp.StatusCode)
			}
		})
	}
}

// wsframe frames every message: every payload length class (7-bit,
// 16-bit and 64-bit lengths, across both boundaries) must reach a
// standard client (coder/websocket) intact and in order, while the
// client's pings and the server's pongs interleave with the data on the
// same socket.
func TestFramingAcrossLengths(t *testing.T) {
	forModes(t, cfg{ws: wsserver.Options{ReadLimit: 1 << 20}, router: core.Options{RatePerSecond: -1, MaxMessageBytes: 256 << 10}}, testFramingAcrossLengths)
}

func testFramingAcrossLengths(t *testing.T, g *gw) {
	sender := dial(t, g, "sender")
	sender.Join("sizes", -1)
	reader := dial(t, g, "reader")
	reader.Join("sizes", -1)

	stop := make(chan struct{})
	pinged := make(chan error, 1)
	go func() { // pings from the reader while data flows to it
		var err error
		for n := 0; err == nil; n++ {
			select {
			case <-stop:
				pinged <- nil
				return
			default:
			}
			err = reader.Ping(5 * time.Second)
		}
		pinged <- err
	}()

	// The frame is the text plus a fixed envelope; sweep the text length
	// across each boundary so that some frame lands exactly on it.
	var lengths []int
	for _, edge := range []int{1, 125, 126, 65535, 65536, 200000} {
		for d := -400; d <= 8; d += 8 { // the envelope is well under 400 bytes
			if n := edge + d; n > 0 {
				lengths = append(lengths, n)
			}
		}
	}
	for i, n := range lengths {
		text := strings.Repeat(string(rune('a'+i%26)), n)
		sender.Say("sizes", fmt.Sprintf("m%d", i), text)
		m := reader.ExpectType("chat.message")
		var d struct{ Text string }
		if err := json.Unmarshal(m.Data, &d); err != nil || d.Text != text {
			t.Fatalf("message %d (%d bytes): got %d bytes, err %v", i, n, len(d.Text), err)
		}
	}
	close(stop)
	if err := <-pinged; err != nil {
		t.Fatalf("ping during data: %v", err)
	}
}

// TestFanOut: a room larger than one io_uring batch gets every message,
// in order, at every member, also while members leave abruptly (their
// sockets closed under the server) between messages.
func TestFanOut(t *testing.T) {
	forModes(t, cfg{router: core.Options{RatePerSecond: -1}, hist: 100}, func(t *testing.T, g *gw) {
		const members, messages = 70, 20 // 70 > batchMax
		clients := make([]*e2e.Client, members)
		for i := range clients {
			clients[i] = dial(t, g, fmt.Sprintf("m%d", i))
			clients[i].Join("big", -1)
		}
		gone := map[int]bool{}
		for n := 0; n < messages; n++ {
			if n%5 == 4 { // one member drops off without a goodbye
				k := 1 + n
				clients[k].Release()
				gone[k] = true
			}
			clients[0].Say("big", fmt.Sprintf("s%d", n), fmt.Sprintf("text %d", n))
		}
		for i, c := range clients {
			if i == 0 || gone[i] { // the sender's copies went by with its acks
				continue
			}
			for n := 0; n < messages; n++ {
				m := c.ExpectType("chat.message")
				var d struct{ Text string }
				if err := json.Unmarshal(m.Data, &d); err != nil || d.Text != fmt.Sprintf("text %d", n) {
					t.Fatalf("member %d, message %d: got %s (%v)", i, n, m.Data, err)
				}
			}
		}
	})
}
