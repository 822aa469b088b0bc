package admin_test

// End to end through the real gateway: ./cmd/gateway is built and started
// with an admin listener on loopback; real WebSocket clients join a room;
// the operations API lists them, messages the room, kicks one client
// (close 4003) and drains the node (close 1012, handshakes 503).
//
// Skipped until cmd/gateway wires the admin listener: the test asks the
// binary itself (gateway -check with the admin keys below) and skips when
// it does not know them. Skipped with -short. $CLASSGATE_GATEWAY_BIN runs
// a prebuilt gateway.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/classgate/classgate/adapters/admin"
	"github.com/classgate/classgate/adapters/admin/admintest"
	"github.com/classgate/classgate/adapters/metrics"
	"github.com/classgate/classgate/internal/e2e"
	"github.com/classgate/classgate/internal/proc"
	"github.com/classgate/classgate/plugins/embedded"
)

// The configuration keys (as environment variables) that enable the admin
// listener. They must match internal/config.
const (
	envAdminListen = "CLASSGATE_ADMIN__LISTEN"
	envAdminToken  = "CLASSGATE_ADMIN__TOKEN"
)

const (
	e2eSecret = "e2e-secret-0123456789-abcdefghijklmnop"
	e2eToken  = "e2e-admin-token-0123456789"
)

func TestAdminEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	runAdminE2E(t, StartGatewayWithAdmin(t))
}

