package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/plugins/abi"
)

// TestBoardBoundThroughHost fills a whiteboard with large elements through
// the real wasm plugin until it refuses, then checks a newcomer's snapshot
// still fits the join reply; a board grown past the output cap by other
// means (state written before the bound existed) fails the join with a
// clean ErrLimit and keeps the instance.
func TestBoardBoundThroughHost(t *testing.T) {
	h := newHost(t, one("whiteboard", Plugin{Source: wasmPath("whiteboard"), PoolSize: 1}))
	r := &room{t: t, h: h, id: "big-board", state: map[string]map[string][]byte{}}
	ann := core.User{ID: "u1", Name: "Ann", Role: "teacher"}
	filler := strings.Repeat("x", 16000)
	refused := ""
	for i := 0; i < 100 && refused == ""; i++ {
		res := r.send(ann, "a1", "whiteboard.draw", fmt.Sprintf(`{"element":{"id":"e%d","type":"text","t":%q}}`, i, filler))
		refused = res.Reject
	}
	if !strings.HasPrefix(refused, "board too large") {
		t.Fatalf("100 draws of 16 KB: last refusal %q, want board too large", refused)
	}
	got := r.join(core.User{ID: "u2", Name: "Bob", Role: "student"}, "b1", true)
	if n := len(got["whiteboard.snapshot"]); n == 0 || n > abi.MaxJoinStateBytes {
		t.Fatalf("snapshot of %d bytes (max %d)", n, abi.MaxJoinStateBytes)
	}

	// A legacy board of 80 × 16 KB (1.3 MB): the join fails cleanly.
	legacy := map[string][]byte{"k": []byte("80 80")}
	for i := 1; i <= 80; i++ {
		ok := fmt.Sprintf("o:%016x", i)
		legacy[ok] = []byte(fmt.Sprintf(`{"id":"e%d","t":%q}`, i, filler))
		legacy[fmt.Sprintf("i:e%d", i)] = []byte(ok)
	}
	// A first call binds the instance to the room (ABI.md §2), so the
	// instance seen before the join is the one that serves it.
	if _, err := h.Handler("old", "whiteboard").Handle(context.Background(),
		&core.Call{Hook: core.HookMessage, Type: "whiteboard.erase", Room: "old", Sender: ann, Conn: "a1", State: legacy, Data: json.RawMessage(`{"id":"zz"}`)}); err != nil {
		t.Fatal(err)
	}
	before := idleInstance(t, h, "whiteboard")
	_, err := h.Handler("old", "whiteboard").Handle(context.Background(),
		&core.Call{Hook: core.HookJoin, Room: "old", Sender: ann, Conn: "a1", State: legacy})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), `emit "whiteboard.snapshot"`) {
		t.Fatalf("join of an oversized board: %v, want ErrLimit naming the snapshot", err)
	}
	if idleInstance(t, h, "whiteboard") != before {
		t.Fatal("a clean limit error discarded the instance")
	}
	// The legacy board still takes erases (and recomputes its size).
	res, err := h.Handler("old", "whiteboard").Handle(context.Background(),
		&core.Call{Hook: core.HookMessage, Type: "whiteboard.erase", Room: "old", Sender: ann, Conn: "a1", State: legacy, Data: json.RawMessage(`{"id":"e1"}`)})
	if err != nil || res.Reject != "" || len(res.Emits) != 1 {
		t.Fatalf("erase on a legacy board: %+v %v", res, err)
	}
}

// TestRoleDenialsAreForbidden runs the role rules of the real whiteboard
// through the host: each denial comes back as Reject with Forbidden set.
func TestRoleDenialsAreForbidden(t *testing.T) {
	h := newHost(t, one("whiteboard", Plugin{Source: wasmPath("whiteboard")}))
	r := &room{t: t, h: h, id: "roles", state: map[string]map[string][]byte{}}
	ann := core.User{ID: "u1", Name: "Ann", Role: "teacher"}
	bob := core.User{ID: "u2", Name: "Bob", Role: "student"}
	r.send(ann, "a1", "whiteboard.draw", `{"element":{"id":"t1"}}`)
	r.send(bob, "b1", "whiteboard.draw", `{"element":{"id":"b1"}}`)
	for _, tc := range []struct {
		name      string
		user      core.User
		typ, data string
		reject    string
		forbidden bool
	}{
		{"student erases teacher's", bob, "whiteboard.erase", `{"id":"t1"}`, "only teachers can erase or redraw other users' elements", true},
		{"student redraws teacher's", bob, "whiteboard.draw", `{"element":{"id":"t1","x":1}}`, "only teachers can erase or redraw other users' elements", true},
		{"student clears", bob, "whiteboard.clear", `{}`, "only teachers can clear the board", true},
		{"student erases unknown", bob, "whiteboard.erase", `{"id":"zz"}`, `unknown element "zz"`, false},
		{"student erases own", bob, "whiteboard.erase", `{"id":"b1"}`, "", false},
		{"teacher erases any", ann, "whiteboard.erase", `{"id":"t1"}`, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := r.send(tc.user, "c", tc.typ, tc.data)
			if res.Reject != tc.reject || res.Forbidden != tc.forbidden {
				t.Fatalf("got reject %q forbidden %v, want %q %v", res.Reject, res.Forbidden, tc.reject, tc.forbidden)
			}
		})
	}
}
