package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/core"
)

func event(room, typ string, n int) core.Event {
	return core.Event{Room: room, Type: typ, TS: time.Now().UnixMilli(), From: &core.User{ID: "u"},
		Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// sink collects delivered events.
type sink struct {
	mu sync.Mutex
	ev []core.Event
}

func (s *sink) add(e core.Event) {
	s.mu.Lock()
	s.ev = append(s.ev, e)
	s.mu.Unlock()
}

func (s *sink) events() []core.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]core.Event(nil), s.ev...)
}

func (s *sink) has(pred func(core.Event) bool) bool {
	for _, e := range s.events() {
		if pred(e) {
			return true
		}
	}
	return false
}

// durableSeqs checks the delivered durable events have seqs 1..n in order.
func (s *sink) durableSeqs(t *testing.T) uint64 {
	t.Helper()
	var last uint64
	for _, e := range s.events() {
		if e.Seq == 0 {
			continue
		}
		if e.Seq != last+1 {
			t.Fatalf("delivered seq %d after %d", e.Seq, last)
		}
		last = e.Seq
	}
	return last
}

// TestRedisDown: with Redis gone every operation fails with ErrUnavailable
// (never a false ack) and Ping fails; when Redis is back on the same
// address, the same Store serves again.
func TestRedisDown(t *testing.T) {
	srv := redistest.StartServer(t)
	s := newStore(t, redis.Options{Addr: srv.Addr(), OpTimeout: 500 * time.Millisecond, DialTimeout: 200 * time.Millisecond})
	ctx := ctxFor(t, time.Minute)
	conn := core.ConnInfo{ID: "c1", User: core.User{ID: "u1"}}
	if err := s.AddConn(ctx, conn); err != nil {
		t.Fatal(err)
	}
	srv.Kill()

	ops := []struct {
		name string
		run  func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"Commit", func() error {
			_, err := s.Commit(ctx, core.Commit{Room: "r", Durable: []core.Event{event("r", "t.e", 1)}})
			return err
		}},
		{"History", func() error { _, _, _, err := s.History(ctx, "r", 0); return err }},
		{"Snapshot", func() error { _, err := s.Snapshot(ctx, "r", "ns"); return err }},
		{"AddConn", func() error { return s.AddConn(ctx, conn) }},
		{"Conn", func() error { _, _, err := s.Conn(ctx, "c1"); return err }},
		{"Join", func() error { _, err := s.Join(ctx, "r", conn); return err }},
		{"Leave", func() error { _, _, err := s.Leave(ctx, "r", "c1"); return err }},
		{"Members", func() error { _, err := s.Members(ctx, "r"); return err }},
		{"Touch", func() error { return s.Touch(ctx, "c1") }},
		{"Expired", func() error { _, err := s.Expired(ctx, 10); return err }},
		{"RemoveConn", func() error { _, err := s.RemoveConn(ctx, "c1"); return err }},
		{"Subscribe", func() error { return s.Subscribe(ctx, "r") }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			if err := op.run(); !errors.Is(err, core.ErrUnavailable) {
				t.Fatalf("%s with Redis down = %v, want ErrUnavailable", op.name, err)
			}
		})
	}

	srv.Restart()
	redistest.WaitFor(t, 15*time.Second, "the store to serve again", func() bool {
		_, err := s.Commit(ctx, core.Commit{Room: "r", Durable: []core.Event{event("r", "t.e", 1)}})
		return err == nil
	})
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
	// A subscription that failed while Redis was down can be made now.
	var got sink
	s.SetSink(got.add)
	if err := s.Subscribe(ctx, "r"); err != nil {
		t.Fatalf("Subscribe after restart: %v", err)
	}
	if _, err := s.Commit(ctx, core.Commit{Room: "r", Ephemeral: []core.Event{event("r", "t.e", 2)}}); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 10*time.Second, "an event after re-subscribing", func() bool { return len(got.events()) == 1 })
}

