package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

const secret = "config-test-secret-0123456789abcdef"

// TestDefaults: the hardening keys have safe defaults without any file.
func TestDefaults(t *testing.T) {
	c, err := Load("", []string{EnvPrefix + "AUTH__HS256_SECRET=" + secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key       string
		got, want any
	}{
		{"server.max_connections", c.Server.MaxConnections, 0},
		{"server.max_connections_per_user", c.Server.MaxConnectionsPerUser, 20},
		{"server.idle_timeout", c.Server.IdleTimeout, 60 * time.Second},
		{"server.read_header_timeout", c.Server.ReadHeaderTimeout, 10 * time.Second},
		{"auth.issuer", c.Auth.Issuer, ""},
		{"auth.audience", c.Auth.Audience, ""},
		{"auth.max_token_lifetime", c.Auth.MaxTokenLifetime, 24 * time.Hour},
		{"dev.enabled", c.Dev.Enabled, false},
		{"dev.allow_non_loopback", c.Dev.AllowNonLoopback, false},
		{"metrics.enabled", c.Metrics.Enabled, true},
		{"metrics.public", c.Metrics.Public, false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.key, tt.got, tt.want)
		}
	}
	o, err := c.Auth.VerifierOptions()
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxLifetime != 24*time.Hour || string(o.HS256Secret) != secret {
		t.Errorf("VerifierOptions = %+v", o)
	}
}

