package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/classgate/classgate/core"
)

// TestVersionLabelsFollowRole: a loaded variant reused by a reload in
// another role (a canary promoted to stable, a former stable kept as the
// canary) is labelled with the role it serves now, in the observer and in
// Version, while the room keeps running the same code.
func TestVersionLabelsFollowRole(t *testing.T) {
	g := wasmPath("guest")
	a := map[string]any{"version": "a"}
	b := map[string]any{"version": "b"}
	for _, tc := range []struct {
		name        string
		before      Config
		after       Config
		code        string // the guest config version serving the room throughout
		label, then string // role before and after the reload
	}{
		{"canary promoted to stable",
			one("t", Plugin{Source: g, Config: a, Canary: Canary{Source: g, Percent: 100, Config: b}}),
			one("t", Plugin{Source: g, Config: b}),
			"b", RoleCanary, RoleStable},
		{"stable kept as the canary of a new stable",
			one("t", Plugin{Source: g, Config: a}),
			one("t", Plugin{Source: g, Config: b, Canary: Canary{Source: g, Percent: 0, Config: a}}),
			"a", RoleStable, RoleCanary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, tc.before)
			obs := &recObserver{}
			h.SetObserver(obs)
			check := func(when, role string) {
				t.Helper()
				if got := versionOf(t, h, "r1"); got != tc.code {
					t.Fatalf("%s: room served by %q, want %q", when, got, tc.code)
				}
				if got, want := obs.last(), "t/"+role+"/ok"; got != want {
					t.Fatalf("%s: call observed as %q, want %q", when, got, want)
				}
				if got := h.Version("r1", "t"); got != role {
					t.Fatalf("%s: Version = %q, want %q", when, got, role)
				}
			}
			check("before the reload", tc.label)
			if err := h.Reload(context.Background(), tc.after); err != nil {
				t.Fatal(err)
			}
			check("after the reload", tc.then)
		})
	}
}

// TestLiveNamesDigestsAndRoles: the load and reload logs, Live and Served
// name the module digest serving each role, before and after a promotion.
func TestLiveNamesDigestsAndRoles(t *testing.T) {
	orig, err := os.ReadFile(wasmPath("guest"))
	if err != nil {
		t.Fatal(err)
	}
	// The same code with a custom section appended: another digest.
	v2 := filepath.Join(t.TempDir(), "guest-v2.wasm")
	if err := os.WriteFile(v2, append(slices.Clone(orig), 0x00, 0x06, 0x04, 'n', 'o', 't', 'e', 'x'), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	d1, d2 := sum(wasmPath("guest")), sum(v2)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	cfg := one("t", Plugin{Source: wasmPath("guest"), Canary: Canary{Source: v2, Percent: 100}})
	cfg.CacheDir = cacheDir
	h, err := New(context.Background(), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	want := []Live{
		{Namespace: "t", Role: RoleStable, Source: wasmPath("guest"), SHA256: d1, Percent: 0},
		{Namespace: "t", Role: RoleCanary, Source: v2, SHA256: d2, Percent: 100},
	}
	if got := h.Live(); !slices.Equal(got, want) {
		t.Fatalf("Live = %+v, want %+v", got, want)
	}
	if role, d := h.Served("r1", "t"); role != RoleCanary || d != d2 {
		t.Fatalf("Served = %s %s, want canary %s", role, d, d2)
	}
	versionOf(t, h, "r1") // pins r1 to the canary's module
	versionOf(t, h, "r0") // and r0
	if err := h.Reload(context.Background(), one("t", Plugin{Source: v2})); err != nil {
		t.Fatal(err)
	}
	if role, d := h.Served("r1", "t"); role != RoleStable || d != d2 {
		t.Fatalf("after the promotion Served = %s %s, want stable %s", role, d, d2)
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	for _, line := range []string{
		`msg="plugins loaded" plugin=t role=stable sha256=` + d1,
		`msg="plugins loaded" plugin=t role=canary sha256=` + d2,
		// The reload names the live rooms each version serves.
		`msg="plugins reloaded" plugin=t role=stable sha256=` + d2 + ` source=` + v2 + ` percent=100 rollout=0 rooms=2 room_ids="[r0 r1]"`,
	} {
		if !strings.Contains(out, line) {
			t.Errorf("logs lack %q:\n%s", line, out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestLiveRoomsKeepTheirVersion: replacing the stable file and reloading
// leaves a live room on the module it started with (role "previous" in
// metrics, Version, Served and Live) while new rooms get the new one; the
// previous version is closed when its last room empties, and the room then
// starts on the new one.
func TestLiveRoomsKeepTheirVersion(t *testing.T) {
	orig, err := os.ReadFile(wasmPath("guest"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "t.wasm")
	if err := os.WriteFile(file, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHost(t, one("t", Plugin{Source: file}))
	obs := &recObserver{}
	h.SetObserver(obs)
	versionOf(t, h, "r1")
	_, d1 := h.Served("r1", "t")
	if err := os.WriteFile(file, append(slices.Clone(orig), 0x00, 0x06, 0x04, 'n', 'o', 't', 'e', 'x'), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(context.Background(), one("t", Plugin{Source: file})); err != nil {
		t.Fatal(err)
	}
	versionOf(t, h, "r1")
	if got := obs.last(); got != "t/"+RolePrevious+"/ok" {
		t.Fatalf("live room's call observed as %q", got)
	}
	if role, d := h.Served("r1", "t"); role != RolePrevious || d != d1 {
		t.Fatalf("live room served by %s %s, want previous %s", role, d, d1)
	}
	versionOf(t, h, "r2")
	role, d2 := h.Served("r2", "t")
	if role != RoleStable || d2 == d1 {
		t.Fatalf("new room served by %s %s", role, d2)
	}
	live := h.Live()
	if len(live) != 2 || live[1].Role != RolePrevious || live[1].SHA256 != d1 || live[1].Rooms != 1 {
		t.Fatalf("Live = %+v", live)
	}
	prev := func() *variant {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, v := range h.draining {
			return v
		}
		return nil
	}()
	leave := &core.Call{Hook: core.HookLeave, Room: "r1", Sender: teacher, Conn: "c1", LastOfUser: true, RoomEmpty: true}
	if _, err := h.Handler("r1", "t").Handle(context.Background(), leave); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	closed, left := prev.closing, len(h.draining)
	h.mu.Unlock()
	if !closed || left != 0 {
		t.Fatalf("previous version after its last room emptied: closing %v, %d draining", closed, left)
	}
	versionOf(t, h, "r1")
	if role, d := h.Served("r1", "t"); role != RoleStable || d != d2 {
		t.Fatalf("the room restarted on %s %s, want stable %s", role, d, d2)
	}
}
