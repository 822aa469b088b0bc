package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/classgate/classgate/internal/e2e"
	"github.com/classgate/classgate/internal/proc"
)

const testSecret = "gateway-test-secret-0123456789abcdef"

// cacheEnv shares one wazero compilation cache between every gateway the
// tests start, so each plugin is compiled once per test run.
var cacheEnv string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "classgate-wasm-cache-")
	if err != nil {
		panic(err)
	}
	cacheEnv = "CLASSGATE_PLUGINS__CACHE_DIR=" + dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "auth:\n  hs256_secret: "+testSecret+"\nserver:\n  listen: 127.0.0.1:9999\n")
	tests := []struct {
		name    string
		args    []string
		env     []string
		wantErr string
	}{
		{"reference config", []string{"-check", "-config", "../../configs/gateway.yaml"}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret}, ""},
		{"good file", []string{"-check", "-config", good}, nil, ""},
		{"env only", []string{"-check"}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_SERVER__LISTEN=127.0.0.1:9000"}, ""},
		{"missing secret", []string{"-check"}, nil, "auth.hs256_secret: required"},
		{"short secret", []string{"-check"}, []string{"CLASSGATE_AUTH__HS256_SECRET=short"}, "auth.hs256_secret: must be at least 32"},
		{"unknown key in file", []string{"-check", "-config", write("unknown.yaml", "server:\n  listn: x\n")}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret}, "listn"},
		{"unknown env key", []string{"-check"}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_SERVR__LISTEN=x"}, "servr"},
		{"bad duration", []string{"-check"}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_HISTORY__AGE=soon"}, "history.age"},
		{"bad listen", []string{"-check", "-listen", "nope"}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret}, "server.listen"},
		{"bad store kind", []string{"-check"}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_STORE__KIND=etcd"}, "store.kind"},
		{"broken yaml", []string{"-check", "-config", write("broken.yaml", "server: [\n")}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret}, "broken.yaml"},
		{"redis sentinel without addrs", []string{"-check"}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_STORE__KIND=redis", "CLASSGATE_STORE__REDIS__MODE=sentinel"}, "store.redis.addrs"},
		{"plugin file missing", []string{"-check", "-config", write("noplugin.yaml", "plugins:\n  namespaces:\n    quiz:\n      source: "+filepath.Join(dir, "quiz.wasm")+"\n")}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret}, "quiz"},
		{"plugin not wasm", []string{"-check", "-config", write("garbage.yaml", "plugins:\n  namespaces:\n    quiz:\n      source: "+write("garbage.wasm", "not wasm")+"\n")}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret}, "quiz"},
		{"plugin bad timeout", []string{"-check", "-config", write("badtimeout.yaml", "plugins:\n  namespaces:\n    chat:\n      source: embedded:chat\n      timeout: -1s\n")}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret}, "plugins.namespaces.chat.timeout"},
		{"missing file", []string{"-check", "-config", filepath.Join(dir, "nope.yaml")}, nil, "nope.yaml"},
		{"gc percent out of range", []string{"-check"}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_RUNTIME__GC_PERCENT=5"}, "runtime.gc_percent"},
		{"gc percent Go default", []string{"-check"}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_RUNTIME__GC_PERCENT=0"}, ""},
		{"dev mode on every interface", []string{"-check", "-dev", "-listen", "0.0.0.0:8080"}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret}, "dev.allow_non_loopback"},
		{"dev mode on every interface, forced", []string{"-check", "-dev", "-listen", ":8080"}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_DEV__ALLOW_NON_LOOPBACK=true"}, ""},
		{"negative per-user cap", []string{"-check"}, []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_SERVER__MAX_CONNECTIONS_PER_USER=-1"}, "server.max_connections_per_user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			err := run(context.Background(), tt.args, append(tt.env, cacheEnv), &out, &errb)
			if tt.wantErr == "" {
				if err != nil || !strings.Contains(out.String(), "configuration OK") {
					t.Fatalf("run = %v, out %q", err, out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// startGateway runs the real binary on a free port with env overrides.
func startGateway(t *testing.T, env ...string) (*proc.Process, string) {
	t.Helper()
	return startGatewayArgs(t, nil, env...)
}

// startGatewayArgs is startGateway with command-line arguments.
func startGatewayArgs(t *testing.T, args []string, env ...string) (*proc.Process, string) {
	t.Helper()
	bin := proc.Build(t, "gateway")
	addr := proc.FreeAddr(t)
	env = append([]string{"CLASSGATE_SERVER__LISTEN=" + addr, "CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_LOG__LEVEL=warn", cacheEnv,
		// Generous plugin deadlines: CI runs the race detector on 2 shared cores.
		"CLASSGATE_PLUGINS__NAMESPACES__CHAT__TIMEOUT=3s",
		"CLASSGATE_PLUGINS__NAMESPACES__WHITEBOARD__TIMEOUT=3s",
		"CLASSGATE_PLUGINS__NAMESPACES__PRESENCE__TIMEOUT=3s",
	}, env...)
	p := proc.Start(t, bin, env, args...)
	if err := proc.WaitHTTP("http://"+addr+"/readyz", 60*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	return p, addr
}

func TestSIGTERMDrains(t *testing.T) {
	p, addr := startGateway(t, "CLASSGATE_SERVER__SHUTDOWN_TIMEOUT=5s")
	url := "ws://" + addr + "/ws"
	c := e2e.Dial(t, url, e2e.Token(t, []byte(testSecret), "u", "student", []string{"*"}, time.Hour))
	c.Join("r", -1)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.ExpectClose(5 * time.Second); code != 1012 {
		t.Fatalf("closed with %v, want 1012", code)
	}
	if err, ok := p.Wait(10 * time.Second); !ok || err != nil {
		t.Fatalf("gateway did not exit cleanly: exited=%v err=%v\n%s", ok, err, p.Output())
	}
}

func TestDevTokenOnlyInDevMode(t *testing.T) {
	_, prod := startGateway(t)
	resp, err := http.Get("http://" + prod + "/dev/token?name=Ann&role=teacher")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("production /dev/token = %d, want 404", resp.StatusCode)
	}
}

// BenchmarkIdleMemory5000 opens 5,000 idle WebSocket connections to a
// real gateway process and reports its resident memory per connection:
// "bare" connections that joined nothing, and connections that each joined
// one of 100 rooms (registry, presence state, plugin join hooks). The
// plugin instance pools are warmed up before the baseline is taken.
func BenchmarkIdleMemory5000(b *testing.B) {
	for _, join := range []bool{false, true} {
		name := "bare"
		if join {
			name = "joined"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				idleMemory(b, 5000, join)
			}
		})
	}
}

func idleMemory(b *testing.B, n int, join bool) {
	bin := proc.Build(b, "gateway")
	addr := proc.FreeAddr(b)
	p := proc.Start(b, bin, []string{"CLASSGATE_SERVER__LISTEN=" + addr, "CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_LOG__LEVEL=warn", cacheEnv})
	if err := proc.WaitHTTP("http://"+addr+"/readyz", 60*time.Second); err != nil {
		b.Fatal(err)
	}
	pid := p.Cmd.Process.Pid
	url := "ws://" + addr + "/ws"
	// Warm-up: fill the plugin pools and the runtime's caches.
	var warm []*e2e.Client
	for j := 0; j < 100; j++ {
		c := e2e.Dial(b, url, e2e.Token(b, []byte(testSecret), fmt.Sprint("w", j), "student", []string{"*"}, time.Hour))
		c.Join(fmt.Sprint("warm-", j%10), -1)
		warm = append(warm, c)
	}
	time.Sleep(time.Second)
	before, _ := proc.RSS(pid)
	clients := make([]*e2e.Client, 0, n)
	start := time.Now()
	for j := 0; j < n; j++ {
		c := e2e.Dial(b, url, e2e.Token(b, []byte(testSecret), fmt.Sprint("u", j), "student", []string{"*"}, time.Hour))
		if join {
			c.Join(fmt.Sprint("room-", j%100), -1)
		}
		clients = append(clients, c)
	}
	elapsed := time.Since(start)
	time.Sleep(2 * time.Second) // let the server settle
	after, _ := proc.RSS(pid)
	b.ReportMetric(float64(after-before)/float64(n), "server-bytes/conn")
	b.ReportMetric(float64(after)/(1<<20), "server-MiB")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "conns/s")
	for _, c := range append(clients, warm...) {
		c.Release()
	}
}

// suiteShedAfter moves overload shedding (server.shed_after) out of the
// shared suites' way, as their rate limits are: the suites pipeline bursts
// of frames on one connection (OrderAcrossSenders: 4 senders × 50 frames
// into one room) from a raw client that does not retry rate_limited, and a
// loaded machine may take longer than the default to serve such a burst.
// Shedding has its own tests (wsserver TestShedAfter, core TestShed), and
// make chaos runs with the default.
const suiteShedAfter = "CLASSGATE_SERVER__SHED_AFTER=1m"

// TestProtocolRealBinary runs the shared protocol suite against the real
// gateway binary with its embedded WebAssembly plugins.
func TestProtocolRealBinary(t *testing.T) {
	adminAddr := proc.FreeAddr(t)
	_, addr := startGateway(t,
		"CLASSGATE_HISTORY__LIMIT=20",
		// Short, so that the hostile suite sees idle rooms freed (with
		// their history) within the test; longer than any test needs
		// its history.
		"CLASSGATE_HISTORY__AGE=20s",
		"CLASSGATE_LIMITS__RATE_PER_SECOND=2000",
		"CLASSGATE_LIMITS__RATE_BURST=2000",
		suiteShedAfter,
		// The hostile suite reads the heap from pprof.
		"CLASSGATE_ADMIN__LISTEN="+adminAddr, "CLASSGATE_ADMIN__TOKEN="+adminToken, "CLASSGATE_ADMIN__PPROF=true",
	)
	tg := e2e.Target{URL: "ws://" + addr + "/ws", Secret: []byte(testSecret), HistoryLimit: 20, MaxMessageBytes: 64 << 10, HardLimit: 1 << 20,
		AdminURL: "http://" + adminAddr, AdminToken: adminToken, HistoryAge: 20 * time.Second, MaxConnsPerUser: 20}
	e2e.Run(t, tg)
	e2e.RunClassroom(t, tg)
	t.Run("Hostile", func(t *testing.T) { e2e.RunHostile(t, tg) })
}
