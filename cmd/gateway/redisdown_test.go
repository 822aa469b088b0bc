package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/internal/e2e"
)

// TestRedisOutage: with Redis unreachable a durable send gets a retryable
// error and never an ack, /readyz fails, connections stay open, and once
// Redis is back the same process serves again — no restart — and the
// client's retry with the same id is delivered exactly once — live, even
// though the node's subscription was re-established after the commit.
func TestRedisOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and a gateway")
	}
	// AOF on, so the restarted server keeps the rooms' seq and history
	// (as a production Redis with persistence or a replica would).
	rs := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
	p, addr := redisNode(t, rs.Addr(), redistest.Prefix(t), "n1")
	url := "ws://" + addr + "/ws"
	a := e2e.Dial(t, url, e2e.Token(t, []byte(testSecret), "ann", "teacher", []string{"*"}, time.Hour))
	b := e2e.Dial(t, url, e2e.Token(t, []byte(testSecret), "bob", "student", []string{"*"}, time.Hour))
	a.Join("r", -1)
	b.Join("r", -1)
	first := a.Say("r", "m1", "before")

	rs.Kill()
	a.Send(map[string]any{"type": "chat.send", "room": "r", "id": "m2", "data": map[string]string{"text": "during"}})
	if m := a.ExpectReply("m2"); m.Type != "error" || m.Code != "internal" {
		t.Fatalf("send during outage: %s (want error internal, never an ack)", m.Raw)
	}
	if code := httpStatus(t, "http://"+addr+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during outage = %d, want 503", code)
	}
	// Its body says only that; the log says why.
	if body := httpBody(t, "http://"+addr+"/readyz"); body != "store unavailable" {
		t.Fatalf("/readyz body during outage = %q, want %q", body, "store unavailable")
	}
	if !strings.Contains(p.Output(), "readyz: store unavailable") {
		t.Fatalf("the log does not say why /readyz failed:\n%s", p.Output())
	}
	if code := httpStatus(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz during outage = %d, want 200", code)
	}

	rs.Restart()
	redistest.WaitFor(t, 20*time.Second, "readyz after Redis is back", func() bool {
		return httpStatus(t, "http://"+addr+"/readyz") == http.StatusOK
	})
	// The client retries with the same id: delivered once, acked with a seq
	// after the one acknowledged before the outage.
	var ack e2e.Msg
	redistest.WaitFor(t, 20*time.Second, "an ack after Redis is back", func() bool {
		a.Send(map[string]any{"type": "chat.send", "room": "r", "id": "m2", "data": map[string]string{"text": "during"}})
		ack = a.ExpectReply("m2")
		return ack.Type == "ack"
	})
	if ack.Seq != first.Seq+1 {
		t.Fatalf("ack after recovery has seq %d, want %d", ack.Seq, first.Seq+1)
	}
	got := 0
	b.Expect("the retried message", func(m e2e.Msg) bool {
		if m.Type == "chat.message" && m.Seq == ack.Seq {
			got++
			return true
		}
		return false
	})
	a.Say("r", "m3", "after")
	b.Expect("the next message", func(m e2e.Msg) bool {
		if m.Type == "chat.message" && m.Seq == ack.Seq {
			got++
		}
		return m.Type == "chat.message" && m.Seq == ack.Seq+1
	})
	if got != 1 {
		t.Fatalf("retried message delivered %d times", got)
	}
}

// httpBody returns the body of GET url, trimmed.
func httpBody(t *testing.T, url string) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
