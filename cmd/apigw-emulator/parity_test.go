package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/classgate/classgate/adapters/awsapigw"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/internal/config"
	"github.com/classgate/classgate/internal/e2e"
	"github.com/classgate/classgate/internal/proc"
)

var secret = []byte("parity-secret-parity-secret-parity-0123")

func logLevel() string {
	if l := os.Getenv("APIGW_EMULATOR_LOG_LEVEL"); l != "" {
		return l
	}
	return "warn"
}

// lambdaBinaries builds the two functions as `make lambda` does (tag
// lambda.norpc), for this machine's architecture.
func lambdaBinaries(t *testing.T) (authorizer, gateway string) {
	t.Helper()
	return proc.Build(t, "authorizer", "GOFLAGS=-tags=lambda.norpc", "CGO_ENABLED=0"),
		proc.Build(t, "gateway-lambda", "GOFLAGS=-tags=lambda.norpc", "CGO_ENABLED=0")
}

// emulator is a running apigw-emulator process group.
type emulator struct {
	addr string
	cmd  *exec.Cmd
	out  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startEmulator runs the emulator binary in its own process group, with
// the real authorizer and gateway binaries, and kills the whole group
// (emulator and execution environments) at cleanup.
func startEmulator(t *testing.T, env []string, flags ...string) *emulator {
	t.Helper()
	bin := proc.Build(t, "apigw-emulator")
	authz, gw := lambdaBinaries(t)
	addr := proc.FreeAddr(t)
	args := []string{"-listen", addr, "-authorizer", authz, "-function", gw, "-log-level", logLevel()}
	for _, e := range env {
		args = append(args, "-env", e)
	}
	args = append(args, flags...)
	e := &emulator{addr: addr, out: &syncBuffer{}}
	e.cmd = exec.Command(bin, args...)
	e.cmd.Stdout, e.cmd.Stderr = e.out, e.out
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		pgid := e.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(8 * time.Second):
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			out := e.out.String()
			if p := os.Getenv("APIGW_EMULATOR_LOG"); p != "" {
				_ = os.WriteFile(p, []byte(out), 0o644)
			}
			if len(out) > 20000 {
				out = "…" + out[len(out)-20000:]
			}
			t.Logf("emulator output:\n%s", out)
		}
	})
	if err := proc.WaitHTTP("http://"+addr+"/_emulator/healthz", 30*time.Second); err != nil {
		t.Fatalf("emulator not ready: %v\n%s", err, e.out.String())
	}
	return e
}

func (e *emulator) stats(t *testing.T) map[string]map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + e.addr + "/_emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s map[string]map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// warmCache compiles the plugins into a fresh directory with the gateway
// binary, as a build step for the target architecture would.
func warmCache(t *testing.T) string {
	t.Helper()
	_, gw := lambdaBinaries(t)
	dir := t.TempDir()
	out, err := exec.Command(gw, "-warm-cache", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("warm-cache: %v\n%s", err, out)
	}
	return dir
}

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	root, err := proc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, rel)
}

