package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// seqSender is a recSender that also records the core.Sequencer calls,
// interleaved with the frames sent ("send a1 joined", "join-begin r a1").
type seqSender struct {
	*recSender
	mu  sync.Mutex
	log []string
}

func (s *seqSender) note(format string, args ...any) {
	s.mu.Lock()
	s.log = append(s.log, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *seqSender) Send(ctx context.Context, id core.ConnID, b []byte) error {
	if err := s.recSender.Send(ctx, id, b); err != nil {
		return err
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	s.note("send %s %s", id, types([]map[string]any{m}))
	return nil
}

func (s *seqSender) JoinBegin(_ context.Context, room string, id core.ConnID) error {
	s.note("join-begin %s %s", room, id)
	return nil
}

func (s *seqSender) JoinEnd(_ context.Context, room string, id core.ConnID, seq uint64) {
	s.note("join-end %s %s %d", room, id, seq)
}

func (s *seqSender) PublishBegin(_ context.Context, room string, first, last uint64, epoch string) {
	s.note("publish-begin %s %d..%d epoch=%v", room, first, last, epoch != "")
}

func (s *seqSender) PublishEnd(_ context.Context, room string) { s.note("publish-end %s", room) }

// TestSequencerCalls: in direct mode the router brackets a join's own
// frames with JoinBegin/JoinEnd (the joined seq) and each commit's
// fan-out with PublishBegin/PublishEnd (its seqs); the standalone router
// never calls them.
func TestSequencerCalls(t *testing.T) {
	for _, tc := range []struct {
		direct bool
		want   []string
	}{
		{true, []string{
			"join-begin r a", "send a joined", "send a presence.state",
			"publish-begin r 1..1 epoch=true", "send a presence.join#1", "publish-end r",
			"join-end r a 0",
			"join-begin r b", "send b joined", "send b presence.state",
			"publish-begin r 2..2 epoch=true", "send a presence.join#2", "send b presence.join#2", "publish-end r",
			"join-end r b 1",
		}},
		{false, nil},
	} {
		t.Run(fmt.Sprintf("direct=%v", tc.direct), func(t *testing.T) {
			snd := &seqSender{recSender: newRec()}
			r, err := core.NewRouter(core.Options{Store: memory.New(memory.Options{LivenessTTL: time.Minute}), Sender: snd, Direct: tc.direct,
				RatePerSecond: -1, Plugins: core.StaticPlugins{"presence": presenceLike()}})
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"a", "b"} {
				if err := r.Connect(context.Background(), core.ConnInfo{ID: core.ConnID(id), User: core.User{ID: id, Role: "student"}, Rooms: []string{"*"}}); err != nil {
					t.Fatal(err)
				}
				if err := r.Receive(context.Background(), core.ConnID(id), []byte(`{"type":"join","room":"r","id":"j"}`)); err != nil {
					t.Fatal(err)
				}
			}
			snd.mu.Lock()
			defer snd.mu.Unlock()
			var calls []string
			for _, l := range snd.log {
				if !strings.HasPrefix(l, "send") || tc.direct {
					calls = append(calls, l)
				}
			}
			if strings.Join(calls, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
