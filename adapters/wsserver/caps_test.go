package wsserver_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/wsserver"
	"github.com/classgate/classgate/internal/e2e"
)

// refusal dials with token and returns the HTTP status and body of a
// refused handshake (it fails the test if the handshake succeeds).
func refusal(t *testing.T, url, token string) (int, string) {
	t.Helper()
	c, resp, err := e2e.TryDial(url, token)
	if err == nil {
		c.Release()
		t.Fatal("handshake accepted")
	}
	if resp == nil {
		t.Fatalf("no HTTP response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestConnectionCaps: past server.max_connections every handshake gets
// 503; past server.max_connections_per_user that user's handshakes get 503
// while other users still connect; a closed connection frees its place.
func TestConnectionCaps(t *testing.T) {
	tests := []struct {
		name           string
		max, perUser   int
		users          []string // connections opened, in order
		refusedUser    string   // then this user is refused (users[0] under a per-user cap)
		stillConnects  string   // and this one is not ("" : nobody)
		wantBodySubstr string
	}{
		{"server cap", 3, 0, []string{"a", "b", "c"}, "d", "", "capacity"},
		{"per-user cap", 0, 2, []string{"a", "a", "b"}, "a", "c", "this user"},
		{"both, user first", 10, 2, []string{"a", "a"}, "a", "b", "this user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := start(t, cfg{ws: wsserver.Options{MaxConnections: tt.max, MaxConnectionsPerUser: tt.perUser}})
			tok := func(u string) string { return e2e.Token(t, secret, u, "student", []string{"*"}, time.Hour) }
			var open []*e2e.Client
			for _, u := range tt.users {
				open = append(open, e2e.Dial(t, g.url, tok(u)))
			}
			code, body := refusal(t, g.url, tok(tt.refusedUser))
			if code != http.StatusServiceUnavailable || !strings.Contains(body, tt.wantBodySubstr) {
				t.Fatalf("refused with %d %q, want 503 mentioning %q", code, body, tt.wantBodySubstr)
			}
			if tt.stillConnects != "" {
				c := e2e.Dial(t, g.url, tok(tt.stillConnects))
				c.Send(`{"type":"ping","id":"p"}`)
				c.ExpectReply("p")
				c.Close()
			}
			// The refused connection's owner is still served.
			open[0].Send(`{"type":"ping","id":"p"}`)
			open[0].ExpectReply("p")
			// Closing the first connection (the refused user's own, or any
			// under the server cap) frees a place for the refused user.
			open[0].Close()
			deadline := time.Now().Add(10 * time.Second)
			for {
				c, _, err := e2e.TryDial(g.url, tok(tt.refusedUser))
				if err == nil {
					c.Release()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no place freed after a close: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestUnauthorizedBody: a refused token gets 401 with a generic body; why
// it was refused goes to the log only.
func TestUnauthorizedBody(t *testing.T) {
	g := start(t, cfg{})
	for _, tok := range []string{"", "not-a-jwt", e2e.Token(t, secret, "u", "student", []string{"*"}, -time.Hour),
		e2e.Token(t, []byte("another-secret-another-secret-!!"), "u", "student", []string{"*"}, time.Hour)} {
		code, body := refusal(t, g.url, tok)
		if code != http.StatusUnauthorized || body != "unauthorized: missing, invalid or expired token" {
			t.Fatalf("token %.20q: %d %q", tok, code, body)
		}
	}
}

// TestConnectionLimitFor: the default connection cap leaves headroom
// below the file-descriptor limit.
func TestConnectionLimitFor(t *testing.T) {
	tests := []struct {
		nofile uint64
		want   int
	}{
		{0, 1}, {64, 1}, {71, 1}, {200, 116}, {1024, 858}, {65536, 58919}, {1 << 20, 943655},
		{^uint64(0), 1<<24 - 64 - (1<<24)/10},
	}
	for _, tt := range tests {
		if got := wsserver.ConnectionLimitFor(tt.nofile); got != tt.want {
			t.Errorf("ConnectionLimitFor(%d) = %d, want %d", tt.nofile, got, tt.want)
		}
	}
	if n, err := wsserver.FDConnectionLimit(); err != nil || n < 1 {
		t.Fatalf("FDConnectionLimit = %d, %v", n, err)
	}
}
