package core_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// TestEvictedRoomResyncs: a room evicted from the memory store by its cap
// on idle rooms, then resumed by a client with the seq and epoch it had,
// answers resync and the join states again — never a silent gap or a
// "nothing missed"; a room still held replays normally. Both deployments'
// code paths.
func TestEvictedRoomResyncs(t *testing.T) {
	modes(t, func(t *testing.T, direct bool) {
		ctx := context.Background()
		st := memory.New(memory.Options{MaxIdleRooms: 3})
		snd := newRaw()
		r, err := core.NewRouter(core.Options{Store: st, Sender: snd, Direct: direct, RatePerSecond: -1,
			Plugins: core.StaticPlugins{"presence": presenceLike()}})
		if err != nil {
			t.Fatal(err)
		}
		// visit joins room, leaves it and returns the joined frame's seq
		// and epoch as a resuming client would remember them (the seq of
		// the last event it saw: its own presence.join).
		visit := func(id, room string) (seq float64, epoch string) {
			t.Helper()
			if err := r.Connect(ctx, core.ConnInfo{ID: core.ConnID(id), User: core.User{ID: id, Role: "student"}, Rooms: []string{"*"}}); err != nil {
				t.Fatal(err)
			}
			must(t, r.Receive(ctx, core.ConnID(id), []byte(`{"type":"join","room":"`+room+`"}`)))
			for _, raw := range snd.take(core.ConnID(id)) {
				m := decode(t, raw)
				switch m["type"] {
				case "joined":
					epoch = m["epoch"].(string)
				case "presence.join":
					seq = m["seq"].(float64)
				}
			}
			must(t, r.Receive(ctx, core.ConnID(id), []byte(`{"type":"leave","room":"`+room+`"}`)))
			must(t, r.Disconnect(ctx, core.ConnID(id)))
			return seq, epoch
		}
		// settle waits until the store counts n rooms as idle or evicted:
		// the router unsubscribes from a room it left in the background,
		// and the idle list's order is the order rooms became idle.
		settle := func(n int) {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
				idle, _ := st.IdleRooms()
				if idle+int(st.Evicted()) >= n {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d rooms idle or evicted, want %d", idle+int(st.Evicted()), n)
				}
			}
		}
		seqE, epochE := visit("c0", "evicted")
		settle(1)
		seqK, epochK := visit("c1", "kept")
		settle(2)
		// cap more idle rooms: "evicted" is the least recently used and
		// goes, "kept" stays (read since).
		for i := 0; i < 3; i++ {
			visit(fmt.Sprint("o", i), fmt.Sprint("other-", i))
			settle(3 + i)
			if i == 0 {
				_, _ = st.Snapshot(ctx, "kept")
			}
		}
		if st.Evicted() != 2 {
			t.Fatalf("%d rooms evicted, want 2 past a cap of 3 with 5 idle rooms", st.Evicted())
		}
		tests := []struct {
			name, room string
			seq        float64
			epoch      string
			want       string // types answered, in order
			sameEpoch  bool
		}{
			// In this order: each resume leaves one more idle room behind.
			{"resume a room still held", "kept", seqK, epochK, "joined presence.leave presence.state presence.join", true},
			{"resume an evicted room", "evicted", seqE, epochE, "joined resync presence.state presence.join", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := r.Connect(ctx, core.ConnInfo{ID: "back", User: core.User{ID: "back", Role: "student"}, Rooms: []string{"*"}}); err != nil {
					t.Fatal(err)
				}
				defer func() { _ = r.Disconnect(ctx, "back") }()
				must(t, r.Receive(ctx, "back", []byte(fmt.Sprintf(`{"type":"join","room":%q,"since":%d,"epoch":%q}`, tt.room, int(tt.seq), tt.epoch))))
				var types []string
				for _, raw := range snd.take("back") {
					m := decode(t, raw)
					types = append(types, m["type"].(string))
					if m["type"] == "joined" && (m["epoch"] == tt.epoch) != tt.sameEpoch {
						t.Errorf("joined in epoch %v, had %s", m["epoch"], tt.epoch)
					}
				}
				if got := strings.Join(types, " "); got != tt.want {
					t.Fatalf("answered %q, want %q", got, tt.want)
				}
			})
		}
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
