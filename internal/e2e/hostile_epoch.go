package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/classgate/classgate/core"
)

func init() {
	registerHostile("epoch", hostileEpoch)
}

// epochOf reads the epoch of a joined or resync frame.
func epochOf(m Msg) string {
	var f struct{ Epoch string }
	_ = json.Unmarshal([]byte(m.Raw), &f)
	return f.Epoch
}

// hostileEpoch: the join's epoch field (docs/PROTOCOL.md, Epochs) is
// validated — a non-string, one longer than core.MaxEpochLen, or one on
// another frame type is bad_request, nothing of it is relayed — and a forged
// epoch cannot buy a replay: a join whose since comes with an epoch that is
// not the room's gets resync (with the room's epoch). The room's members
// keep being served throughout, on both nodes. Every deployment behaves
// the same.
func hostileEpoch(t *testing.T, tg Target) {
	r := room("epoch")
	bad := tg.dial(t, "mallory", "student")
	peer := tg.dialPeer(t, "ann", "teacher")
	j := peer.Join(r, -1)
	epoch := epochOf(j)
	if epoch == "" || len(epoch) > core.MaxEpochLen {
		t.Fatalf("joined carries epoch %q, want 1..%d characters: %s", epoch, core.MaxEpochLen, j.Raw)
	}
	peer.Say(r, "s1", "before")
	bad.Join(r, -1)

	tests := []struct {
		name  string
		frame map[string]any
	}{
		{"epoch not a string", map[string]any{"type": "join", "room": r, "id": "e1", "since": 1, "epoch": 5}},
		{"epoch too long", map[string]any{"type": "join", "room": r, "id": "e2", "since": 1, "epoch": strings.Repeat("e", core.MaxEpochLen+1)}},
		{"epoch on a message", map[string]any{"type": "chat.send", "room": r, "id": "e3", "epoch": epoch, "data": map[string]string{"text": "smuggled"}}},
		{"epoch on ping", map[string]any{"type": "ping", "id": "e4", "epoch": epoch}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad.Send(tt.frame)
			id := tt.frame["id"].(string)
			if m := bad.ExpectReply(id); m.Type != "error" || m.Code != "bad_request" {
				t.Fatalf("%s: got %s, want error bad_request", tt.name, m.Raw)
			}
		})
	}

	// A forged epoch with a plausible since: resync, not a replay.
	bad.Send(map[string]any{"type": "join", "room": r, "id": "e5", "since": 0, "epoch": "0123456789abcdef"})
	if m := bad.ExpectReply("e5"); m.Type != "joined" {
		t.Fatalf("join with a forged epoch: %s", m.Raw)
	}
	rs := bad.Expect("resync", func(m Msg) bool { return m.Type == "resync" || m.Type == "chat.message" })
	if rs.Type != "resync" || epochOf(rs) != epoch || !strings.Contains(rs.Raw, `"seq":`) {
		t.Fatalf("join with since from another epoch got %s, want resync with seq and epoch %q", rs.Raw, epoch)
	}

	// Still serving: the member on the other node hears the next message
	// (and never the smuggled one), and the hostile client may still talk.
	bad.Say(r, "s2", "after")
	for {
		m := peer.ExpectType("chat.message")
		if got := text(m); got == "smuggled" {
			t.Fatalf("a frame refused as bad_request was relayed: %s", m.Raw)
		} else if got == "after" {
			break
		}
	}
}
