package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/internal/e2e"
)

// TestRedisTLSAuth: the real gateway binary, configured only through the
// documented keys, runs on a redis-server that speaks only TLS, requires
// a client certificate and an ACL user, and serves a chat round trip
// across two nodes; a gateway with a wrong password or an untrusted CA
// refuses to start with an error naming the problem.
func TestRedisTLSAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and two gateways")
	}
	pki := redistest.NewPKI(t, "gateway")
	untrusted := redistest.NewPKI(t, "untrusted")
	rs := redistest.StartSecure(t, redistest.SecureOptions{PKI: pki, ClientCerts: true, Password: "default-secret",
		Users: map[string]string{"classgate": "classgate-secret"}})
	prefix := redistest.Prefix(t)
	secure := func(user, password, ca string) []string {
		return []string{
			"CLASSGATE_STORE__REDIS__USERNAME=" + user,
			"CLASSGATE_STORE__REDIS__PASSWORD=" + password,
			"CLASSGATE_STORE__REDIS__TLS__ENABLED=true",
			"CLASSGATE_STORE__REDIS__TLS__CA_FILE=" + ca,
			"CLASSGATE_STORE__REDIS__TLS__CERT_FILE=" + pki.ClientCert,
			"CLASSGATE_STORE__REDIS__TLS__KEY_FILE=" + pki.ClientKey,
			"CLASSGATE_STORE__REDIS__TLS__SERVER_NAME=localhost",
		}
	}
	_, a := redisNode(t, rs.Addr(), prefix, "tls-a", secure("classgate", "classgate-secret", pki.CAFile)...)
	_, b := redisNode(t, rs.Addr(), prefix, "tls-b", secure("classgate", "classgate-secret", pki.CAFile)...)
	dial := func(addr, user string) *e2e.Client {
		return e2e.Dial(t, "ws://"+addr+"/ws", e2e.Token(t, []byte(testSecret), user, "student", []string{"*"}, time.Hour))
	}
	const room = "encrypted-101"
	ann, bob := dial(a, "ann"), dial(b, "bob")
	ann.Join(room, -1)
	bob.Join(room, -1)
	ack := ann.Say(room, "m1", "over TLS")
	got := bob.ExpectType("chat.message")
	if got.Seq != ack.Seq || !strings.Contains(string(got.Data), "over TLS") {
		t.Fatalf("node B got %s, want seq %d from node A", got.Raw, ack.Seq)
	}

	tests := []struct {
		name    string
		env     []string
		wantErr []string
	}{
		{"wrong password", secure("classgate", "wrong", pki.CAFile), []string{"store.redis", "authentication failed", "store.redis.password"}},
		{"untrusted CA", secure("classgate", "classgate-secret", untrusted.CAFile), []string{"store.redis", "not signed by a trusted CA", "store.redis.tls.ca_file"}},
		{"TLS off", []string{"CLASSGATE_STORE__REDIS__USERNAME=classgate", "CLASSGATE_STORE__REDIS__PASSWORD=classgate-secret"},
			[]string{"store.redis", "store.redis.tls.enabled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append([]string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_SERVER__LISTEN=127.0.0.1:0", cacheEnv,
				"CLASSGATE_STORE__KIND=redis", "CLASSGATE_STORE__REDIS__ADDR=" + rs.Addr(), "CLASSGATE_STORE__REDIS__PREFIX=" + prefix}, tt.env...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out, errb strings.Builder
			err := run(ctx, nil, env, &out, &errb)
			if err == nil {
				t.Fatal("the gateway started, want it to refuse")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	// The nodes that connected kept serving through the refused ones.
	ann.Say(room, "m2", "still here")
	bob.Expect("the second message", func(m e2e.Msg) bool {
		return m.Type == "chat.message" && strings.Contains(string(m.Data), "still here")
	})
}

// TestCheckRedisTLSConfig: -check reports bad store.redis TLS and AUTH
// settings by their full key, before anything connects.
func TestCheckRedisTLSConfig(t *testing.T) {
	dir := t.TempDir()
	base := []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret, cacheEnv, "CLASSGATE_STORE__KIND=redis"}
	tests := []struct {
		name    string
		env     []string
		wantErr string
	}{
		{"TLS with the system pool", []string{"CLASSGATE_STORE__REDIS__TLS__ENABLED=true"}, ""},
		{"missing CA file", []string{"CLASSGATE_STORE__REDIS__TLS__ENABLED=true", "CLASSGATE_STORE__REDIS__TLS__CA_FILE=" + dir + "/none.pem"}, "store.redis.tls.ca_file"},
		{"tls key while off", []string{"CLASSGATE_STORE__REDIS__TLS__SERVER_NAME=redis.internal"}, "store.redis.tls.enabled"},
		{"cert without key", []string{"CLASSGATE_STORE__REDIS__TLS__ENABLED=true", "CLASSGATE_STORE__REDIS__TLS__CERT_FILE=" + dir + "/c.pem"}, "store.redis.tls.key_file"},
		{"sentinel user in single mode", []string{"CLASSGATE_STORE__REDIS__SENTINEL_USERNAME=watcher"}, "store.redis.sentinel_username"},
		{"unknown tls key", []string{"CLASSGATE_STORE__REDIS__TLS__INSECURE=true"}, "insecure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			err := run(context.Background(), []string{"-check"}, append(append([]string{}, base...), tt.env...), &out, &errb)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("run -check = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run -check = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}
