package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gatewayProc is a real bin/gateway started by a test on a free loopback
// port.
type gatewayProc struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs bytes.Buffer
}

// startGateway builds ./cmd/gateway and starts it with the given secret.
// It skips the test when the gateway command does not exist yet or in
// -short mode (the build takes a while).
func startGateway(t *testing.T, secret string) *gatewayProc {
	t.Helper()
	src := filepath.Join("..", "gateway")
	if _, err := os.Stat(filepath.Join(src, "main.go")); err != nil {
		t.Skip("./cmd/gateway does not exist yet: no real gateway to run loadgen against")
	}
	if testing.Short() {
		t.Skip("-short: skipping the build and run of the real gateway")
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	build := exec.Command("go", "build", "-o", bin, "./"+filepath.ToSlash(src))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build gateway: %v\n%s", err, out)
	}
	port := freePort(t)
	g := &gatewayProc{addr: "127.0.0.1:" + strconv.Itoa(port)}
	g.cmd = exec.Command(bin)
	g.cmd.Env = append(os.Environ(),
		"CLASSGATE_SERVER__LISTEN="+g.addr,
		"CLASSGATE_AUTH__HS256_SECRET="+secret,
		"CLASSGATE_LIMITS__RATE_PER_SECOND=1000",
	)
	g.cmd.Stdout = &lockedWriter{mu: &g.mu, w: &g.logs}
	g.cmd.Stderr = g.cmd.Stdout
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	t.Cleanup(func() { g.stop(t) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + g.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not healthy on %s after 20s: %v\n%s", g.addr, err, g.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *gatewayProc) log() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.logs.String()
}

func (g *gatewayProc) stop(t *testing.T) {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- g.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = g.cmd.Process.Kill()
		<-done
		t.Errorf("gateway did not stop within 15s of SIGTERM")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestAgainstGateway runs a short, small load against the real gateway and
// demands exact delivery: every acknowledged message reaches every member
// of its room once, in seq order.
func TestAgainstGateway(t *testing.T) {
	const secret = "loadgen-integration-secret-0123456789"
	g := startGateway(t, secret)
	tests := []struct {
		name string
		mix  Mix
	}{
		{name: "chat", mix: Mix{1, 0, 0}},
		{name: "chat whiteboard cursor", mix: Mix{2, 1, 1}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{
				URLs: []string{"ws://" + g.addr + "/ws"}, Secret: secret,
				Rooms: 3, Users: 5, Publishers: 1, Rate: 50,
				Duration: 2 * time.Second, Warmup: 500 * time.Millisecond, Drain: 5 * time.Second,
				Mix: tc.mix, Concurrency: 16, Points: 8, Quiet: true,
				HandshakeTTL: 10 * time.Second, PID: g.cmd.Process.Pid,
				RoomPrefix: "it" + strconv.Itoa(i) + "-",
			}
			rep := NewRun(cfg, nil).Execute(context.Background())
			var text bytes.Buffer
			_ = rep.WriteText(&text)
			if !rep.Pass {
				t.Fatalf("run failed: %v\n%s\ngateway log:\n%s", rep.Failures, text.String(), g.log())
			}
			if rep.Connections.Connected != 15 {
				t.Errorf("connected %d, want 15", rep.Connections.Connected)
			}
			d := rep.Deliveries
			if d.Lost != 0 || d.Extra != 0 || d.Received != d.Expected || d.Expected != rep.Messages.AckedDurable*5 {
				t.Errorf("deliveries: expected %d (acked %d × 5), received %d, lost %d, extra %d",
					d.Expected, rep.Messages.AckedDurable, d.Received, d.Lost, d.Extra)
			}
			if rep.Messages.Acked != rep.Messages.Sent {
				t.Errorf("acked %d of %d sent", rep.Messages.Acked, rep.Messages.Sent)
			}
			t.Logf("\n%s", text.String())
		})
	}
}
