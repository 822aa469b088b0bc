package redis_test

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"testing"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/core"
)

// hgetalls is the number of HGETALL Redis ran since its stats were reset.
func hgetalls(t *testing.T, srv *redistest.Server) int {
	t.Helper()
	info, err := srv.Do("INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_hgetall:calls=(\d+)`).FindStringSubmatch(fmt.Sprint(info))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func stateOf(t *testing.T, s *redis.Store, room string) (uint64, map[string]string) {
	t.Helper()
	snap, err := s.Snapshot(context.Background(), room, "chat")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range snap.State["chat"] {
		out[k] = string(v)
	}
	return snap.Version, out
}

// TestStateCache: a node that subscribes to a room reads the room's plugin
// state from Redis only when it changed elsewhere — after its own commits
// the snapshot transfers no state (no HGETALL) — and what it reads always
// equals the state a node without a cache reads, through sets, deletes and
// clears from this node and from another one.
func TestStateCache(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t)
	prefix := redistest.Prefix(t)
	open := func() *redis.Store {
		s, err := redis.New(ctx, redis.Options{Addr: srv.Addr(), Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b, fresh := open(), open(), open()
	if err := a.Subscribe(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	set := func(k, v string) core.StateOp { return core.StateOp{Op: core.OpSet, Key: k, Value: []byte(v)} }
	steps := []struct {
		name  string
		by    *redis.Store
		ops   []core.StateOp
		reads int // HGETALLs a's snapshot after the step may run
	}{
		{"first read", nil, nil, 1},
		{"own sets", a, []core.StateOp{set("m:0", `"x"`), set("n", "1")}, 0},
		{"own set again", a, []core.StateOp{set("m:1", `"y"`), set("n", "2")}, 0},
		{"other node's set", b, []core.StateOp{set("m:2", `"z"`)}, 1},
		{"own delete", a, []core.StateOp{{Op: core.OpDel, Key: "m:0"}}, 0},
		{"other node's event without ops", b, nil, 1},
		{"own clear and set", a, []core.StateOp{{Op: core.OpClear}, set("k", `1`)}, 0},
		{"other node's clear", b, []core.StateOp{{Op: core.OpClear}}, 1},
	}
	for i, st := range steps {
		if st.by != nil {
			if _, err := st.by.Commit(ctx, core.Commit{Room: "r", Namespace: "chat", Ops: st.ops,
				Durable: []core.Event{{Room: "r", Type: "chat.message", Data: []byte(`{}`)}}}); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		if _, err := srv.Do("CONFIG", "RESETSTAT"); err != nil {
			t.Fatal(err)
		}
		verA, gotA := stateOf(t, a, "r")
		reads := hgetalls(t, srv)
		verF, want := stateOf(t, fresh, "r")
		if verA != verF || !maps.Equal(gotA, want) {
			t.Fatalf("step %d (%s): cached node read version %d %v, uncached node %d %v", i, st.name, verA, gotA, verF, want)
		}
		if reads != st.reads {
			t.Fatalf("step %d (%s): the cached node's snapshot ran %d HGETALL, want %d", i, st.name, reads, st.reads)
		}
	}
	// A room the node does not subscribe to is read whole every time.
	if _, err := srv.Do("CONFIG", "RESETSTAT"); err != nil {
		t.Fatal(err)
	}
	stateOf(t, b, "r")
	stateOf(t, b, "r")
	if n := hgetalls(t, srv); n != 2 {
		t.Fatalf("two snapshots of an unsubscribed room ran %d HGETALL, want 2", n)
	}
	// After the subscription ends the cache is gone too.
	if err := a.Unsubscribe(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do("CONFIG", "RESETSTAT"); err != nil {
		t.Fatal(err)
	}
	stateOf(t, a, "r")
	if n := hgetalls(t, srv); n != 1 {
		t.Fatalf("a snapshot after unsubscribing ran %d HGETALL, want 1", n)
	}
}
