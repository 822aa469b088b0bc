package redis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/core"
)

// frameRec records the frames a router sends, per connection.
type frameRec struct {
	mu     sync.Mutex
	frames map[core.ConnID][]map[string]any
}

func (s *frameRec) Send(_ context.Context, id core.ConnID, b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("invalid frame %q: %w", b, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frames == nil {
		s.frames = map[core.ConnID][]map[string]any{}
	}
	s.frames[id] = append(s.frames[id], m)
	return nil
}

func (s *frameRec) Close(context.Context, core.ConnID, int, string) error { return nil }

func (s *frameRec) of(id core.ConnID) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.frames[id]...)
}

// chatLike turns every x.send into a durable x.msg carrying its data.
var chatLike = core.HandlerFunc(func(_ context.Context, c *core.Call) (*core.Result, error) {
	if c.Hook != core.HookMessage {
		return nil, nil
	}
	return &core.Result{Emits: []core.Emit{{Type: "x.msg", Durable: true, Data: c.Data}}}, nil
})

// node is one gateway node: a router on its own Store.
type node struct {
	r   *core.Router
	rec *frameRec
}

// member is a connection on a node, joined to room "r".
type member struct {
	n  *node
	id core.ConnID
}

// epochCluster starts two nodes on o's Redis (same prefix) with members
// a1, a2 on the first and b1 on the second, all joined to room "r".
func epochCluster(t *testing.T, o redis.Options) ([]*node, []member) {
	t.Helper()
	if o.Prefix == "" {
		o.Prefix = redistest.Prefix(t)
	}
	ctx := ctxFor(t, 10*time.Second)
	var nodes []*node
	for i := range 2 {
		o.Node = fmt.Sprintf("node-%d", i)
		rec := &frameRec{}
		r, err := core.NewRouter(core.Options{Store: newStore(t, o), Sender: rec, Node: o.Node, RatePerSecond: -1,
			Plugins: core.StaticPlugins{"x": chatLike}})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, &node{r: r, rec: rec})
	}
	members := []member{{nodes[0], "a1"}, {nodes[0], "a2"}, {nodes[1], "b1"}}
	for _, m := range members {
		if err := m.n.r.Connect(ctx, core.ConnInfo{ID: m.id, User: core.User{ID: string(m.id)}, Rooms: []string{"*"}}); err != nil {
			t.Fatal(err)
		}
		if err := m.n.r.Receive(ctx, m.id, []byte(`{"type":"join","room":"r","id":"j"}`)); err != nil {
			t.Fatal(err)
		}
	}
	return nodes, members
}

// send sends x.send with data {"n":n} and id "m<n>" from m until it is
// acknowledged (commits fail while Redis is away; the client retries with
// the same id), and returns the ack's seq.
func (m member) send(t *testing.T, n int) uint64 {
	t.Helper()
	id := fmt.Sprintf("m%d", n)
	frame := fmt.Sprintf(`{"type":"x.send","room":"r","id":%q,"data":{"n":%d}}`, id, n)
	var seq uint64
	redistest.WaitFor(t, 30*time.Second, "an ack for "+id, func() bool {
		_ = m.n.r.Receive(context.Background(), m.id, []byte(frame))
		for _, f := range m.n.rec.of(m.id) {
			if f["id"] == id && f["type"] == "ack" {
				s, _ := f["seq"].(float64)
				seq = uint64(s)
				return true
			}
		}
		return false
	})
	return seq
}

// view is what one member saw: the payloads n of x.msg frames, and the
// resync frames, in order.
type view struct {
	got     map[int]bool
	resyncs []map[string]any
	epoch   string // from joined, then each resync
}

