package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/classgate/classgate/plugins/embedded"
)

func TestValidate(t *testing.T) {
	ok := Plugin{Source: "x.wasm"}
	for _, tc := range []struct {
		name string
		p    Plugin
		ns   string
		want []string
	}{
		{"ok", ok, "chat", nil},
		{"bad namespace", ok, "Chat.x", []string{"namespaces.Chat.x: namespace must match"}},
		{"no source", Plugin{}, "chat", []string{"namespaces.chat.source: required"}},
		{"bad pin", Plugin{Source: "x", SHA256: "abc"}, "chat", []string{"namespaces.chat.sha256"}},
		{"bad values", Plugin{Source: "x", OnFailure: "drop", PoolSize: -1, MemoryPages: 70000, Timeout: -time.Second},
			"chat", []string{"namespaces.chat.on_failure", "namespaces.chat.pool_size", "namespaces.chat.memory_pages", "namespaces.chat.timeout"}},
		{"bad rollout", Plugin{Source: "x", Rollout: 101}, "chat", []string{"namespaces.chat.rollout"}},
		{"bad failure window", Plugin{Source: "x", FailureWindow: -time.Second}, "chat", []string{"namespaces.chat.failure_window"}},
		{"window too long", Plugin{Source: "x", FailureWindow: MaxFailureWindow + 1}, "chat", []string{"namespaces.chat.failure_window"}},
		{"empty pattern", Plugin{Source: "x", Enable: []string{""}, Disable: []string{" "}}, "chat", []string{"namespaces.chat.enable[0]", "namespaces.chat.disable[0]"}},
		{"canary", Plugin{Source: "x", Canary: Canary{Source: "y", Percent: 101}}, "chat", []string{"namespaces.chat.canary.percent"}},
		{"canary without source", Plugin{Source: "x", Canary: Canary{Percent: 5}}, "chat", []string{"namespaces.chat.canary.source"}},
		{"config not JSON", Plugin{Source: "x", Config: map[string]any{"f": func() {}}}, "chat", []string{"namespaces.chat.config"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Config{Namespaces: map[string]Plugin{tc.ns: tc.p}}.Validate()
			if (err != nil) != (len(tc.want) > 0) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestDefaultConfigServesEmbeddedPlugins needs the plugins embedded in the
// test binary: run plugins/build.sh (make plugins) first.
func TestDefaultConfigServesEmbeddedPlugins(t *testing.T) {
	if len(embedded.Names()) < 3 {
		t.Fatalf("embedded plugins %v: run make plugins (plugins/build.sh) before go test", embedded.Names())
	}
	cfg := DefaultConfig()
	h := newHost(t, cfg)
	if got := strings.Join(h.Features("any-room"), ","); got != "chat,presence,whiteboard" {
		t.Fatalf("features %s", got)
	}
}

func TestWatchReloadsChangedFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "t.wasm")
	b, err := os.ReadFile(wasmPath("guest"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var version atomic.Value
	version.Store("a")
	load := func() (Config, error) {
		return one("t", Plugin{Source: file, Config: map[string]any{"version": version.Load()}}), nil
	}
	cfg, _ := load()
	h := newHost(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Watch(ctx, 10*time.Millisecond, load, nil)
	version.Store("b") // the next load returns this; it happens only after a file change
	deadline := time.Now().Add(30 * time.Second)
	// A new room each time: live rooms keep the version they started with.
	for i := 1; versionOf(t, h, fmt.Sprintf("r%d", i)) != "b"; i++ {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not reload after the file changed")
		}
		// Touch the file until Watch notices (it may not have taken its
		// first fingerprint yet).
		mtime := time.Now().Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(file, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
