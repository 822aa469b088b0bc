package redis_test

import (
	"slices"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/core"
)

// TestCrashedNodeUsersLeave: node A registers a connection in two rooms and
// dies without a disconnect; node B sees it expire after the liveness TTL
// and removing it yields the departures that make presence announce the
// leave. Only one sweeper gets them.
func TestCrashedNodeUsersLeave(t *testing.T) {
	srv := redistest.StartServer(t)
	o := redis.Options{Addr: srv.Addr(), LivenessTTL: time.Second, Node: "node-a"}
	a := newStore(t, o)
	o.Prefix, o.Node = a.Options().Prefix, "node-b"
	b := newStore(t, o)
	ctx := ctxFor(t, time.Minute)

	gone := core.ConnInfo{ID: "a-1", User: core.User{ID: "ann", Name: "Ann"}}
	kept := core.ConnInfo{ID: "b-1", User: core.User{ID: "bob"}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.AddConn(ctx, gone))
	must(b.AddConn(ctx, kept))
	for _, room := range []string{"r1", "r2"} {
		_, err := a.Join(ctx, room, gone)
		must(err)
	}
	_, err := b.Join(ctx, "r1", kept)
	must(err)
	info, _, err := b.Conn(ctx, "a-1")
	must(err)
	if info.Node != "node-a" || info.User.Name != "Ann" {
		t.Fatalf("Conn seen from node B = %+v", info)
	}
	must(a.Close()) // node A crashes: no RemoveConn, no more Touch

	redistest.WaitFor(t, 10*time.Second, "a-1 to expire", func() bool {
		must(b.Touch(ctx, "b-1"))
		ids, err := b.Expired(ctx, 10)
		must(err)
		if slices.Contains(ids, "b-1") {
			t.Fatal("a touched connection expired")
		}
		return slices.Contains(ids, "a-1")
	})
	deps, err := b.RemoveConn(ctx, "a-1")
	must(err)
	want := []core.Departure{
		{Room: "r1", User: gone.User, LastOfUser: true, RoomEmpty: false},
		{Room: "r2", User: gone.User, LastOfUser: true, RoomEmpty: true},
	}
	if !slices.Equal(deps, want) {
		t.Fatalf("departures = %+v, want %+v", deps, want)
	}
	if ids, err := b.Expired(ctx, 10); err != nil || slices.Contains(ids, "a-1") {
		t.Fatalf("Expired after removal = %v, %v", ids, err)
	}
	ms, err := b.Members(ctx, "r1")
	must(err)
	if len(ms) != 1 || ms[0].Conn != "b-1" {
		t.Fatalf("Members(r1) = %+v", ms)
	}
}

// TestOddIDs: room and connection ids with braces, '%' and spaces keep
// working (they are escaped inside the hash tags).
func TestOddIDs(t *testing.T) {
	srv := redistest.StartServer(t)
	s := newStore(t, redis.Options{Addr: srv.Addr()})
	ctx := ctxFor(t, time.Minute)
	for _, room := range []string{"a}b", "{x}", "50%7D", "50}", "class 3/α"} {
		c := core.ConnInfo{ID: core.ConnID("c{" + room + "}"), User: core.User{ID: "u"}}
		if err := s.AddConn(ctx, c); err != nil {
			t.Fatal(err)
		}
		if first, err := s.Join(ctx, room, c); err != nil || !first {
			t.Fatalf("Join(%q) = %v, %v", room, first, err)
		}
		res, err := s.Commit(ctx, core.Commit{Room: room, Durable: []core.Event{event(room, "t.e", 1)}})
		if err != nil || res.FirstSeq != 1 {
			t.Fatalf("Commit(%q) = %+v, %v (rooms must not share a seq)", room, res, err)
		}
		events, _, complete, err := s.History(ctx, room, 0)
		if err != nil || !complete || len(events) != 1 || events[0].Room != room {
			t.Fatalf("History(%q) = %+v %v %v", room, events, complete, err)
		}
		_, rooms, err := s.Conn(ctx, c.ID)
		if err != nil || len(rooms) != 1 || rooms[0] != room {
			t.Fatalf("Conn(%q) rooms = %v, %v", c.ID, rooms, err)
		}
	}
}