// TestParity runs the shared protocol, classroom and hostile suites
// against the real Lambda binaries behind the emulated API Gateway, with
// a real Redis and the shipped configs/lambda.yaml (its message limit
// included). The suites are the ones the standalone server passes
// (adapters/wsserver, cmd/gateway), with the same checks: where the
// Lambda deployment differs, the suites branch on a named
// e2e.LambdaDifferences entry and assert the Lambda behaviour exactly.
func TestParity(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and starts Redis")
	}
	rd := redistest.StartServer(t)
	seed := warmCache(t)
	const historyLimit = 50
	cfgFile := repoFile(t, "configs/lambda.yaml")
	cfg, err := config.Load(cfgFile, []string{"CLASSGATE_AUTH__HS256_SECRET=" + string(secret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.MaxMessageBytes >= awsapigw.MaxFrameBytes {
		t.Fatalf("configs/lambda.yaml limits.max_message_bytes %d is not under API Gateway's %d-byte frame: too_large would be unreachable", cfg.Limits.MaxMessageBytes, awsapigw.MaxFrameBytes)
	}
	env := []string{
		"CLASSGATE_AUTH__HS256_SECRET=" + string(secret),
		"CLASSGATE_LAMBDA__CONFIG=" + cfgFile,
		"CLASSGATE_STORE__REDIS__ADDR=" + rd.Addr(),
		"CLASSGATE_STORE__REDIS__PREFIX=" + redistest.Prefix(t),
		fmt.Sprint("CLASSGATE_HISTORY__LIMIT=", historyLimit),
		"CLASSGATE_LAMBDA__CACHE_SEED=" + seed,
		// Metrics after every invocation, so the checks below see them
		// within the run (the default aggregates a minute).
		"CLASSGATE_LAMBDA__METRICS_EVERY=-1s",
	}
	// -schedule: the template's sweep rule, every second instead of every
	// minute, so that a silent connection's token expiry is noticed
	// within the suite's bound.
	emu := startEmulator(t, env, "-concurrency", "3", "-prewarm", "1", "-schedule", "1s")
	tg := e2e.Target{
		URL:             "ws://" + emu.addr + "/local",
		Secret:          secret,
		HistoryLimit:    historyLimit,
		MaxMessageBytes: cfg.Limits.MaxMessageBytes,
		HardLimit:       awsapigw.MaxMessageBytes,
		Lambda:          true,
		CloseCode:       awsapigw.LambdaCloseCode,
		FrameLimit:      awsapigw.MaxFrameBytes,
	}
	t.Run("Protocol", func(t *testing.T) { e2e.Run(t, tg) })
	t.Run("Classroom", func(t *testing.T) { e2e.RunClassroom(t, tg) })
	t.Run("Hostile", func(t *testing.T) { e2e.RunHostile(t, tg) })

	s := emu.stats(t)
	t.Logf("emulator stats: gateway %v; authorizer %v", s["gateway"], s["authorizer"])
	out := emu.out.String()
	for _, want := range []string{`"_aws":`, `"CloudWatchMetrics"`, `"FramesIn"`, `"OrderWait"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no EMF metric lines (%s) in the functions' output", want)
		}
	}
}

// TestDifferencesDocumented: docs/LAMBDA.md lists exactly the differences
// the suites know (e2e.LambdaDifferences), by name, and quotes the close
// code a client of the Lambda deployment sees.
func TestDifferencesDocumented(t *testing.T) {
	b, err := os.ReadFile(repoFile(t, "docs/LAMBDA.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	_, section, ok := strings.Cut(doc, "## Differences from the standalone server")
	if !ok {
		t.Fatal(`docs/LAMBDA.md has no "## Differences from the standalone server" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for d := range e2e.LambdaDifferences {
		if !strings.Contains(section, "`"+string(d)+"`") {
			t.Errorf("docs/LAMBDA.md's differences do not list `%s`", d)
		}
	}
	if n := strings.Count(section, "\n| `"); n != len(e2e.LambdaDifferences) {
		t.Errorf("docs/LAMBDA.md lists %d differences, the suites know %d", n, len(e2e.LambdaDifferences))
	}
	if !strings.Contains(section, fmt.Sprintf("close code %d", awsapigw.LambdaCloseCode)) {
		t.Errorf("docs/LAMBDA.md's differences do not quote close code %d", awsapigw.LambdaCloseCode)
	}
}

// rawDial opens a WebSocket with a valid token, without the e2e client.
func rawDial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	tok := e2e.Token(t, secret, "lim", "student", []string{"*"}, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url+"?token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

// closeCode reads until the connection closes and returns its close code.
func closeCode(t *testing.T, ws *websocket.Conn, within time.Duration) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("not closed within %v", within)
			}
			return websocket.CloseStatus(err)
		}
	}
}

