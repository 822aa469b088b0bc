package host

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// TestWarmup: a module exporting cg_warm (ABI.md §4a) is snapshotted after
// its warm-up, so every instance — the first, one made from the snapshot,
// one just reset for another room — has served the samples (the test
// guest counts them: warmRounds+1 = 3), while nothing the samples wrote or
// emitted reaches a call's result (the warmed call's only emit is its own,
// and it has no state op, though each sample set a key and broadcast). A warm-up that fails is logged as a warning and
// the plugin serves all the same, cold (count 0).
func TestWarmup(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        map[string]any
		wantWarmed string
		wantLog    string
	}{
		{"warm", nil, `{"warmed":3}`, ""},
		{"error", map[string]any{"warm": "fail"}, `{"warmed":0}`, "warm-up refused by config"},
		{"panic", map[string]any{"warm": "panic"}, `{"warmed":0}`, "warm-up panicked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			var mu sync.Mutex
			cfg := one("t", Plugin{Source: wasmPath("guest"), Config: tc.cfg, PoolSize: 1})
			cfg.CacheDir = cacheDir
			h, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(context.Background())
			// r1 binds the pool's one instance; r2, then r1 again, reset it.
			for _, room := range []string{"r1", "r2", "r1"} {
				res, err := call(t, h, msg(room, "t.warmed", `{}`))
				if err != nil {
					t.Fatalf("%s: %v", room, err)
				}
				if len(res.Emits) != 1 || string(res.Emits[0].Data) != tc.wantWarmed || len(res.Ops) != 0 {
					t.Fatalf("%s: emits %+v ops %+v, want one t.warmed %s and no state op", room, res.Emits, res.Ops, tc.wantWarmed)
				}
			}
			mu.Lock()
			out := logs.String()
			mu.Unlock()
			if tc.wantLog == "" {
				if strings.Contains(out, "warm-up failed") {
					t.Fatalf("warning logged for a working warm-up:\n%s", out)
				}
				return
			}
			if !strings.Contains(out, `level=WARN msg="plugin warm-up failed; its instances start cold"`) || !strings.Contains(out, tc.wantLog) {
				t.Fatalf("logs lack the warm-up warning with %q:\n%s", tc.wantLog, out)
			}
		})
	}
}
