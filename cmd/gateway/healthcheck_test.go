package main

import (
	"context"
	"net/http"
	"net/http/httptest"
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
	tests := []struct {
		name    string
		listen  string
		wantErr string
	}{
		{"healthy", serve(http.StatusOK), ""},
		{"unhealthy", serve(http.StatusServiceUnavailable), "503"},
		{"nothing listening", proc.FreeAddr(t), "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			env := []string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret, cacheEnv}
			err := run(context.Background(), []string{"-healthcheck", "-listen", tt.listen}, env, &out, &errb)
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
