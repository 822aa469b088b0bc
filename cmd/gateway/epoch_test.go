package main

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/internal/e2e"
)

// epochOf reads the epoch of a joined or resync frame.
func epochOf(m e2e.Msg) string {
	var f struct{ Epoch string }
	_ = json.Unmarshal([]byte(m.Raw), &f)
	return f.Epoch
}

// TestRedisRestartedEmptyOnTwoNodes: two gateway processes on one Redis,
// members of a room on both. Redis restarts without its data while they
// stay connected. Every member gets resync naming a new epoch — no silent
// drop of the new seqs 1, 2, … that are below what they had — re-joins
// for a fresh join state as the protocol asks, and receives every message
// acknowledged afterwards. A client resuming with since and the old epoch
// gets resync.
func TestRedisRestartedEmptyOnTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and two gateways")
	}
	rs := redistest.StartServer(t)
	prefix := redistest.Prefix(t)
	fast := []string{"CLASSGATE_STORE__REDIS__OP_TIMEOUT=500ms", "CLASSGATE_STORE__REDIS__DIAL_TIMEOUT=200ms"}
	_, a := redisNode(t, rs.Addr(), prefix, "node-a", fast...)
	_, b := redisNode(t, rs.Addr(), prefix, "node-b", fast...)
	dial := func(addr, user, role string) *e2e.Client {
		return e2e.Dial(t, "ws://"+addr+"/ws", e2e.Token(t, []byte(testSecret), user, role, []string{"*"}, time.Hour))
	}
	const room = "history-4"
	teacher := dial(a, "teacher", "teacher")
	members := []*e2e.Client{teacher, dial(b, "bea", "student"), dial(a, "carl", "student"), dial(b, "dora", "student")}
	var epoch string
	for _, m := range members {
		epoch = epochOf(m.Join(room, -1))
	}
	for j := range 15 {
		teacher.Say(room, fmt.Sprint("before-", j), fmt.Sprint("before ", j))
	}
	for _, m := range members[1:] { // the teacher's Say skipped its own copies
		for range 15 {
			m.ExpectType("chat.message")
		}
	}

	rs.Restart() // empty: no persistence

	var fresh string
	for i, m := range members {
		rsn := m.ExpectType("resync")
		if e := epochOf(rsn); e == "" || e == epoch {
			t.Fatalf("member %d: resync %s, want a new epoch (was %q)", i, rsn.Raw, epoch)
		}
		fresh = epochOf(rsn)
		// What the client library does on a resync outside a join.
		m.Send(map[string]any{"type": "join", "room": room, "id": "rejoin"})
		if j := m.ExpectReply("rejoin"); j.Type != "joined" || epochOf(j) != fresh {
			t.Fatalf("member %d: re-join answered %s, want joined in epoch %q", i, j.Raw, fresh)
		}
	}
	acked := map[string]uint64{}
	redistest.WaitFor(t, 20*time.Second, "the first ack after the restart", func() bool {
		teacher.Send(map[string]any{"type": "chat.send", "room": room, "id": "after-0", "data": map[string]string{"text": "after 0"}})
		m := teacher.ExpectReply("after-0")
		acked["after 0"] = m.Seq
		return m.Type == "ack"
	})
	for j := 1; j < 5; j++ {
		acked[fmt.Sprint("after ", j)] = teacher.Say(room, fmt.Sprint("after-", j), fmt.Sprint("after ", j)).Seq
	}
	if acked["after 0"] > 15 {
		t.Fatalf("first seq after the restart %d: Redis kept its data?", acked["after 0"])
	}
	for _, m := range members[1:] {
		got := map[string]bool{}
		for len(got) < len(acked) {
			ev := m.ExpectType("chat.message")
			var d struct{ Text string }
			_ = json.Unmarshal(ev.Data, &d)
			if seq, ok := acked[d.Text]; ok && seq == ev.Seq {
				got[d.Text] = true
			}
		}
	}

	late := dial(b, "late", "student")
	late.Send(map[string]any{"type": "join", "room": room, "id": "j", "since": 15, "epoch": epoch})
	if j := late.ExpectReply("j"); j.Type != "joined" || epochOf(j) != fresh {
		t.Fatalf("resume from the old epoch: %s", j.Raw)
	}
	if m := late.Next(10 * time.Second); m.Type != "resync" || epochOf(m) != fresh {
		t.Fatalf("resume from the old epoch: %s after joined, want resync", m.Raw)
	}
}