// TestSubscriptionSurvivesRestart: a room subscribed before Redis went down
// receives events again once Redis is back, without re-subscribing.
func TestSubscriptionSurvivesRestart(t *testing.T) {
	srv := redistest.StartServer(t)
	o := redis.Options{Addr: srv.Addr(), OpTimeout: 500 * time.Millisecond, DialTimeout: 200 * time.Millisecond}
	a := newStore(t, o)
	o.Prefix = a.Options().Prefix
	b := newStore(t, o) // the publishing node
	var got sink
	a.SetSink(got.add)
	ctx := ctxFor(t, time.Minute)
	if err := a.Subscribe(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	srv.Restart()
	n := 0
	redistest.WaitFor(t, 20*time.Second, "events to flow after the restart", func() bool {
		n++
		_, _ = b.Commit(ctx, core.Commit{Room: "r", Ephemeral: []core.Event{event("r", "t.ping", n)}})
		return len(got.events()) > 0
	})
	for i := 1; i <= 5; i++ {
		if _, err := b.Commit(ctx, core.Commit{Room: "r", Durable: []core.Event{event("r", "t.e", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	redistest.WaitFor(t, 10*time.Second, "5 durable events", func() bool {
		return got.has(func(e core.Event) bool { return e.Seq == 5 })
	})
	got.durableSeqs(t)
}

// TestBusRepairsGap: when the subscriber connection is cut, events
// published before go-redis re-subscribed are recovered from the history,
// so the sink still sees every seq once, in order.
func TestBusRepairsGap(t *testing.T) {
	srv := redistest.StartServer(t)
	a := newStore(t, redis.Options{Addr: srv.Addr()})
	b := newStore(t, a.Options())
	var got sink
	a.SetSink(got.add)
	ctx := ctxFor(t, time.Minute)
	if err := a.Subscribe(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	commit := func(n int) {
		if _, err := b.Commit(ctx, core.Commit{Room: "r", Durable: []core.Event{event("r", "t.e", n)}}); err != nil {
			t.Fatal(err)
		}
	}
	commit(1)
	redistest.WaitFor(t, 10*time.Second, "seq 1", func() bool { return len(got.events()) == 1 })
	srv.MustDo("CLIENT", "KILL", "TYPE", "pubsub")
	for i := 2; i <= 6; i++ {
		commit(i) // some of these may be published while unsubscribed
	}
	n := 0
	redistest.WaitFor(t, 20*time.Second, "re-subscription", func() bool {
		n++
		_, _ = b.Commit(ctx, core.Commit{Room: "r", Ephemeral: []core.Event{event("r", "t.ping", n)}})
		return got.has(func(e core.Event) bool { return e.Seq == 0 })
	})
	commit(7)
	redistest.WaitFor(t, 10*time.Second, "seq 7", func() bool {
		return got.has(func(e core.Event) bool { return e.Seq == 7 })
	})
	if last := got.durableSeqs(t); last != 7 {
		t.Fatalf("last delivered seq %d, want 7", last)
	}
}

// TestWaitReplicas: with wait_replicas a commit is acknowledged only when
// a replica has it; with no replica it fails with ErrUnavailable.
func TestWaitReplicas(t *testing.T) {
	primary := redistest.StartServer(t)
	replica := redistest.StartReplica(t, primary)
	lonely := redistest.StartServer(t)
	tests := []struct {
		name    string
		addr    string
		wantErr error
	}{
		{"with replica", primary.Addr(), nil},
		{"without replica", lonely.Addr(), core.ErrUnavailable},
	}
	prefix := redistest.Prefix(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, redis.Options{Addr: tt.addr, Prefix: prefix, WaitReplicas: 1, WaitTimeout: 200 * time.Millisecond})
			ctx := ctxFor(t, 10*time.Second)
			res, err := s.Commit(ctx, core.Commit{Room: "w", Durable: []core.Event{event("w", "t.e", 1)}})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Commit = %+v, %v; want %v", res, err, tt.wantErr)
			}
			if tt.wantErr == nil && res.FirstSeq != 1 {
				t.Fatalf("Commit = %+v, want seq 1", res)
			}
		})
	}
	// The acknowledged commit is on the replica already (no polling).
	if v, err := replica.Do("HGET", prefix+"r{w}:meta", "seq"); err != nil || v != "1" {
		t.Fatalf("replica's room seq = %v (%v), want 1", v, err)
	}
}

// TestSentinelFailover: the primary is killed while a node commits; after
// the Sentinels promote a replica, commits succeed again through the same
// Store, no acknowledged commit is lost (wait_replicas=1), and the
// subscription follows the new primary.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("failover takes seconds")
	}
	sn := redistest.StartSentinel(t, 2)
	o := redis.Options{Mode: redis.ModeSentinel, Addrs: sn.Addrs(), MasterName: redistest.MasterName,
		WaitReplicas: 1, WaitTimeout: 200 * time.Millisecond, OpTimeout: time.Second, DialTimeout: 300 * time.Millisecond}
	s := newStore(t, o)
	var got sink
	s.SetSink(got.add)
	ctx := ctxFor(t, 2*time.Minute)
	if err := s.Subscribe(ctx, "f"); err != nil {
		t.Fatal(err)
	}

	acked := map[uint64]int{} // seq → payload n
	n := 0
	commit := func() error {
		n++
		res, err := s.Commit(ctx, core.Commit{Room: "f", Durable: []core.Event{event("f", "t.e", n)}})
		if err == nil {
			acked[res.FirstSeq] = n
		}
		return err
	}
	for range 20 {
		if err := commit(); err != nil {
			t.Fatalf("commit before failover: %v", err)
		}
	}
	old := sn.PrimaryAddr()
	sn.Server(old).Kill()
	before := len(acked)
	var failures int
	redistest.WaitFor(t, time.Minute, "commits to succeed after failover", func() bool {
		err := commit()
		if err != nil {
			failures++
			if !errors.Is(err, core.ErrUnavailable) {
				t.Fatalf("commit during failover: %v, want ErrUnavailable", err)
			}
		}
		return len(acked) >= before+5
	})
	newPrimary := sn.WaitFailover(old)
	t.Logf("failover %s → %s; %d commits refused meanwhile", old, newPrimary.Addr(), failures)

	events, last, complete, err := s.History(ctx, "f", 0)
	if err != nil || !complete {
		t.Fatalf("History after failover: complete=%v err=%v", complete, err)
	}
	bySeq := map[uint64]core.Event{}
	for _, e := range events {
		bySeq[e.Seq] = e
	}
	for seq, want := range acked {
		e, ok := bySeq[seq]
		var d struct{ N int }
		if ok {
			_ = json.Unmarshal(e.Data, &d)
		}
		if !ok || d.N != want {
			t.Fatalf("acknowledged seq %d (n=%d) lost after failover: got %+v (last %d)", seq, want, e, last)
		}
	}
	// The bus follows the new primary.
	if err := commit(); err != nil {
		t.Fatalf("commit after failover: %v", err)
	}
	redistest.WaitFor(t, 20*time.Second, "events delivered after failover", func() bool {
		return got.has(func(e core.Event) bool { return e.Seq == last+1 })
	})
}
