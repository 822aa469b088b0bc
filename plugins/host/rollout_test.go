package host

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// TestRolloutAcrossRooms enables a namespace for a share of 100 matching
// rooms, ramps it by reload (every room that had it keeps it and keeps
// serving), and checks the share follows RolloutBucket, not the canary's
// Bucket, and never leaks outside the enable patterns.
func TestRolloutAcrossRooms(t *testing.T) {
	g := wasmPath("guest")
	cfg := func(rollout int) Config {
		return one("t", Plugin{Source: g, Enable: []string{"class-*"}, Rollout: rollout})
	}
	rooms := make([]string, 100)
	for i := range rooms {
		rooms[i] = fmt.Sprintf("class-%d", i)
	}
	h := newHost(t, cfg(10))
	have := func() []string {
		var out []string
		for _, r := range rooms {
			on := h.Handler(r, "t") != nil
			if on != slices.Contains(h.Features(r), "t") {
				t.Fatalf("room %s: Handler and Features disagree", r)
			}
			if on {
				out = append(out, r)
			}
		}
		if h.Handler("exam-1", "t") != nil {
			t.Fatal("rollout enabled a room outside the enable patterns")
		}
		return out
	}
	var prev []string
	for _, tc := range []struct {
		rollout  int
		min, max int // the share among 100 rooms (deterministic hash)
	}{
		{10, 3, 20},
		{30, 20, 40},
		{100, 100, 100},
		{0, 100, 100},
	} {
		if tc.rollout != 10 {
			if err := h.Reload(context.Background(), cfg(tc.rollout)); err != nil {
				t.Fatal(err)
			}
		}
		got := have()
		if len(got) < tc.min || len(got) > tc.max {
			t.Fatalf("rollout %d: %d of 100 rooms, want %d–%d", tc.rollout, len(got), tc.min, tc.max)
		}
		for _, r := range got {
			if tc.rollout > 0 && RolloutBucket("t", r) >= tc.rollout {
				t.Fatalf("rollout %d: room %s (bucket %d) has the feature", tc.rollout, r, RolloutBucket("t", r))
			}
			// Live: a call runs in every room that has it.
			if v := versionOf(t, h, r); v != "a" {
				t.Fatalf("room %s served %q", r, v)
			}
		}
		for _, r := range prev {
			if !slices.Contains(got, r) {
				t.Fatalf("ramping to %d moved room %s off the feature", tc.rollout, r)
			}
		}
		prev = got
	}
	// Not the canary's rooms, and another namespace's 10 % is another set.
	var canary, other, ten []string
	for _, r := range rooms {
		if Bucket(r) < 10 {
			canary = append(canary, r)
		}
		if RolloutBucket("u", r) < 10 {
			other = append(other, r)
		}
		if RolloutBucket("t", r) < 10 {
			ten = append(ten, r)
		}
	}
	if slices.Equal(ten, canary) || slices.Equal(ten, other) {
		t.Fatalf("rollout buckets follow the canary's or another namespace's: %v %v %v", ten, canary, other)
	}
}
