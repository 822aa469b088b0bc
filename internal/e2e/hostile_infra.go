package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func init() {
	registerHostile("StalledReaderCostsOthersNothing", testStalledReader)
}

// testStalledReader: a member that stops reading its socket while its room
// is busy (a broken or hostile client) costs the others nothing: every
// other member, on this node and the peer, receives every acknowledged
// message, once and in seq order, and the room keeps serving. The stalled
// member itself, once it reads again, gets every message in order or is
// closed as a slow consumer (4008) — never a gap. Room fan-out on the
// standalone server goes through io_uring where the kernel allows it, so
// this also holds the batched path to it.
func testStalledReader(t *testing.T, tg Target) {
	r := room("stall")
	stalled := tg.dial(t, "stalled", "student")
	stalled.Join(r, -1)
	sender := tg.dial(t, "sender", "teacher")
	sender.Join(r, -1)
	var others []*Client
	for i := range 4 {
		dial := tg.dial
		if i%2 == 1 {
			dial = tg.dialPeer
		}
		c := dial(t, fmt.Sprintf("member-%d", i), "student")
		c.Join(r, -1)
		others = append(others, c)
	}
	stalled.Pause()
	// Messages large enough to fill socket buffers sooner, small enough to
	// stay under every deployment's frame limits and the chat plugin's
	// text limit (2000 characters).
	size := min(tg.MaxMessageBytes/2, 1900)
	const n = 30
	acked := make([]uint64, n)
	for i := range n {
		acked[i] = sender.Say(r, fmt.Sprintf("stall-%d", i), fmt.Sprintf("%03d %s", i, strings.Repeat("x", size))).Seq
	}
	for j, c := range others {
		got := map[uint64]bool{}
		var last uint64
		for len(got) < n {
			m := c.ExpectType("chat.message")
			if got[m.Seq] {
				t.Fatalf("member %d got seq %d twice", j, m.Seq)
			}
			// Seq order on the wire, on every deployment (Lambda too: its
			// ordered hand-off, docs/LAMBDA.md).
			if m.Seq <= last {
				t.Fatalf("member %d got seq %d after %d", j, m.Seq, last)
			}
			got[m.Seq], last = true, max(last, m.Seq)
		}
		for _, s := range acked {
			if !got[s] {
				t.Fatalf("member %d lost acknowledged seq %d", j, s)
			}
		}
	}
	stalled.Resume()
	var last uint64
	for count := 0; count < n; count++ {
		m, ok := stalled.TryNext(10 * time.Second)
		if !ok {
			// Only a slow-consumer close may cut the stream short (on
			// Lambda with API Gateway's close code: close-code).
			if code, want := stalled.ExpectClose(time.Second), tg.serverCloseCode(4008); code != want {
				t.Fatalf("stalled member closed with %v after %d messages, want %v or every message", code, count, want)
			}
			break
		}
		// Gapless over every durable event of the room (a presence event
		// between two chat messages is no gap).
		if m.Seq > 0 {
			if last != 0 && m.Seq != last+1 {
				t.Fatalf("stalled member: %s seq %d after %d (a gap)", m.Type, m.Seq, last)
			}
			last = m.Seq
		}
		if m.Type != "chat.message" {
			count--
		}
	}
	// The room still serves.
	ack := others[1].Say(r, "after-stall", "still here")
	others[0].Expect("the message after the stall", func(m Msg) bool { return m.Type == "chat.message" && m.Seq == ack.Seq })
}
