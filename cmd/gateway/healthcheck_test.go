package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/classgate/classgate/internal/proc"
)

func TestProbeURL(t *testing.T) {
	tests := []struct {
		listen, want, wantErr string
	}{
		{"127.0.0.1:8080", "http://127.0.0.1:8080/healthz", ""},
		{"0.0.0.0:8080", "http://127.0.0.1:8080/healthz", ""},
		{":9000", "http://127.0.0.1:9000/healthz", ""},
		{"[::]:8080", "http://127.0.0.1:8080/healthz", ""},
		{"[::1]:8080", "http://[::1]:8080/healthz", ""},
		{"gateway.internal:8080", "http://gateway.internal:8080/healthz", ""},
		{"nope", "", "server.listen"},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			got, err := probeURL(tt.listen)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("probeURL(%q) = %q, %v; want error containing %q", tt.listen, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("probeURL(%q) = %q, %v; want %q", tt.listen, got, err, tt.want)
			}
		})
	}
}

// TestHealthcheckFlag runs `gateway -healthcheck` against a loopback
// server answering like a healthy node, a failing one, and nothing.
func TestHealthcheckFlag(t *testing.T) {
	serve := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(code)
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	healthy := serve(http.StatusOK)
	file := filepath.Join(t.TempDir(), "node.yaml")
	if err := os.WriteFile(file, []byte("auth:\n  hs256_secret: "+testSecret+"\nserver:\n  listen: "+healthy+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		env     []string
		wantErr string
	}{
		{"healthy", []string{"-listen", healthy}, nil, ""},
		{"unhealthy", []string{"-listen", serve(http.StatusServiceUnavailable)}, nil, "503"},
		{"nothing listening", []string{"-listen", proc.FreeAddr(t)}, nil, "connect"},
		// The container image: the address from the environment, no
		// secret needed (the node may have it from a file).
		{"address from the environment", nil, []string{"CLASSGATE_SERVER__LISTEN=" + healthy}, ""},
		{"address from the configuration file", []string{"-config", file}, nil, ""},
		{"configuration invalid", nil, []string{"CLASSGATE_SERVR__LISTEN=x"}, "healthcheck: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			env := append([]string{cacheEnv}, tt.env...)
			err := run(context.Background(), append([]string{"-healthcheck"}, tt.args...), env, &out, &errb)
			if tt.wantErr == "" {
				if err != nil || !strings.Contains(out.String(), "healthy") {
					t.Fatalf("run = %v, out %q", err, out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run = %v; want error containing %q", err, tt.wantErr)
			}
		})
	}
}
