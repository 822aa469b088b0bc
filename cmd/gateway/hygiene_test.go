package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/jwt"
	"github.com/classgate/classgate/internal/e2e"
	"github.com/classgate/classgate/internal/proc"
)

// closedWithin reports whether the server closes conn (EOF or reset)
// within d, discarding whatever it sends first.
func closedWithin(conn net.Conn, d time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// TestHTTPTimeouts: an idle keep-alive connection is closed after
// server.idle_timeout, and one that never finishes its request headers
// after server.read_header_timeout, on the main and the admin listener.
func TestHTTPTimeouts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a gateway")
	}
	adminAddr := proc.FreeAddr(t)
	_, addr := startGateway(t, "CLASSGATE_SERVER__IDLE_TIMEOUT=300ms", "CLASSGATE_SERVER__READ_HEADER_TIMEOUT=300ms",
		"CLASSGATE_ADMIN__LISTEN="+adminAddr, "CLASSGATE_ADMIN__TOKEN="+adminToken)
	tests := []struct {
		name, addr, send string
	}{
		{"idle keep-alive", addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"headers never finished", addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n"},
		{"nothing sent", addr, ""},
		{"admin idle keep-alive", adminAddr, "GET /admin/ HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"admin headers never finished", adminAddr, "GET /admin/ HTTP/1.1\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if tt.send != "" {
				if _, err := io.WriteString(conn, tt.send); err != nil {
					t.Fatal(err)
				}
			}
			if strings.HasSuffix(tt.send, "\r\n\r\n") {
				// The request is answered and the connection kept alive.
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				resp.Body.Close()
				if resp.Close {
					t.Fatal("the server did not keep the connection alive; nothing to test")
				}
			}
			if !closedWithin(conn, 10*time.Second) {
				t.Fatal("connection still open 10s after its timeout of 300ms")
			}
		})
	}
	// The server still serves.
	if code := httpStatus(t, "http://"+addr+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d", code)
	}
}

// TestDefaultMaxConnections: with no server.max_connections the cap is
// derived from the process's file-descriptor limit (here 200, set with
// prlimit: 200 − (64 + 20) = 116); the connection past it gets 503 and a
// closed connection frees its place.
func TestDefaultMaxConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a gateway")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	const nofile, want = 200, 116
	bin := proc.Build(t, "gateway")
	addr := proc.FreeAddr(t)
	p := proc.Start(t, prlimit, []string{"CLASSGATE_SERVER__LISTEN=" + addr, "CLASSGATE_AUTH__HS256_SECRET=" + testSecret, cacheEnv},
		fmt.Sprintf("--nofile=%d:%d", nofile, nofile), bin)
	if err := proc.WaitHTTP("http://"+addr+"/readyz", 60*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	if out := p.Output(); !strings.Contains(out, fmt.Sprintf(`"max_connections":%d`, want)) {
		t.Fatalf("startup log lacks max_connections %d:\n%s", want, out)
	}
	url := "ws://" + addr + "/ws"
	var open []*e2e.Client
	for i := 0; i < want; i++ {
		// Distinct users: the per-user cap (20) is not what is tested.
		open = append(open, e2e.Dial(t, url, e2e.Token(t, []byte(testSecret), fmt.Sprint("u", i), "student", []string{"*"}, time.Hour)))
	}
	_, resp, err := e2e.TryDial(url, e2e.Token(t, []byte(testSecret), "one-too-many", "student", []string{"*"}, time.Hour))
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("connection %d: %v %v, want HTTP 503", want+1, resp, err)
	}
	open[0].Send(`{"type":"ping","id":"p"}`)
	open[0].ExpectReply("p")
	open[1].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _, err := e2e.TryDial(url, e2e.Token(t, []byte(testSecret), "one-too-many", "student", []string{"*"}, time.Hour))
		if err == nil {
			c.Release()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no place freed by a close: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range open {
		c.Release()
	}
}

