package core_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// epochFixture: members a and b joined room r through a router whose bus
// the test plays (two presence.join events: seq 2 in the store's epoch).
func epochFixture(t *testing.T) (*core.Router, *sinkSpy, *recSender, string) {
	t.Helper()
	st := &sinkSpy{Store: memory.New(memory.Options{})}
	snd := newRec()
	r, err := core.NewRouter(core.Options{Store: st, Sender: snd, RatePerSecond: -1, Plugins: core.StaticPlugins{"presence": presenceLike()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var epoch string
	for _, id := range []string{"a", "b"} {
		if err := r.Connect(ctx, core.ConnInfo{ID: core.ConnID(id), User: core.User{ID: id}, Rooms: []string{"*"}}); err != nil {
			t.Fatal(err)
		}
		if err := r.Receive(ctx, core.ConnID(id), []byte(`{"type":"join","room":"r"}`)); err != nil {
			t.Fatal(err)
		}
		joined := snd.take(core.ConnID(id))[0]
		epoch, _ = joined["epoch"].(string)
	}
	snd.take("a")
	if epoch == "" {
		t.Fatal("joined carries no epoch")
	}
	return r, st, snd, epoch
}

// TestEpochChangeResyncsMembers: when the bus shows the room's sequence in
// another epoch — an event of a restarted sequence, or an epoch mark — every
// member gets resync (with the new epoch and the seq it starts from) before
// anything else, and the new sequence is then delivered normally; seqs at
// or below the old high-water mark are not mistaken for copies.
func TestEpochChangeResyncsMembers(t *testing.T) {
	tests := []struct {
		name   string
		events []core.Event
		want   string
	}{
		{"restarted sequence",
			[]core.Event{{Room: "r", Seq: 1, Epoch: "new", Type: "presence.x"}, {Room: "r", Seq: 2, Epoch: "new", Type: "presence.x"}, {Room: "r", Seq: 1, Epoch: "new", Type: "presence.x"}},
			"resync#0@new presence.x#1 presence.x#2"},
		{"epoch mark",
			[]core.Event{{Room: "r", Seq: 1, Epoch: "new"}, {Room: "r", Seq: 1, Epoch: "new", Type: "presence.x"}, {Room: "r", Seq: 2, Epoch: "new", Type: "presence.x"}},
			"resync#1@new presence.x#2"},
		{"same epoch, late copies only",
			[]core.Event{{Room: "r", Seq: 1, Epoch: "old", Type: "presence.x"}, {Room: "r", Seq: 3, Epoch: "old", Type: "presence.x"}},
			"presence.x#3"},
		{"mark of the same epoch",
			[]core.Event{{Room: "r", Seq: 2, Epoch: "old"}},
			""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, st, snd, epoch := epochFixture(t)
			for _, e := range tt.events {
				if e.Epoch == "old" {
					e.Epoch = epoch
				}
				st.sink(e)
			}
			for _, id := range []core.ConnID{"a", "b"} {
				if got := withEpoch(snd.take(id)); got != tt.want {
					t.Fatalf("%s got %q, want %q", id, got, tt.want)
				}
			}
		})
	}
}

// withEpoch is types with resync's seq always shown and its epoch.
func withEpoch(fs []map[string]any) string {
	out := ""
	for _, f := range fs {
		if out != "" {
			out += " "
		}
		if f["type"] == "resync" {
			seq, ok := f["seq"]
			if !ok {
				seq = "missing"
			}
			out += "resync#" + fmtAny(seq) + "@" + fmtAny(f["epoch"])
			continue
		}
		out += types([]map[string]any{f})
	}
	return out
}

// TestJoinSinceOtherEpoch: a client resuming with since from another epoch
// gets resync (even when since looks replayable); with the room's epoch or
// none it gets the replay.
func TestJoinSinceOtherEpoch(t *testing.T) {
	r, _, snd, epoch := epochFixture(t)
	ctx := context.Background()
	tests := []struct {
		name, epoch string
		want        string
	}{
		{"other epoch", "0123456789abcdef", "joined resync#2@" + epoch + " presence.state"},
		{"same epoch", epoch, "joined presence.join#2 presence.state"},
		{"no epoch", "", "joined presence.join#2 presence.state"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := core.ConnID("c" + string(rune('0'+i)))
			if err := r.Connect(ctx, core.ConnInfo{ID: id, User: core.User{ID: "a"}, Rooms: []string{"*"}}); err != nil {
				t.Fatal(err)
			}
			frame := `{"type":"join","room":"r","since":1`
			if tt.epoch != "" {
				frame += `,"epoch":"` + tt.epoch + `"`
			}
			if err := r.Receive(ctx, id, []byte(frame+"}")); err != nil {
				t.Fatal(err)
			}
			if got := withEpoch(snd.take(id)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func fmtAny(v any) string { return fmt.Sprint(v) }

// TestParseFrameEpoch: epoch is a string of at most MaxEpochLen characters,
// on join only; anything else is bad_request.
func TestParseFrameEpoch(t *testing.T) {
	long := strings.Repeat("e", core.MaxEpochLen+1)
	tests := []struct {
		name, frame string
		wantErr     bool
	}{
		{"on join", `{"type":"join","room":"r","since":3,"epoch":"abc"}`, false},
		{"longest", `{"type":"join","room":"r","epoch":"` + long[1:] + `"}`, false},
		{"too long", `{"type":"join","room":"r","epoch":"` + long + `"}`, true},
		{"not a string", `{"type":"join","room":"r","epoch":5}`, true},
		{"on another frame", `{"type":"chat.send","room":"r","epoch":"abc"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, e := core.ParseFrame([]byte(tt.frame))
			if (e != nil) != tt.wantErr || (e != nil && e.Code != core.CodeBadRequest) {
				t.Fatalf("ParseFrame = %+v, %v; want error %v", f, e, tt.wantErr)
			}
		})
	}
}
