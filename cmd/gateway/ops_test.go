package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/internal/e2e"
	"github.com/classgate/classgate/internal/proc"
)

const adminToken = "admin-token-0123456789abcdef"

func adminCall(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the sum of the samples of name (any labels) whose label
// text contains filter, read from the admin listener's /metrics at url.
func metric(t *testing.T, url, name, filter string) float64 {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest != "" && rest[0] != '{' && rest[0] != ' ' {
			continue // a longer metric name
		}
		if filter != "" && !strings.Contains(rest, filter) {
			continue
		}
		f := strings.Fields(rest)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// TestOperations drives the real gateway with its admin listener on:
// metrics (on the admin listener) move with scripted traffic, logs never
// contain a token, and the admin listener refuses without the admin token.
// (Kick, drain and system messages through the real binary are tested in
// adapters/admin's end-to-end test.)
func TestOperations(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a gateway")
	}
	adminAddr := proc.FreeAddr(t)
	p, addr := startGateway(t, "CLASSGATE_ADMIN__LISTEN="+adminAddr, "CLASSGATE_ADMIN__TOKEN="+adminToken, "CLASSGATE_LOG__LEVEL=debug")
	metricsURL := "http://" + adminAddr + "/metrics"
	adminURL := "http://" + adminAddr
	url := "ws://" + addr + "/ws"
	tok := e2e.Token(t, []byte(testSecret), "ann", "teacher", []string{"*"}, time.Hour)
	ann := e2e.Dial(t, url, tok)
	bob := e2e.Dial(t, url, e2e.Token(t, []byte(testSecret), "bob", "student", []string{"*"}, time.Hour))
	ann.Join("ops", -1)
	bob.Join("ops", -1)

	before := metric(t, metricsURL, "classgate_deliveries_total", "")
	acksBefore := metric(t, metricsURL, "classgate_acks_total", "")
	for i := 0; i < 5; i++ {
		ann.Say("ops", fmt.Sprint("m", i), "hello")
	}
	ann.Send(`not json`)
	ann.ExpectType("error")
	bob.Send(`{"type":"whiteboard.clear","room":"ops","id":"c","data":{}}`)
	bob.ExpectReply("c")
	metric(t, metricsURL, "classgate_connections", "") // settle
	checks := []struct {
		name, filter string
		min          float64
	}{
		{"classgate_connections", "", 2},
		{"classgate_rooms", "", 1},
		{"classgate_joins_total", "", 2},
		{"classgate_frames_received_total", `type="chat.send"`, 5},
		{"classgate_frames_received_total", `type="invalid"`, 1},
		{"classgate_errors_total", `code="bad_request"`, 1},
		{"classgate_errors_total", `code="forbidden"`, 1}, // the student's clear
		{"classgate_plugin_calls_total", `plugin="chat"`, 5},
		{"classgate_store_operation_duration_seconds_count", `op="commit"`, 5},
		{"classgate_fanout_latency_seconds_count", "", 5},
	}
	for _, c := range checks {
		if got := metric(t, metricsURL, c.name, c.filter); got < c.min {
			t.Errorf("%s%s = %v, want ≥ %v", c.name, c.filter, got, c.min)
		}
	}
	if d := metric(t, metricsURL, "classgate_deliveries_total", "") - before; d < 10 {
		t.Errorf("deliveries moved by %v after 5 messages to 2 members, want ≥ 10", d)
	}
	if d := metric(t, metricsURL, "classgate_acks_total", "") - acksBefore; d != 5 {
		t.Errorf("acks moved by %v, want 5", d)
	}

	// The admin API needs the admin token.
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/admin/rooms", "", http.StatusUnauthorized},
		{"GET", "/admin/rooms", "wrong-token-wrong-token", http.StatusUnauthorized},
		{"GET", "/metrics", "", http.StatusUnauthorized},
		{"POST", "/admin/drain", "", http.StatusUnauthorized},
		{"GET", "/admin/rooms", adminToken, http.StatusOK},
		{"GET", "/admin/rooms/ops/presence", adminToken, http.StatusOK},
		{"GET", "/admin/stats", adminToken, http.StatusOK},
	} {
		if code, body := adminCall(t, tc.method, adminURL+tc.path, tc.token, ""); code != tc.want {
			t.Fatalf("%s %s with token %q = %d %s, want %d", tc.method, tc.path, tc.token, code, body, tc.want)
		}
	}
	if _, body := adminCall(t, "GET", adminURL+"/admin/rooms", adminToken, ""); !strings.Contains(body, `"ops"`) || !strings.Contains(body, `"chat": "stable"`) {
		t.Fatalf("rooms: %s", body)
	}
	// Logs never contain a token.
	logs := p.Output()
	for _, secret := range []string{tok, adminToken, testSecret, strings.Split(tok, ".")[2]} {
		if strings.Contains(logs, secret) {
			t.Fatalf("logs contain a secret")
		}
	}
	if !strings.Contains(logs, `"conn"`) {
		t.Fatalf("debug logs carry no connection ids:\n%s", logs)
	}
}
