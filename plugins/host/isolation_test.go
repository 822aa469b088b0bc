package host

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/classgate/classgate/core"
)

// TestIsolationAcrossRooms runs the snoop plugin, which tries to read a
// token left by an earlier call (in a global, in the heap, in garbage, in
// the stale tail of its input buffer) from a later call. Within a room it
// finds what the room's own calls kept (so the probe works); from another
// room it finds nothing, and a stale input buffer is cleared even within a
// room. One instance (pool_size 1), so without the contract every call
// would share it.
//
// Resets run from the module's snapshot (the fast path: the pages written
// copied back from the snapshot file), or by a new instance when the
// instance's memory grew ("putbig") or snapshots are off.
func TestIsolationAcrossRooms(t *testing.T) {
	type tcase struct {
		name        string
		put         string // "put" (global, heap, buffer), "putbig" (and grown memory) or "leave" (buffer only)
		findRoom    string
		wantGlobal  bool
		wantHitsMin int
		snapshots   bool
	}
	var cases []tcase
	for _, snap := range []bool{true, false} {
		for _, tc := range []tcase{
			{"same room sees its own globals and heap", "put", "room-a", true, 1, snap},
			{"another room sees no global and no memory", "put", "room-b", false, 0, snap},
			{"another room after memory grew", "putbig", "room-b", false, 0, snap},
			{"same room: stale input buffer is cleared", "leave", "room-a", false, 0, snap},
			{"another room: stale input buffer is cleared", "leave", "room-b", false, 0, snap},
		} {
			tc.name = fmt.Sprintf("%s/snapshots=%v", tc.name, snap)
			cases = append(cases, tc)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, one("snoop", Plugin{Source: wasmPath("snoop"), PoolSize: 1}))
			v := h.gen.entries["snoop"].stable
			if v.globalNames == nil {
				t.Fatal("snapshots unavailable for a Go module (exportGlobals)")
			}
			if !tc.snapshots {
				v.pool.reset = nil
			}
			// A call for a third room first, so the put runs on an
			// instance that has been reset once: the find's reset is then
			// the common one (pages written copied back from the snapshot
			// file), not the first mapping of it.
			warm := &core.Call{Hook: core.HookMessage, Type: "snoop.x", Room: "room-0", Conn: "c0",
				Sender: core.User{ID: "u0", Role: "student"}, Data: json.RawMessage(`{"leave":"x"}`)}
			if _, err := h.Handler("room-0", "snoop").Handle(context.Background(), warm); err != nil {
				t.Fatalf("warm-up: %v", err)
			}
			token := "tok-" + randHex(t)
			// A long sender name puts the token far into the record, past
			// the end of the shorter record of the find call.
			put := &core.Call{Hook: core.HookMessage, Type: "snoop.x", Room: "room-a", Conn: "c1",
				Sender: core.User{ID: "u1", Name: strings.Repeat("n", 600), Role: "student"},
				Data:   json.RawMessage(`{"` + tc.put + `":"` + token + `"}`)}
			if _, err := h.Handler("room-a", "snoop").Handle(context.Background(), put); err != nil {
				t.Fatalf("put: %v", err)
			}
			find := &core.Call{Hook: core.HookMessage, Type: "snoop.x", Room: tc.findRoom, Conn: "c2",
				Sender: core.User{ID: "u2", Name: "Bob", Role: "student"},
				Data:   json.RawMessage(`{"find":"` + reverse(token) + `"}`)}
			res, err := h.Handler(tc.findRoom, "snoop").Handle(context.Background(), find)
			if err != nil || len(res.Replies) != 1 {
				t.Fatalf("find: %+v %v", res, err)
			}
			var seen struct {
				Global string `json:"global"`
				Hits   int    `json:"hits"`
			}
			if err := json.Unmarshal(res.Replies[0].Data, &seen); err != nil {
				t.Fatalf("reply %s: %v", res.Replies[0].Data, err)
			}
			if (seen.Global == token) != tc.wantGlobal || (!tc.wantGlobal && seen.Global != "") {
				t.Errorf("global = %q, want token %v", seen.Global, tc.wantGlobal)
			}
			if tc.wantHitsMin == 0 && seen.Hits != 0 || seen.Hits < tc.wantHitsMin {
				t.Errorf("token found %d times in linear memory, want %s", seen.Hits,
					map[bool]string{true: "none", false: "some"}[tc.wantHitsMin == 0])
			}
		})
	}
}

func randHex(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func reverse(s string) string {
	b := []byte(s)
	slices.Reverse(b)
	return string(b)
}

// TestPoolBoundAcrossRooms: calls across many rooms never make the pool
// exceed pool_size instances, background growth included, and every room
// is served.
func TestPoolBoundAcrossRooms(t *testing.T) {
	for _, snapshots := range []bool{true, false} {
		t.Run(fmt.Sprintf("snapshots=%v", snapshots), func(t *testing.T) {
			h := guestHost(t, func(p *Plugin) { p.PoolSize = 2 })
			p := h.gen.entries["t"].stable.pool
			if !snapshots {
				p.reset = nil
			}
			for i := 0; i < 40; i++ {
				room := fmt.Sprintf("room-%d", i%10)
				if _, err := call(t, h, msg(room, "t.echo", `{}`)); err != nil {
					t.Fatalf("call %d in %s: %v", i, room, err)
				}
				p.mu.Lock()
				live := p.live
				p.mu.Unlock()
				if live > 2 {
					t.Fatalf("after call %d: %d instances, pool_size 2", i, live)
				}
			}
			p.bg.Wait()
			if n := len(p.idleInstances()); n > 2 {
				t.Fatalf("%d idle instances, pool_size 2", n)
			}
		})
	}
}