func (m member) view(t *testing.T) view {
	t.Helper()
	v := view{got: map[int]bool{}}
	var last uint64
	replay := false // after joined: a replay up to last may come first
	for _, f := range m.n.rec.of(m.id) {
		switch f["type"] {
		case "joined":
			v.epoch, _ = f["epoch"].(string)
			s, _ := f["seq"].(float64)
			last, replay = uint64(s), true
		case "resync":
			v.resyncs, replay = append(v.resyncs, f), false
			v.epoch, _ = f["epoch"].(string)
			s, ok := f["seq"].(float64)
			if !ok {
				t.Fatalf("%s: resync without seq: %v", m.id, f)
			}
			last = uint64(s)
		case "x.msg":
			s, _ := f["seq"].(float64)
			if replay && uint64(s) <= last {
				// The replay of a join with since: in order, up to
				// the joined seq.
				if d, _ := f["data"].(map[string]any); d != nil {
					n, _ := d["n"].(float64)
					v.got[int(n)] = true
				}
				continue
			}
			replay = false
			if uint64(s) != last+1 {
				// Within one epoch a member sees a gapless sequence;
				// anything else must have been preceded by a resync.
				t.Fatalf("%s: x.msg seq %v after %d without a resync", m.id, f["seq"], last)
			}
			last = uint64(s)
			d, _ := f["data"].(map[string]any)
			n, _ := d["n"].(float64)
			v.got[int(n)] = true
		}
	}
	return v
}

// waitAll waits until every member saw messages from..to.
func waitAll(t *testing.T, members []member, from, to int) {
	t.Helper()
	for _, m := range members {
		redistest.WaitFor(t, 30*time.Second, fmt.Sprintf("%s to receive %d..%d", m.id, from, to), func() bool {
			v := m.view(t)
			for n := from; n <= to; n++ {
				if !v.got[n] {
					return false
				}
			}
			return true
		})
	}
}

// covered reports whether a member's resync covers the message acked with
// seq in epoch: the join state it re-joins for is as of a later seq.
func (v view) covered(seq uint64, epoch string) bool {
	for _, r := range v.resyncs {
		if s, _ := r["seq"].(float64); r["epoch"] == epoch && uint64(s) >= seq {
			return true
		}
	}
	return false
}

// TestRedisRestartedEmptyResyncs: Redis restarts without its data while
// members stay connected on two nodes. Every member gets a resync naming a
// new epoch (in a quiet room: when the nodes re-subscribe; in a busy one at
// the latest when they do, or with the first event of the new sequence).
// Every message acknowledged after the restart reached every member, or a
// resync covers it (pub/sub loses what is published while a node
// re-subscribes; the resync is how the member learns it must re-join).
// Once the nodes are subscribed again, messages reach everyone, although
// their seqs are at or below what the members had before.
func TestRedisRestartedEmptyResyncs(t *testing.T) {
	for _, quiet := range []bool{true, false} {
		t.Run(fmt.Sprintf("quiet=%v", quiet), func(t *testing.T) {
			srv := redistest.StartServer(t)
			prefix := redistest.Prefix(t)
			_, members := epochCluster(t, redis.Options{Addr: srv.Addr(), Prefix: prefix, OpTimeout: 500 * time.Millisecond, DialTimeout: 200 * time.Millisecond})
			for n := 1; n <= 15; n++ {
				members[n%3].send(t, n)
			}
			waitAll(t, members, 1, 15)
			before := members[0].view(t).epoch

			srv.Restart() // empty: no persistence
			if quiet {
				for _, m := range members {
					redistest.WaitFor(t, 30*time.Second, string(m.id)+" to get resync", func() bool { return len(m.view(t).resyncs) > 0 })
				}
			}
			acked := map[int]uint64{}
			for n := 16; n <= 30; n++ {
				if acked[n] = members[n%3].send(t, n); n == 16 && acked[n] != 1 {
					t.Fatalf("first seq after the restart is %d, want 1: Redis kept its data?", acked[n])
				}
			}
			epoch, _ := srv.MustDo("HGET", prefix+"r{r}:meta", "epoch").(string)
			if epoch == "" || epoch == before {
				t.Fatalf("room epoch after the restart %q (before %q)", epoch, before)
			}
			for _, m := range members {
				redistest.WaitFor(t, 30*time.Second, string(m.id)+" to get resync to the new epoch", func() bool {
					for n := 16; n <= 30; n++ {
						if v := m.view(t); !v.got[n] && !v.covered(acked[n], epoch) {
							return false
						}
					}
					return true
				})
			}
			for n := 31; n <= 35; n++ {
				members[n%3].send(t, n)
			}
			waitAll(t, members, 31, 35)
		})
	}
}

