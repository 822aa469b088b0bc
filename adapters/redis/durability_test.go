package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/core"
)

// answer sends frame from m once and returns the answer carrying id.
func (m member) answer(t *testing.T, id, frame string) map[string]any {
	t.Helper()
	if err := m.n.r.Receive(context.Background(), m.id, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	fs := m.n.rec.of(m.id)
	for i := len(fs) - 1; i >= 0; i-- {
		if fs[i]["id"] == id && (fs[i]["type"] == "ack" || fs[i]["type"] == "error") {
			return fs[i]
		}
	}
	t.Fatalf("no answer to %s", frame)
	return nil
}

// TestAOFRestartKeepsSequence: Redis with appendonly yes and appendfsync
// everysec, killed (SIGKILL) and restarted, still has every acknowledged
// message: members on both nodes get no resync, the sequence continues,
// and a client resuming with since and its epoch gets the replay.
func TestAOFRestartKeepsSequence(t *testing.T) {
	srv := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "everysec")
	if v := srv.MustDo("CONFIG", "GET", "appendonly"); fmt.Sprint(v) != "[appendonly yes]" {
		t.Fatalf("appendonly = %v", v)
	}
	nodes, members := epochCluster(t, redis.Options{Addr: srv.Addr(), OpTimeout: 500 * time.Millisecond, DialTimeout: 200 * time.Millisecond})
	for n := 1; n <= 10; n++ {
		members[n%3].send(t, n)
	}
	waitAll(t, members, 1, 10)
	epoch := members[0].view(t).epoch

	srv.Kill()
	srv.Restart()
	for n := 11; n <= 15; n++ {
		if seq := members[n%3].send(t, n); seq != uint64(n) {
			t.Fatalf("message %d got seq %d after the restart, want %d", n, seq, n)
		}
	}
	waitAll(t, members, 11, 15)
	for _, m := range members {
		if v := m.view(t); len(v.resyncs) > 0 || v.epoch != epoch {
			t.Fatalf("%s: resyncs %v, epoch %q (was %q); AOF kept the data, so none was due", m.id, v.resyncs, v.epoch, epoch)
		}
	}
	ctx := ctxFor(t, 10*time.Second)
	r := nodes[1].r
	if err := r.Connect(ctx, core.ConnInfo{ID: "late", User: core.User{ID: "late"}, Rooms: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	join := fmt.Sprintf(`{"type":"join","room":"r","id":"j","since":5,"epoch":%q}`, epoch)
	if err := r.Receive(ctx, "late", []byte(join)); err != nil {
		t.Fatal(err)
	}
	late := member{nodes[1], "late"}
	if v := late.view(t); len(v.resyncs) > 0 || len(v.got) != 10 || !v.got[6] || !v.got[15] {
		t.Fatalf("resume with since=5: got %v, resyncs %v; want the replay of 6..15", v.got, v.resyncs)
	}
}

// TestWaitReplicasAck: with store.redis.wait_replicas=1 a send is
// acknowledged while the replica is up. With the replica stopped the send
// is applied on the primary but answered error internal instead of ack;
// the client's retries with the same id are refused the same way until
// the replica is back, then acknowledged with the original seq — once:
// members receive the message exactly once.
func TestWaitReplicasAck(t *testing.T) {
	primary := redistest.StartServer(t)
	replica := redistest.StartReplica(t, primary)
	_, members := epochCluster(t, redis.Options{Addr: primary.Addr(), WaitReplicas: 1, WaitTimeout: 200 * time.Millisecond})
	a := members[0]
	if f := a.answer(t, "m1", `{"type":"x.send","room":"r","id":"m1","data":{"n":1}}`); f["type"] != "ack" || f["seq"] != 1.0 {
		t.Fatalf("with the replica up: %v, want ack seq 1", f)
	}

	replica.Kill()
	for try := range 2 {
		if f := a.answer(t, "m2", `{"type":"x.send","room":"r","id":"m2","data":{"n":2}}`); f["type"] != "error" || f["code"] != "internal" {
			t.Fatalf("try %d with the replica down: %v, want error internal", try, f)
		}
	}
	replica.Restart() // resynchronises from the primary
	redistest.WaitFor(t, 20*time.Second, "replica link up", func() bool {
		return replica.Info("replication", "master_link_status") == "up"
	})
	if f := a.answer(t, "m2", `{"type":"x.send","room":"r","id":"m2","data":{"n":2}}`); f["type"] != "ack" || f["seq"] != 2.0 {
		t.Fatalf("retry with the replica back: %v, want ack seq 2 (the original)", f)
	}
	if f := a.answer(t, "m3", `{"type":"x.send","room":"r","id":"m3","data":{"n":3}}`); f["type"] != "ack" || f["seq"] != 3.0 {
		t.Fatalf("next send: %v, want ack seq 3", f)
	}
	waitAll(t, members, 1, 3) // view fails on a repeated or missing seq
}
