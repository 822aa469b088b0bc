package host

import (
	"context"
	"testing"
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