// TestSeqWentBackResyncs: Redis comes back with older data of the same
// epoch, as after a failover to a replica that had not caught up (here:
// the primary restarts from an RDB file saved at seq 5 while members had
// seq 10). The nodes see the room's seq below what they delivered, start
// a new epoch, and resync every member; later messages, whose seqs 6..10
// members already had in the old epoch, reach everyone. A client resuming
// with since=10 of the old epoch gets resync.
func TestSeqWentBackResyncs(t *testing.T) {
	srv := redistest.StartServer(t)
	prefix := redistest.Prefix(t)
	nodes, members := epochCluster(t, redis.Options{Addr: srv.Addr(), Prefix: prefix, OpTimeout: 500 * time.Millisecond, DialTimeout: 200 * time.Millisecond})
	for n := 1; n <= 5; n++ {
		members[n%3].send(t, n)
	}
	srv.MustDo("SAVE")
	saved, err := os.ReadFile(filepath.Join(srv.Dir(), "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	for n := 6; n <= 10; n++ {
		members[n%3].send(t, n)
	}
	waitAll(t, members, 1, 10)
	old := members[0].view(t).epoch

	srv.Kill()
	if err := os.WriteFile(filepath.Join(srv.Dir(), "dump.rdb"), saved, 0o600); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	if v := srv.MustDo("HGET", prefix+"r{r}:meta", "seq"); v != "5" {
		t.Fatalf("restarted Redis has seq %v, want 5", v)
	}
	for _, m := range members {
		redistest.WaitFor(t, 30*time.Second, string(m.id)+" to get resync", func() bool { return len(m.view(t).resyncs) > 0 })
	}
	for n := 11; n <= 20; n++ {
		members[n%3].send(t, n)
	}
	waitAll(t, members, 11, 20)
	for _, m := range members {
		if v := m.view(t); v.epoch == old {
			t.Fatalf("%s still in epoch %q after the seq went back", m.id, old)
		}
	}
	// A client that reconnects with what it had before.
	ctx := ctxFor(t, 10*time.Second)
	r := nodes[1].r
	if err := r.Connect(ctx, core.ConnInfo{ID: "late", User: core.User{ID: "late"}, Rooms: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	join := fmt.Sprintf(`{"type":"join","room":"r","id":"j","since":10,"epoch":%q}`, old)
	if err := r.Receive(ctx, "late", []byte(join)); err != nil {
		t.Fatal(err)
	}
	got := nodes[1].rec.of("late")
	if len(got) < 2 || got[0]["type"] != "joined" || got[1]["type"] != "resync" || got[1]["epoch"] == old {
		t.Fatalf("resume from the old epoch got %v, want joined then resync to the new epoch", got)
	}
}

// TestSeqWentBackWhileSubscribed: the room's seq goes back under nodes
// whose subscriptions never dropped (here: its meta rewritten to seq 5
// while members had 10, as a replica that had not caught up might serve
// before the nodes re-subscribed). The first commit that gets a seq a node
// already delivered starts a new epoch and tells every node: every member
// of both nodes gets resync, and no acknowledged message is silently lost.
func TestSeqWentBackWhileSubscribed(t *testing.T) {
	srv := redistest.StartServer(t)
	prefix := redistest.Prefix(t)
	_, members := epochCluster(t, redis.Options{Addr: srv.Addr(), Prefix: prefix})
	for n := 1; n <= 10; n++ {
		members[n%3].send(t, n)
	}
	waitAll(t, members, 1, 10)
	old := members[0].view(t).epoch
	srv.MustDo("HSET", prefix+"r{r}:meta", "seq", "5")

	acked := map[int]uint64{}
	for n := 11; n <= 15; n++ {
		acked[n] = members[n%3].send(t, n)
	}
	epoch, _ := srv.MustDo("HGET", prefix+"r{r}:meta", "epoch").(string)
	if epoch == old {
		t.Fatalf("epoch still %q after the seq went back", old)
	}
	for _, m := range members {
		redistest.WaitFor(t, 30*time.Second, string(m.id)+" to receive or be resynced past 11..15", func() bool {
			v := m.view(t)
			for n := 11; n <= 15; n++ {
				if !v.got[n] && !v.covered(acked[n], epoch) {
					return false
				}
			}
			return len(v.resyncs) > 0
		})
	}
	for n := 16; n <= 20; n++ {
		members[n%3].send(t, n)
	}
	waitAll(t, members, 16, 20)
}