// runAdminE2E is the end-to-end script, run against the gateway binary and
// against the in-process wiring of TestAdminInProcess.
func runAdminE2E(t *testing.T, gw *Gateway) {
	ctx := context.Background()
	adm := &admintest.Client{Base: gw.Admin, Token: e2eToken}
	room := "e2e-admin/" + strings.ReplaceAll(t.Name(), "/", "-")

	// Without the token: 401, on the admin listener.
	anon := &admintest.Client{Base: gw.Admin}
	var herr *admintest.Error
	if _, err := anon.Rooms(ctx); !errors.As(err, &herr) || herr.Status != http.StatusUnauthorized {
		t.Fatalf("rooms without the token: %v, want HTTP 401", err)
	}

	teacher := e2e.Dial(t, gw.WS, e2e.Token(t, []byte(e2eSecret), "tina", "teacher", []string{"e2e-admin/*"}, time.Hour))
	student := e2e.Dial(t, gw.WS, e2e.Token(t, []byte(e2eSecret), "sam", "student", []string{"e2e-admin/*"}, time.Hour))
	teacher.Join(room, -1)
	student.Join(room, -1)

	t.Run("rooms and presence", func(t *testing.T) {
		rooms, err := adm.Rooms(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range rooms {
			if r.Room == room {
				found = true
				if r.Members != 2 || r.Users != 2 {
					t.Errorf("room %s: %d members, %d users, want 2 and 2", room, r.Members, r.Users)
				}
				if gw.Embedded {
					// The room names the module serving each plugin:
					// the embedded chat, stable.
					b, err := embedded.Get("chat")
					if err != nil {
						t.Fatal(err)
					}
					sum := sha256.Sum256(b)
					want := admin.PluginVersion{Role: "stable", SHA256: hex.EncodeToString(sum[:])}
					if got := r.PluginVersions["chat"]; got != want || r.Plugins["chat"] != "stable" {
						t.Errorf("room %s: chat served by %+v (%q), want %+v", room, got, r.Plugins["chat"], want)
					}
				}
			}
		}
		if !found {
			t.Fatalf("room %s not listed: %+v", room, rooms)
		}
		p, err := adm.Presence(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Members) != 2 {
			t.Fatalf("presence %+v", p)
		}
	})

	t.Run("system message reaches the room", func(t *testing.T) {
		seq, err := adm.Message(ctx, room, "system.message", map[string]string{"text": "Class ends in 5 minutes"})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*e2e.Client{teacher, student} {
			m := c.ExpectType("system.message")
			if m.Seq != seq || m.From == nil || m.From.ID != "system" || !strings.Contains(string(m.Data), "Class ends") {
				t.Errorf("got %s, want seq %d from system", m.Raw, seq)
			}
		}
	})

	t.Run("kick closes with 4003", func(t *testing.T) {
		n, err := adm.Kick(ctx, "sam", "")
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("kick closed %d connections, want 1", n)
		}
		if code := student.ExpectClose(10 * time.Second); code != 4003 {
			t.Errorf("close code %d, want 4003", code)
		}
	})

	t.Run("metrics and stats moved", func(t *testing.T) {
		s, err := adm.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Totals.Joins < 2 || s.Totals.FramesIn < 2 {
			t.Errorf("stats totals %+v", s.Totals)
		}
		if text, err := adm.Metrics(ctx); err == nil {
			for _, want := range []string{"classgate_joins_total", "classgate_connections"} {
				if !strings.Contains(text, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		} else if !errors.As(err, &herr) || herr.Status != http.StatusNotFound {
			t.Errorf("/metrics on the admin listener: %v", err)
		}
	})

	t.Run("dashboard figures equal the counters", func(t *testing.T) {
		// One refused frame moves the error counters too.
		teacher.Send(map[string]any{"type": "no.such_type", "id": "bad-type", "room": room})
		if m := teacher.ExpectReply("bad-type"); m.Type != "error" {
			t.Fatalf("unknown type: %s, want an error", m.Raw)
		}
		// The traffic has stopped; a reading counts as quiet when two
		// /admin/stats around one /metrics agree.
		var s admin.StatsResponse
		var scraped map[string]float64
		for try := 0; ; try++ {
			before, err := adm.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			text, err := adm.Metrics(ctx)
			if errors.As(err, &herr) && herr.Status == http.StatusNotFound {
				t.Skip("no /metrics on the admin listener")
			}
			if err != nil {
				t.Fatal(err)
			}
			after, err := adm.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if before.Totals == after.Totals && before.Connections == after.Connections && before.Rooms == after.Rooms {
				s, scraped = after, sumSamples(text)
				break
			}
			if try == 20 {
				t.Fatalf("the counters kept moving: %+v then %+v", before.Totals, after.Totals)
			}
			time.Sleep(100 * time.Millisecond)
		}
		tt := s.Totals
		for _, c := range []struct {
			metric string
			shown  float64
		}{
			{metrics.NameConnections, s.Connections},
			{metrics.NameRooms, s.Rooms},
			{metrics.NameFramesReceived, tt.FramesIn},
			{metrics.NameFramesSent, tt.FramesOut},
			{metrics.NameDeliveries, tt.Deliveries},
			{metrics.NameJoins, tt.Joins},
			{metrics.NameAcks, tt.Acks},
			{metrics.NameErrors, tt.Errors},
			{metrics.NameRateLimited, tt.RateLimited},
			{metrics.NameDuplicates, tt.Duplicates},
			{metrics.NamePluginCalls, tt.PluginCalls},
			{metrics.NameStoreErrors, tt.StoreErrors},
			{metrics.NameSlowConsumerCloses, tt.SlowClosures},
			{metrics.NameReplayedEvents, tt.Replayed},
			{metrics.NameResyncs, tt.Resyncs},
		} {
			name := metrics.Namespace + "_" + c.metric
			if got := scraped[name]; got != c.shown {
				t.Errorf("%s: /metrics says %v, the dashboard %v", name, got, c.shown)
			}
		}
		// The traffic really moved them (so equality is not 0 = 0).
		if tt.Joins < 2 || tt.FramesIn < 3 || tt.Deliveries < 1 || tt.Errors < 1 || s.Connections < 1 {
			t.Errorf("totals after the script: %+v", tt)
		}
	})

	t.Run("drain closes with 1012 and refuses handshakes", func(t *testing.T) {
		r, err := adm.Drain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Draining {
			t.Errorf("drain answer %+v", r)
		}
		if code := teacher.ExpectClose(10 * time.Second); code != websocket.StatusServiceRestart {
			t.Errorf("close code %d, want 1012", code)
		}
		_, resp, err := e2e.TryDial(gw.WS, e2e.Token(t, []byte(e2eSecret), "late", "student", []string{"*"}, time.Hour))
		if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Errorf("handshake while draining: err %v, HTTP %d, want 503", err, status)
		}
		resp, err = http.Get(gw.HTTP + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("/readyz while draining: HTTP %d, want 503", resp.StatusCode)
		}
	})
}

// Gateway is a gateway process started by StartGatewayWithAdmin.
type Gateway struct {
	HTTP  string // http://127.0.0.1:port (public listener)
	WS    string // ws://127.0.0.1:port/ws
	Admin string // http://127.0.0.1:port (admin listener)
	Logs  func() string
	// Embedded: the gateway serves the embedded plugins (the binary).
	Embedded bool
}

// StartGatewayWithAdmin builds (or takes $CLASSGATE_GATEWAY_BIN) and runs
// the gateway on free loopback ports with the admin listener enabled
// (token e2eToken), and waits until both listeners answer. It skips the
// test when the gateway cannot be built or does not know the admin keys
// yet. The process gets SIGTERM at cleanup.
func StartGatewayWithAdmin(t *testing.T) *Gateway {
	t.Helper()
	bin := os.Getenv("CLASSGATE_GATEWAY_BIN")
	if bin == "" {
		bin = proc.Build(t, "gateway")
	}
	addr, adminAddr := proc.FreeAddr(t), proc.FreeAddr(t)
	env := []string{
		"CLASSGATE_SERVER__LISTEN=" + addr,
		"CLASSGATE_AUTH__HS256_SECRET=" + e2eSecret,
		envAdminListen + "=" + adminAddr,
		envAdminToken + "=" + e2eToken,
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CLASSGATE_") { // the gateway rejects unknown CLASSGATE_ keys
			env = append(env, kv)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	check := exec.CommandContext(ctx, bin, "-check")
	check.Env = env
	if out, err := check.CombinedOutput(); err != nil {
		if strings.Contains(strings.ToLower(string(out)), "admin") {
			t.Skipf("the gateway does not wire the admin listener yet (%s/%s): %s", envAdminListen, envAdminToken, strings.TrimSpace(string(out)))
		}
		t.Fatalf("gateway -check: %v\n%s", err, out)
	}

	logs := &lockedBuf{}
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("gateway output:\n%s", logs.String())
		}
	})
	gw := &Gateway{HTTP: "http://" + addr, WS: "ws://" + addr + "/ws", Admin: "http://" + adminAddr, Logs: logs.String, Embedded: true}
	deadline := time.Now().Add(15 * time.Second)
	for _, u := range []string{gw.HTTP + "/healthz", gw.Admin + "/admin/"} {
		for {
			resp, err := http.Get(u)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-done:
				t.Fatalf("gateway exited at start:\n%s", logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not answering after 15s (last error %v):\n%s", u, err, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return gw
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// sumSamples sums the samples of the Prometheus text exposition by metric
// name (every label set together): the test's own reading of /metrics.
func sumSamples(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexByte(line, '{'); i >= 0 {
			name = line[:i]
			if j := strings.LastIndexByte(line, '}'); j > i {
				rest = line[j+1:]
			}
		} else if i := strings.IndexByte(line, ' '); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out
}
