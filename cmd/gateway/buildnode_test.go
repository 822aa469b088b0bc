package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/internal/config"
)

// TestBuildNodeClosesWhatItOpenedOnError: when a step of buildNode fails
// after the store is open (here: a plugin file that is not WebAssembly),
// the store it opened is closed — its Redis connections go away — and the
// error names the step.
func TestBuildNodeClosesWhatItOpenedOnError(t *testing.T) {
	rs := redistest.StartServer(t)
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(bad, []byte("not a WebAssembly module"), 0o644); err != nil {
		t.Fatal(err)
	}
	clients := rs.Clients
	base := clients()
	tests := []struct {
		name    string
		env     []string
		wantErr string
	}{
		{"plugin fails to load", []string{"CLASSGATE_PLUGINS__NAMESPACES__POLL__SOURCE=" + bad}, "plugins:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append([]string{"CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_STORE__KIND=redis",
				"CLASSGATE_STORE__REDIS__ADDR=" + rs.Addr(), "CLASSGATE_STORE__REDIS__PREFIX=" + redistest.Prefix(t),
				"CLASSGATE_PLUGINS__CACHE_DIR=none", "CLASSGATE_SERVER__MAX_CONNECTIONS=100"}, tt.env...)
			cfg, err := config.Load("", env, nil)
			if err != nil {
				t.Fatal(err)
			}
			n, err := buildNode(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err == nil {
				n.close()
				t.Fatal("buildNode succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			redistest.WaitFor(t, 10*time.Second, "the failed node's Redis connections to close", func() bool { return clients() <= base })
		})
	}
}