// TestValidate: values that decode but make no sense are errors naming
// their key; good values load.
func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		wantErr string // "" : loads
	}{
		{"max connections set", []string{"SERVER__MAX_CONNECTIONS=5000"}, ""},
		{"negative max connections", []string{"SERVER__MAX_CONNECTIONS=-1"}, "server.max_connections: must be 0"},
		{"per-user cap off", []string{"SERVER__MAX_CONNECTIONS_PER_USER=0"}, ""},
		{"negative per-user cap", []string{"SERVER__MAX_CONNECTIONS_PER_USER=-2"}, "server.max_connections_per_user:"},
		{"zero idle timeout", []string{"SERVER__IDLE_TIMEOUT=0s"}, "server.idle_timeout: must be positive"},
		{"bad idle timeout", []string{"SERVER__IDLE_TIMEOUT=soon"}, "idle_timeout"},
		{"zero read header timeout", []string{"SERVER__READ_HEADER_TIMEOUT=0s"}, "server.read_header_timeout: must be positive"},
		{"issuer and audience", []string{"AUTH__ISSUER=https://lms.example", "AUTH__AUDIENCE=classgate"}, ""},
		{"no lifetime limit", []string{"AUTH__MAX_TOKEN_LIFETIME=0s"}, ""},
		{"negative lifetime", []string{"AUTH__MAX_TOKEN_LIFETIME=-1h"}, "auth.max_token_lifetime:"},
		{"negative leeway", []string{"AUTH__LEEWAY=-1s"}, "auth.leeway:"},
		{"dev on loopback", []string{"DEV__ENABLED=true", "SERVER__LISTEN=127.0.0.1:8080"}, ""},
		{"dev on localhost", []string{"DEV__ENABLED=true", "SERVER__LISTEN=localhost:8080"}, ""},
		{"dev on ::1", []string{"DEV__ENABLED=true", "SERVER__LISTEN=[::1]:8080"}, ""},
		{"dev on every interface", []string{"DEV__ENABLED=true", "SERVER__LISTEN=:8080"}, "server.listen:"},
		{"dev on 0.0.0.0", []string{"DEV__ENABLED=true", "SERVER__LISTEN=0.0.0.0:8080"}, "dev.allow_non_loopback"},
		{"dev on a public address, forced", []string{"DEV__ENABLED=true", "SERVER__LISTEN=0.0.0.0:8080", "DEV__ALLOW_NON_LOOPBACK=true"}, ""},
		{"production on every interface", []string{"SERVER__LISTEN=0.0.0.0:8080"}, ""},
		{"public metrics", []string{"METRICS__PUBLIC=true"}, ""},
		{"public metrics bad path", []string{"METRICS__PUBLIC=true", "METRICS__PATH=metrics"}, "metrics.path:"},
		{"unknown metrics key", []string{"METRICS__PUBLICK=true"}, "publick"},
		{"idle room caps", []string{"STORE__MEMORY__MAX_IDLE_ROOMS=500", "STORE__MEMORY__MAX_IDLE_BYTES=1048576"}, ""},
		{"no idle rooms", []string{"STORE__MEMORY__MAX_IDLE_ROOMS=0"}, "store.memory.max_idle_rooms: must be positive"},
		{"negative idle bytes", []string{"STORE__MEMORY__MAX_IDLE_BYTES=-1"}, "store.memory.max_idle_bytes: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := []string{EnvPrefix + "AUTH__HS256_SECRET=" + secret}
			for _, e := range tt.env {
				env = append(env, EnvPrefix+e)
			}
			_, err := Load("", env, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestVerifierOptionsKeyFiles: a missing key file is an error naming its
// key.
func TestVerifierOptionsKeyFiles(t *testing.T) {
	tests := []struct {
		name    string
		a       Auth
		wantErr string
	}{
		{"missing PEM", Auth{PublicKeys: []string{"/nonexistent/key.pem"}}, "auth.public_keys"},
		{"missing JWKS", Auth{JWKSFile: "/nonexistent/jwks.json"}, "auth.jwks_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.a.VerifierOptions(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("VerifierOptions = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

// TestOperationsDocQuotesDefaults: docs/OPERATIONS.md lists the
// connection, token, dev and metrics keys with their defaults from code.
func TestOperationsDocQuotesDefaults(t *testing.T) {
	b, err := os.ReadFile("../../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	d := Defaults()
	for _, key := range []string{"server.max_connections", "server.max_connections_per_user", "server.idle_timeout",
		"server.read_header_timeout", "auth.leeway", "auth.issuer", "auth.audience", "auth.max_token_lifetime",
		"dev.allow_non_loopback", "metrics.enabled", "metrics.public", "metrics.path", "history.age",
		"store.memory.max_idle_rooms", "store.memory.max_idle_bytes"} {
		row := fmt.Sprintf("| `%s` | `%v` |", key, d[key])
		if d[key] == "" {
			row = fmt.Sprintf("| `%s` | `\"\"`", key)
		}
		if !strings.Contains(doc, row) {
			t.Errorf("docs/OPERATIONS.md has no row %q", row)
		}
	}
}

// TestLambdaDocQuotesDefaults: docs/LAMBDA.md's "Lambda-only settings"
// states each lambda.* default as `NAME` (value…), the value from
// Defaults (which quotes adapters/awsapigw/defaults).
func TestLambdaDocQuotesDefaults(t *testing.T) {
	b, err := os.ReadFile("../../docs/LAMBDA.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## Lambda-only settings")
	if !ok {
		t.Fatal(`docs/LAMBDA.md has no "## Lambda-only settings" section`)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	sec = strings.Join(strings.Fields(sec), " ")
	d := Defaults()
	for _, key := range []string{"lambda.workers", "lambda.post_budget", "lambda.post_timeout", "lambda.order_wait",
		"lambda.order_lease", "lambda.expiry_every", "lambda.sweep_every", "lambda.sweep_limit",
		"lambda.metrics_namespace", "lambda.metrics_every", "lambda.metrics_samples"} {
		want := fmt.Sprintf("`%s` (%v", strings.ToUpper(strings.TrimPrefix(key, "lambda.")), d[key])
		if !strings.Contains(sec, want) {
			t.Errorf("docs/LAMBDA.md's Lambda-only settings do not state %s's default: no %q", key, want)
		}
	}
}
