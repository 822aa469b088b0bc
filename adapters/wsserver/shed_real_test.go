package wsserver_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/wsserver"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/internal/e2e"
)

// TestShedAfter: a client sends 40 messages at once that take the node
// 20ms each, so its frames queue in the socket for up to 800ms. With
// ShedAfter 100ms, once the queue has not emptied for that long the rest
// are answered rate_limited (with their ids) instead of waiting: every
// frame gets exactly one answer, some are acked and some refused, a member
// receives exactly the acked ones, in order and with consecutive seqs, and
// the refused ones, sent again, are acked. With shedding disabled all 40
// are acked. Real WebSocket clients over loopback, the memory store.
func TestShedAfter(t *testing.T) {
	const n = 40
	tests := []struct {
		name      string
		shedAfter time.Duration
		wantShed  bool
	}{
		{"shedding", 100 * time.Millisecond, true},
		{"disabled", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := start(t, cfg{ws: wsserver.Options{ShedAfter: tt.shedAfter}, router: core.Options{RatePerSecond: -1}})
			pub, sub := dial(t, g, "pub"), dial(t, g, "sub")
			pub.Join("r", -1)
			sub.Join("r", -1)
			for i := range n {
				pub.Send(fmt.Sprintf(`{"type":"chat.slow","room":"r","id":"m%d","data":{"n":%d}}`, i, i))
			}
			acked := map[string]uint64{}
			var refused []string
			for len(acked)+len(refused) < n {
				m := pub.Next(10 * time.Second)
				switch {
				case m.Type == "ack":
					if _, dup := acked[m.ID]; dup {
						t.Fatalf("%s acked twice", m.ID)
					}
					acked[m.ID] = m.Seq
				case m.Type == "error" && m.Code == "rate_limited":
					refused = append(refused, m.ID)
				case m.ID == "": // the room's events (pub is a member too)
				default:
					t.Fatalf("unexpected answer %s", m.Raw)
				}
			}
			if tt.wantShed && (len(refused) == 0 || len(acked) == 0) {
				t.Fatalf("%d acked, %d refused: want some of each", len(acked), len(refused))
			}
			if !tt.wantShed && len(refused) != 0 {
				t.Fatalf("%d refused with shedding disabled: %v", len(refused), refused)
			}
			t.Logf("%d acked, %d refused", len(acked), len(refused))
			// The member gets exactly the acked messages, in seq order.
			var last uint64
			for range acked {
				m := sub.Expect("a chat message", func(m e2e.Msg) bool { return m.Type == "chat.message" })
				if last != 0 && m.Seq != last+1 {
					t.Fatalf("seq %d after %d", m.Seq, last)
				}
				last = m.Seq
			}
			sub.Quiet("chat.message", 100*time.Millisecond)
			// A refused message sent again is applied once.
			for _, id := range refused {
				pub.Send(fmt.Sprintf(`{"type":"chat.slow","room":"r","id":%q,"data":{}}`, id))
				if m := pub.ExpectReply(id); m.Type != "ack" || m.Seq != last+1 {
					t.Fatalf("retry of %s answered %s, want an ack with seq %d", id, m.Raw, last+1)
				}
				last++
			}
		})
	}
}

// TestWakeLateness: a serving node measures how late it wakes readers —
// 0 before its first connection, then a figure well under a second on an
// idle test process — and reports nothing with shedding disabled.
func TestWakeLateness(t *testing.T) {
	tests := []struct {
		name      string
		shedAfter time.Duration
		measured  bool
	}{
		{"shedding", 0, true},
		{"disabled", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := start(t, cfg{ws: wsserver.Options{ShedAfter: tt.shedAfter}})
			if late := g.srv.WakeLateness(); late != 0 {
				t.Fatalf("before any connection: %v; want 0", late)
			}
			dial(t, g, "u")
			deadline := time.Now().Add(5 * time.Second)
			late := g.srv.WakeLateness()
			for tt.measured && late == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
				late = g.srv.WakeLateness()
			}
			switch {
			case !tt.measured && late != 0:
				t.Fatalf("shedding disabled: %v; want 0 (no probe)", late)
			case tt.measured && (late <= 0 || late >= time.Second):
				t.Fatalf("lateness %v; want a measured figure under a second", late)
			}
		})
	}
}
