package redistest

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/classgate/classgate/internal/resp"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds every wait for a process to come up or converge.
const startTimeout = 10 * time.Second

var (
	findOnce  sync.Once
	serverBin string
	cliBin    string
	findErr   error
)

// Binaries returns the paths of redis-server and redis-cli, installing them
// with scripts/install-redis.sh when missing; it skips the test when they
// cannot be had.
func Binaries(t testing.TB) (server, cli string) {
	t.Helper()
	findOnce.Do(func() {
		look := func() error {
			var err error
			if serverBin, err = exec.LookPath("redis-server"); err != nil {
				return err
			}
			cliBin, err = exec.LookPath("redis-cli")
			return err
		}
		if look() == nil {
			return
		}
		script, err := installScript()
		if err != nil {
			findErr = err
			return
		}
		out, err := exec.Command("sh", script).CombinedOutput()
		if err != nil {
			findErr = fmt.Errorf("%s: %v: %s", script, err, strings.TrimSpace(string(out)))
			return
		}
		findErr = look()
	})
	if findErr != nil {
		t.Skipf("redis-server not available: %v", findErr)
	}
	return serverBin, cliBin
}

// installScript finds scripts/install-redis.sh from this source file.
func installScript() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the repository")
	}
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", "install-redis.sh")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("install script: %w", err)
	}
	return p, nil
}

// Prefix returns a key prefix unique to this test and run, e.g.
// "cgt:TestFoo:3f2a9c1e:", for Options.Prefix.
func Prefix(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r == '{' || r == '}' || r == ' ' || r == ':' {
			return '_'
		}
		return r
	}, t.Name())
	return "cgt:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}

// FreePort returns a loopback TCP port that was free a moment ago. When
// cluster is set, port+10000 (the cluster bus) is free too.
func FreePort(t testing.TB, cluster bool) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("redistest: free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if !cluster {
			_ = l.Close()
			return port
		}
		if port+10000 <= 65535 {
			if l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000)); err == nil {
				_ = l2.Close()
				_ = l.Close()
				return port
			}
		}
		_ = l.Close()
	}
	t.Fatal("redistest: no free port pair for a cluster node")
	return 0
}

// Server is one redis-server (or Sentinel) process. Its methods may be
// called from the test goroutine only.
type Server struct {
	t    testing.TB
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	// dialSecure, when set, opens the harness's own connections (TLS,
	// AUTH) to a server started by StartSecure.
	dialSecure func() (net.Conn, error)
}

// StartServer starts a redis-server on a free port with no persistence and
// waits until it answers PING. extra are additional command-line options,
// e.g. "--replicaof", "127.0.0.1 6380".
func StartServer(t testing.TB, extra ...string) *Server {
	t.Helper()
	return startServer(t, FreePort(t, false), extra...)
}

func startServer(t testing.TB, port int, extra ...string) *Server {
	t.Helper()
	bin, _ := Binaries(t)
	dir := t.TempDir()
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no",
		"--logfile", filepath.Join(dir, "redis.log")}
	s := &Server{t: t, port: port, dir: dir, args: append(args, extra...)}
	s.start(bin)
	t.Cleanup(s.Kill)
	return s
}

func (s *Server) start(bin string, pre ...string) {
	s.t.Helper()
	s.cmd = exec.Command(bin, append(pre, s.args...)...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start %s: %v", bin, err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(startTimeout)
	for {
		if v, err := s.Do("PING"); err == nil && v == "PONG" {
			return
		}
		select {
		case <-s.done:
			s.t.Fatalf("redistest: %s exited at start:\n%s", bin, s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: %s on port %d not answering after %s:\n%s", bin, s.port, startTimeout, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr is the server's "127.0.0.1:port".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// Dir is the server's working directory (logs, config).
func (s *Server) Dir() string { return s.dir }

// Log returns the end of the server's log file, for failure messages.
func (s *Server) Log() string {
	for _, name := range []string{"redis.log", "sentinel.log"} {
		if b, err := os.ReadFile(filepath.Join(s.dir, name)); err == nil {
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			return string(b)
		}
	}
	return "(no log)"
}

// Running reports whether the process is alive.
func (s *Server) Running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Kill stops the server with SIGKILL (as a crash would) and waits until it
// is gone. Killing a stopped server does nothing.
func (s *Server) Kill() {
	if !s.Running() {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Restart starts a killed server again on the same port with the same
// options; it comes back empty (nothing is persisted). A running server is
// killed first.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	bin, _ := Binaries(s.t)
	s.start(bin)
}

// Do sends one command over a fresh connection and returns the reply:
// string (simple or bulk), int64, nil, []any, or an error for an error
// reply or a network failure. It needs no client library.
func (s *Server) Do(args ...string) (any, error) {
	dial := func() (net.Conn, error) { return net.DialTimeout("tcp", s.Addr(), time.Second) }
	if s.dialSecure != nil {
		dial = s.dialSecure
	}
	c, err := dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := resp.WriteCommand(c, args...); err != nil {
		return nil, err
	}
	return resp.ReadReply(bufio.NewReader(c))
}

// Clients is the number of client connections Redis has, the one this
// call opens included (CLIENT LIST); it fails the test on an error. Tests
// use it to show that a component closed the connections it opened.
func (s *Server) Clients() int {
	s.t.Helper()
	v, err := s.Do("CLIENT", "LIST")
	if err != nil {
		s.t.Fatalf("CLIENT LIST: %v", err)
	}
	list, _ := v.(string)
	return strings.Count(strings.TrimSpace(list), "\n") + 1
}

// MustDo is Do that fails the test on an error.
func (s *Server) MustDo(args ...string) any {
	s.t.Helper()
	v, err := s.Do(args...)
	if err != nil {
		s.t.Fatalf("redistest: %s %v: %v", s.Addr(), args, err)
	}
	return v
}

// Info returns one field of INFO (e.g. "role", "cluster_state" from
// CLUSTER INFO when section is "cluster-info"), or "" when missing.
func (s *Server) Info(section, field string) string {
	var v any
	var err error
	if section == "cluster-info" {
		v, err = s.Do("CLUSTER", "INFO")
	} else {
		v, err = s.Do("INFO", section)
	}
	if err != nil {
		return ""
	}
	text, _ := v.(string)
	for _, line := range strings.Split(text, "\r\n") {
		if k, val, ok := strings.Cut(line, ":"); ok && k == field {
			return val
		}
	}
	return ""
}

// WaitFor polls cond every 50ms until it is true or timeout passes, then
// fails the test with what.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("redistest: timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
