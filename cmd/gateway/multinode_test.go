package main

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/internal/e2e"
	"github.com/classgate/classgate/internal/proc"
)

// redisNode starts a gateway process on Redis; nodes started with the
// same prefix form one cluster.
func redisNode(t *testing.T, redisAddr, prefix, id string, env ...string) (*proc.Process, string) {
	t.Helper()
	return startGateway(t, append([]string{
		"CLASSGATE_STORE__KIND=redis",
		"CLASSGATE_STORE__REDIS__ADDR=" + redisAddr,
		"CLASSGATE_STORE__REDIS__PREFIX=" + prefix,
		"CLASSGATE_NODE__ID=" + id,
		"CLASSGATE_LIMITS__RATE_PER_SECOND=2000",
		"CLASSGATE_LIMITS__RATE_BURST=2000",
		suiteShedAfter,
	}, env...)...)
}

// TestProtocolOnRedis runs the protocol and classroom suites against two
// gateway nodes on one real redis-server; the cases that use the target's
// peer put clients on both (e.g. OrderAcrossSenders: senders on both nodes
// into one room).
func TestProtocolOnRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and two gateways")
	}
	rs := redistest.StartServer(t)
	prefix := redistest.Prefix(t)
	_, addr := redisNode(t, rs.Addr(), prefix, "n1", "CLASSGATE_HISTORY__LIMIT=20")
	_, peer := redisNode(t, rs.Addr(), prefix, "n2", "CLASSGATE_HISTORY__LIMIT=20")
	tg := e2e.Target{URL: "ws://" + addr + "/ws", PeerURL: "ws://" + peer + "/ws", Secret: []byte(testSecret), HistoryLimit: 20, MaxMessageBytes: 64 << 10, HardLimit: 1 << 20}
	e2e.Run(t, tg)
	e2e.RunClassroom(t, tg)
}

// TestHostileOnRedis runs the hostile-client suite against two gateway
// nodes on one real redis-server; multi-client cases put their clients on
// both nodes.
func TestHostileOnRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and two gateways")
	}
	rs := redistest.StartServer(t)
	prefix := redistest.Prefix(t)
	adminAddr := proc.FreeAddr(t)
	_, a := redisNode(t, rs.Addr(), prefix, "n1", "CLASSGATE_HISTORY__LIMIT=20",
		"CLASSGATE_ADMIN__LISTEN="+adminAddr, "CLASSGATE_ADMIN__TOKEN="+adminToken, "CLASSGATE_ADMIN__PPROF=true")
	_, b := redisNode(t, rs.Addr(), prefix, "n2", "CLASSGATE_HISTORY__LIMIT=20")
	tg := e2e.Target{URL: "ws://" + a + "/ws", PeerURL: "ws://" + b + "/ws", Secret: []byte(testSecret), HistoryLimit: 20, MaxMessageBytes: 64 << 10, HardLimit: 1 << 20,
		AdminURL: "http://" + adminAddr, AdminToken: adminToken, MaxConnsPerUser: 20}
	e2e.RunHostile(t, tg)
}

// TestMultiNode runs three gateway processes on one Redis: one seq order
// across nodes, presence across nodes, and a node killed with SIGKILL whose
// clients reconnect elsewhere with since and lose no acknowledged message,
// and whose users leave after the liveness expiry.
func TestMultiNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and three gateways")
	}
	rs := redistest.StartServer(t)
	prefix := redistest.Prefix(t)
	ttl := "CLASSGATE_STORE__LIVENESS_TTL=3s"
	_, a := redisNode(t, rs.Addr(), prefix, "node-a", ttl)
	_, b := redisNode(t, rs.Addr(), prefix, "node-b", ttl)
	victim, c := redisNode(t, rs.Addr(), prefix, "node-c", ttl)
	url := func(addr string) string { return "ws://" + addr + "/ws" }
	dial := func(addr, user, role string) *e2e.Client {
		return e2e.Dial(t, url(addr), e2e.Token(t, []byte(testSecret), user, role, []string{"*"}, time.Hour))
	}
	const room = "physics-9"

	teacher := dial(a, "teacher", "teacher")
	onB := dial(b, "bea", "student")
	onC := dial(c, "carl", "student")
	ghost := dial(c, "ghost", "student") // only ever on node C
	for _, cl := range []*e2e.Client{teacher, onB, onC, ghost} {
		cl.Join(room, -1)
		// joined comes before the join hooks commit the user's presence;
		// the join state comes after, so the next newcomer sees the user.
		cl.ExpectType("presence.state")
	}

	// Presence across nodes: a newcomer on B sees users of A and C.
	late := dial(b, "late", "student")
	late.Join(room, -1)
	st := late.ExpectType("presence.state")
	for _, u := range []string{"teacher", "bea", "carl", "ghost", "late"} {
		if !containsUser(st.Data, u) {
			t.Fatalf("presence.state on node B lacks %s: %s", u, st.Raw)
		}
	}

	// One order across nodes: 4 senders on 3 nodes, 25 messages each.
	senders := []*e2e.Client{teacher, onB, onC, late}
	var wg sync.WaitGroup
	for i, s := range senders {
		wg.Add(1)
		go func(i int, s *e2e.Client) {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				s.Send(map[string]any{"type": "chat.send", "room": room, "id": fmt.Sprintf("m%d-%d", i, j), "data": map[string]string{"text": fmt.Sprintf("%d/%d", i, j)}})
			}
		}(i, s)
	}
	wg.Wait()
	var orders []string
	lastSeen := map[*e2e.Client]uint64{}
	for _, m := range []*e2e.Client{teacher, onB, onC, late} {
		order := ""
		var last uint64
		for n := 0; n < 100; n++ {
			ev := m.ExpectType("chat.message")
			if last != 0 && ev.Seq != last+1 {
				t.Fatalf("gap: seq %d after %d", ev.Seq, last)
			}
			last = ev.Seq
			order += fmt.Sprintf("%d:%s ", ev.Seq, ev.Data)
		}
		lastSeen[m] = last
		orders = append(orders, order)
	}
	for i := 1; i < len(orders); i++ {
		if orders[i] != orders[0] {
			t.Fatalf("member %d saw a different order than member 0", i)
		}
	}

	// Kill node C without warning. Messages keep flowing on A and B.
	if err := victim.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	onC.ExpectClose(10 * time.Second)
	var acked []uint64
	for j := 0; j < 10; j++ {
		acked = append(acked, teacher.Say(room, fmt.Sprint("after-", j), fmt.Sprint("during outage ", j)).Seq)
	}
	// carl reconnects to node A with since and gets every acked message.
	carl := dial(a, "carl", "student")
	carl.Join(room, int64(lastSeen[onC]))
	got := map[uint64]bool{}
	for len(got) < len(acked) {
		ev := carl.ExpectType("chat.message")
		got[ev.Seq] = true
	}
	for _, s := range acked {
		if !got[s] {
			t.Fatalf("acknowledged seq %d lost after failover", s)
		}
	}
	// ghost was only on node C: the others see it leave after the expiry.
	lv := teacher.Expect("ghost's presence.leave", func(m e2e.Msg) bool {
		return m.Type == "presence.leave" && containsUser(m.Data, "ghost")
	})
	if lv.Seq == 0 {
		t.Fatalf("presence.leave: %s", lv.Raw)
	}
}

func containsUser(data []byte, id string) bool {
	return strings.Contains(string(data), `"id":"`+id+`"`)
}
