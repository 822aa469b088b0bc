package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/core"
)

// pttl returns the key's remaining TTL in ms: -1 persistent, -2 missing.
func pttl(t *testing.T, srv *redistest.Server, key string) int64 {
	t.Helper()
	v, err := srv.Do("PTTL", key)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := v.(int64)
	return n
}

// TestIdleRoomKeysExpire: a room's keys (meta, history, every plugin
// state hash) persist while it has members and expire after the idle TTL
// once it has none — set by the last leave (Leave or RemoveConn), renewed
// by a write to the empty room, taken off by the next join. An expired
// room starts over in a new epoch: a client that resumes it resyncs.
func TestIdleRoomKeysExpire(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t)
	const ttl = time.Hour
	st := newStore(t, redis.Options{Addr: srv.Addr(), IdleRoomTTL: ttl})
	prefix := st.Options().Prefix
	key := func(suffix string) string { return prefix + "r{room}:" + suffix }
	ann := core.ConnInfo{ID: "a", User: core.User{ID: "ann"}}
	write := func(ns string) {
		t.Helper()
		_, err := st.Commit(ctx, core.Commit{Room: "room", Namespace: ns, DedupeKey: "ann\x00" + ns, DedupeTTL: time.Minute,
			Ops:     []core.StateOp{{Op: core.OpSet, Key: "k", Value: []byte("v")}},
			Durable: []core.Event{{Room: "room", Type: ns + ".x", Data: []byte(`{}`)}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name string
		do   func()
		// keys that must be persistent (true) or expiring within ttl
		// (false) afterwards
		keys map[string]bool
	}{
		{"member present", func() {
			if err := st.AddConn(ctx, ann); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Join(ctx, "room", ann); err != nil {
				t.Fatal(err)
			}
			write("wb")
		}, map[string]bool{"meta": true, "hist": true, "st:wb": true}},
		{"last member left", func() {
			if _, _, err := st.Leave(ctx, "room", "a"); err != nil {
				t.Fatal(err)
			}
		}, map[string]bool{"meta": false, "hist": false, "st:wb": false}},
		{"written while empty", func() { write("chat") }, map[string]bool{"meta": false, "hist": false, "st:wb": false, "st:chat": false}},
		{"joined again", func() {
			if _, err := st.Join(ctx, "room", ann); err != nil {
				t.Fatal(err)
			}
		}, map[string]bool{"meta": true, "hist": true, "st:wb": true, "st:chat": true}},
		{"last connection removed", func() {
			if _, err := st.RemoveConn(ctx, "a"); err != nil {
				t.Fatal(err)
			}
		}, map[string]bool{"meta": false, "hist": false, "st:wb": false, "st:chat": false}},
	}
	for _, step := range steps {
		step.do()
		for suffix, persistent := range step.keys {
			got := pttl(t, srv, key(suffix))
			if persistent && got != -1 || !persistent && (got <= 0 || got > ttl.Milliseconds()) {
				t.Errorf("%s: PTTL %s = %d, want persistent=%v (ttl %d)", step.name, suffix, got, persistent, ttl.Milliseconds())
			}
		}
	}
	// The dedupe keys keep their own window.
	if got := pttl(t, srv, key("dd:ann\x00wb")); got <= 0 || got > time.Minute.Milliseconds() {
		t.Errorf("dedupe key PTTL %d, want its window", got)
	}

	// Once expired, the room is new: seq 0, a new epoch; a client that
	// saw seq 2 gets resync.
	old, err := st.Snapshot(ctx, "room")
	if err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"meta", "hist", "st:wb", "st:chat"} {
		srv.MustDo("PEXPIRE", key(suffix), "1") // what the idle TTL does, now
	}
	redistest.WaitFor(t, 10*time.Second, "room keys expired", func() bool {
		v, _ := srv.Do("EXISTS", key("meta"), key("hist"), key("st:wb"), key("st:chat"))
		return v == int64(0)
	})
	snap, err := st.Snapshot(ctx, "room", "wb")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Seq != 0 || snap.Epoch == old.Epoch || len(snap.State["wb"]) != 0 {
		t.Fatalf("expired room reads seq %d epoch %s (was %d %s) state %v; want a new room", snap.Seq, snap.Epoch, old.Seq, old.Epoch, snap.State)
	}
	if _, _, complete, err := st.History(ctx, "room", old.Seq); err != nil || complete {
		t.Fatalf("History(since %d) of an expired room: complete %v, %v; want resync", old.Seq, complete, err)
	}
	// The meta its snapshot created for the empty room expires too.
	if got := pttl(t, srv, key("meta")); got <= 0 {
		t.Fatalf("meta created by a snapshot of an empty room: PTTL %d, want the idle TTL", got)
	}
}

// TestIdleRoomsBoundedOnRedis: a client looping join, chat and leave over
// 1,000 distinct rooms through the router leaves no room key without an
// expiry: what idle rooms hold in Redis is bounded by the join rate times
// store.redis.idle_room_ttl, and returns to nothing after it.
func TestIdleRoomsBoundedOnRedis(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			ctx := context.Background()
			f := newChatFixture(t, direct)
			for i := 0; i < 1000; i++ {
				room := fmt.Sprint("loop-", i)
				for _, frame := range []string{
					`{"type":"join","room":"` + room + `"}`,
					`{"type":"chat.send","room":"` + room + `","id":"m","data":{"text":"hi"}}`,
					`{"type":"leave","room":"` + room + `"}`,
				} {
					if err := f.r.Receive(ctx, "a", []byte(frame)); err != nil {
						t.Fatal(err)
					}
				}
				f.snd.take("a")
			}
			persistent, expiring := 0, 0
			var sample []string
			for cursor := "0"; ; {
				v := f.srv.MustDo("SCAN", cursor, "MATCH", "*r{loop-*", "COUNT", "1000").([]any)
				for _, k := range v[1].([]any) {
					name := k.(string)
					switch got := pttl(t, f.srv, name); {
					case got == -1:
						persistent++
						if len(sample) < 5 {
							sample = append(sample, name)
						}
					case got > 0:
						expiring++
					}
				}
				if cursor = v[0].(string); cursor == "0" {
					break
				}
			}
			t.Logf("%d room keys expiring, %d persistent", expiring, persistent)
			if persistent > 0 || expiring < 1000 {
				t.Fatalf("%d room keys without expiry (e.g. %s), %d expiring; want none without", persistent, strings.Join(sample, ", "), expiring)
			}
		})
	}
}