// TestDevMode: dev mode on a non-loopback address starts only with
// dev.allow_non_loopback, and then says so loudly; /dev/token answers
// JSON built by an encoder, whatever the rooms parameter holds, and its
// tokens pass the gateway's own iss/aud/lifetime checks.
func TestDevMode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a gateway")
	}
	_, port, _ := net.SplitHostPort(proc.FreeAddr(t))
	addr := "127.0.0.1:" + port
	p := proc.Start(t, proc.Build(t, "gateway"), []string{"CLASSGATE_SERVER__LISTEN=0.0.0.0:" + port, "CLASSGATE_DEV__ALLOW_NON_LOOPBACK=true",
		"CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_LOG__LEVEL=warn", cacheEnv,
		"CLASSGATE_AUTH__ISSUER=https://lms.example", "CLASSGATE_AUTH__AUDIENCE=classgate", "CLASSGATE_AUTH__MAX_TOKEN_LIFETIME=2h"}, "-dev")
	if err := proc.WaitHTTP("http://"+addr+"/readyz", 60*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	if out := p.Output(); !strings.Contains(out, "DEV MODE ON A NON-LOOPBACK ADDRESS") {
		t.Fatalf("no warning in the log:\n%s", out)
	}
	rooms := []string{`a"b`, `c\`, `</script>`, "d"}
	resp, err := http.Get("http://" + addr + "/dev/token?name=Ann&role=teacher&rooms=" + url.QueryEscape(strings.Join(rooms, ",")))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Token string   `json:"token"`
		User  string   `json:"user"`
		Rooms []string `json:"rooms"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("/dev/token is not JSON: %v", err)
	}
	if strings.Join(got.Rooms, "|") != strings.Join(rooms, "|") || got.User != "ann-teacher" {
		t.Fatalf("/dev/token = %+v", got)
	}
	v, err := jwt.New(jwt.Options{HS256Secret: []byte(testSecret), Issuer: "https://lms.example", Audience: "classgate", MaxLifetime: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(got.Token); err != nil || strings.Join(c.Rooms, "|") != strings.Join(rooms, "|") {
		t.Fatalf("dev token: %+v, %v", c, err)
	}
	c := e2e.Dial(t, "ws://"+addr+"/ws", got.Token)
	c.Join("d", -1)
}

// TestMetricsListener: /metrics is on the admin listener (behind its
// token) and not on the main listener, unless metrics.public is set.
func TestMetricsListener(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gateways")
	}
	tests := []struct {
		name       string
		env        []string
		mainStatus int
	}{
		{"default", nil, http.StatusNotFound},
		{"public", []string{"CLASSGATE_METRICS__PUBLIC=true"}, http.StatusOK},
		{"disabled", []string{"CLASSGATE_METRICS__ENABLED=false", "CLASSGATE_METRICS__PUBLIC=true"}, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			adminAddr := proc.FreeAddr(t)
			_, addr := startGateway(t, append([]string{"CLASSGATE_ADMIN__LISTEN=" + adminAddr, "CLASSGATE_ADMIN__TOKEN=" + adminToken}, tt.env...)...)
			if code := httpStatus(t, "http://"+addr+"/metrics"); code != tt.mainStatus {
				t.Fatalf("main listener /metrics = %d, want %d", code, tt.mainStatus)
			}
			enabled := tt.name != "disabled"
			code, body := adminCall(t, "GET", "http://"+adminAddr+"/metrics", adminToken, "")
			if enabled && (code != http.StatusOK || !strings.Contains(body, "go_memstats_heap_inuse_bytes")) {
				t.Fatalf("admin /metrics = %d", code)
			}
			if !enabled && code != http.StatusNotFound {
				t.Fatalf("admin /metrics with metrics off = %d, want 404", code)
			}
			if code, _ := adminCall(t, "GET", "http://"+adminAddr+"/metrics", "", ""); enabled && code != http.StatusUnauthorized {
				t.Fatalf("admin /metrics without the token = %d, want 401", code)
			}
		})
	}
}