// TestLimitsAndLifetime checks what the emulator itself enforces, as API
// Gateway does: frames above 32 KB and messages above 128 KB close the
// connection with 1009, idle connections and old ones are closed with
// 1001, and every close reaches the function as $disconnect.
func TestLimitsAndLifetime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and starts Redis")
	}
	rd := redistest.StartServer(t)
	env := []string{
		"CLASSGATE_AUTH__HS256_SECRET=" + string(secret),
		"CLASSGATE_LAMBDA__CONFIG=" + repoFile(t, "configs/lambda.yaml"),
		"CLASSGATE_STORE__REDIS__ADDR=" + rd.Addr(),
		"CLASSGATE_STORE__REDIS__PREFIX=" + redistest.Prefix(t),
		"CLASSGATE_LAMBDA__CACHE_SEED=" + warmCache(t),
	}
	emu := startEmulator(t, env, "-idle-timeout", "1500ms", "-max-lifetime", "4s", "-concurrency", "2")
	url := "ws://" + emu.addr + "/local"
	ping := func(id string) string { return `{"type":"ping","id":"` + id + `"}` }
	tests := []struct {
		name   string
		frames []string // each element one frame of one message
		code   websocket.StatusCode
	}{
		{"one frame above 32 KB", []string{ping(strings.Repeat("x", 33<<10))}, websocket.StatusMessageTooBig},
		{"message above 128 KB in 32 KB frames", chunks(ping(strings.Repeat("x", 129<<10)), 32<<10), websocket.StatusMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := rawDial(t, url)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			w, err := ws.Writer(ctx, websocket.MessageText)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.frames {
				if _, err := w.Write([]byte(f)); err != nil {
					break // closed meanwhile
				}
			}
			_ = w.Close()
			if code := closeCode(t, ws, 10*time.Second); code != tt.code {
				t.Fatalf("closed with %v, want %v", code, tt.code)
			}
		})
	}
	t.Run("128 KB in 32 KB frames is one message", func(t *testing.T) {
		ws := rawDial(t, url)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w, _ := ws.Writer(ctx, websocket.MessageText)
		for _, f := range chunks(ping(strings.Repeat("x", 100<<10)), 32<<10) {
			_, _ = w.Write([]byte(f))
		}
		_ = w.Close()
		// The router's too_large (limits.max_message_bytes) answers it;
		// the connection stays.
		_, b, err := ws.Read(ctx)
		if err != nil || !strings.Contains(string(b), `"error"`) {
			t.Fatalf("got %s, %v", b, err)
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		ws := rawDial(t, url)
		if code := closeCode(t, ws, 10*time.Second); code != websocket.StatusGoingAway {
			t.Fatalf("idle connection closed with %v, want 1001", code)
		}
	})
	t.Run("max lifetime despite traffic", func(t *testing.T) {
		ws := rawDial(t, url)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			tick := time.NewTicker(400 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					err := ws.Write(ctx, websocket.MessageText, []byte(ping("keep")))
					cancel()
					if err != nil {
						return
					}
				}
			}
		}()
		if code := closeCode(t, ws, 15*time.Second); code != websocket.StatusGoingAway {
			t.Fatalf("old connection closed with %v, want 1001", code)
		}
	})
	// Every connection had its $connect and its $disconnect.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := emu.stats(t)["routes"]
		if r["$connect"] == float64(5) && r["$disconnect"] == float64(5) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("routes invoked: %v, want 5 $connect and 5 $disconnect", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// TestRetriesUnderInjectedFaults runs the classroom suite while the
// @connections API answers a fifth of all posts with 429 or 500: the
// sender's jittered retries must hide every one of them.
func TestRetriesUnderInjectedFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and starts Redis")
	}
	rd := redistest.StartServer(t)
	env := []string{
		"CLASSGATE_AUTH__HS256_SECRET=" + string(secret),
		"CLASSGATE_LAMBDA__CONFIG=" + repoFile(t, "configs/lambda.yaml"),
		"CLASSGATE_STORE__REDIS__ADDR=" + rd.Addr(),
		"CLASSGATE_STORE__REDIS__PREFIX=" + redistest.Prefix(t),
		"CLASSGATE_LAMBDA__CACHE_SEED=" + warmCache(t),
		"CLASSGATE_LAMBDA__METRICS_EVERY=-1s",
	}
	emu := startEmulator(t, env, "-post-faults", "0.2", "-concurrency", "2")
	tg := e2e.Target{URL: "ws://" + emu.addr + "/local", Secret: secret, Lambda: true, CloseCode: awsapigw.LambdaCloseCode, FrameLimit: awsapigw.MaxFrameBytes}
	e2e.RunClassroom(t, tg)
	out := emu.out.String()
	if !strings.Contains(out, `"PostRetries"`) {
		t.Fatal("no PostRetries metric: were faults injected?")
	}
}

// TestCostDocumented: the cost table in docs/LAMBDA.md is the output of
// configs/sam/cost.sh for the stated load (one source: the script).
func TestCostDocumented(t *testing.T) {
	out, err := exec.Command("bash", repoFile(t, "configs/sam/cost.sh")).Output()
	if err != nil {
		t.Fatalf("cost.sh: %v", err)
	}
	doc, err := os.ReadFile(repoFile(t, "docs/LAMBDA.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 10 {
		t.Fatalf("cost.sh printed %d lines:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if !strings.Contains(string(doc), l) {
			t.Errorf("docs/LAMBDA.md does not quote cost.sh's line %q", l)
		}
	}
}
