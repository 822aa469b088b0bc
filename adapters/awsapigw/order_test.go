package awsapigw

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/core"
)

// newRedisRig is newRig on a real Redis (registry, history and the
// ordered hand-off), with posts that take a random 0–2 ms so that
// concurrent invocations interleave.
func newRedisRig(t *testing.T, order bool) (*rig, *redis.Store) {
	t.Helper()
	srv := redistest.StartServer(t)
	st, err := redis.New(context.Background(), redis.Options{Addr: srv.Addr(), Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	r := newRig(t)
	snd := r.h.o.Sender
	snd.o.Sleep = sleepCtx
	if order {
		snd.o.Order.Store = st
	}
	rt, err := core.NewRouter(core.Options{Store: st, Sender: snd, Direct: true, Plugins: core.StaticPlugins{"echo": echo},
		MaxMessageBytes: MaxMessageBytes, RatePerSecond: -1, CommitRetries: 64, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r.h.o.Router = rt
	r.h.o.Now = time.Now
	r.h.o.Expiry = st
	r.api.hold = func(context.Context, core.ConnID, string) {
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
	}
	return r, st
}

// checkOrder asserts what every member must see: after its joined frame,
// the room's durable events in seq order from joined.seq+1, no gap, no
// repeat, up to last.
func checkOrder(t *testing.T, api *fakeAPI, id core.ConnID, last uint64) {
	t.Helper()
	var joined *uint64
	for _, f := range api.frames(id) {
		seq := uint64(0)
		if v, ok := f["seq"].(float64); ok {
			seq = uint64(v)
		}
		switch {
		case f["type"] == "joined":
			joined = &seq
		case f["type"] == "ack" || seq == 0:
		case joined == nil:
			t.Fatalf("%s: event seq %d before its joined frame", id, seq)
		case seq != *joined+1:
			t.Fatalf("%s: seq %d after %d", id, seq, *joined)
		default:
			*joined = seq
		}
	}
	if joined == nil || *joined != last {
		t.Fatalf("%s: last seq seen %v, want %d", id, joined, last)
	}
}

// TestOrderedHandOff: concurrent invocations (several senders, each frame
// its own invocation, and members joining meanwhile) on a real Redis:
// every member gets the room's durable events in seq order without gaps
// from its joined seq.
func TestOrderedHandOff(t *testing.T) {
	r, _ := newRedisRig(t, true)
	const members, late, each = 5, 3, 30
	var ids []core.ConnID
	for i := range members + late {
		id := core.ConnID(fmt.Sprint("m", i))
		ids = append(ids, id)
		r.connect(id, fmt.Sprint("u", i), time.Hour)
	}
	for _, id := range ids[:members] {
		r.send(id, `{"type":"join","room":"r1","id":"j"}`)
	}
	// At most `concurrency` invocations at once, as a function's reserved
	// concurrency (or the emulator's -concurrency) allows.
	const concurrency = 6
	slots := make(chan struct{}, concurrency)
	invoke := func(id core.ConnID, frame string) {
		slots <- struct{}{}
		defer func() { <-slots }()
		r.send(id, frame)
	}
	var wg sync.WaitGroup
	for s := range members {
		for i := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				invoke(ids[s], fmt.Sprintf(`{"type":"echo.say","room":"r1","id":"m%d-%d","data":{}}`, s, i))
			}()
		}
	}
	for _, id := range ids[members:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
			invoke(id, `{"type":"join","room":"r1","id":"j"}`)
		}()
	}
	wg.Wait()
	last := uint64(members * each)
	for _, id := range ids {
		checkOrder(t, r.api, id, last)
	}
}

// TestTokenExpiryClosesSilentConnection: a connection whose token expired
// is deleted by the next invocation of any connection (or a scheduled
// one) although it sends nothing itself, and its user leaves the room.
func TestTokenExpiryClosesSilentConnection(t *testing.T) {
	r, _ := newRedisRig(t, true)
	r.connect("short", "s", 1500*time.Millisecond) // tokens count in seconds: expires within 1–2s
	r.connect("other", "o", time.Hour)
	r.send("short", `{"type":"join","room":"r1","id":"j"}`)
	r.send("other", `{"type":"join","room":"r1","id":"j"}`)
	r.h.o.ExpiryEvery = time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := r.h.HandleScheduled(context.Background()); err != nil {
			t.Fatal(err)
		}
		r.api.mu.Lock()
		deleted := strings.Contains(fmt.Sprint(r.api.deletes), "short")
		r.api.mu.Unlock()
		if deleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired connection was never deleted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := r.api.types("other"); got[len(got)-1] != "echo.left" {
		t.Fatalf("other got %v, want the expired user's leave last", got)
	}
	// A scheduled event decoded from EventBridge's JSON takes the same path.
	if _, err := r.h.HandleRaw(context.Background(), json.RawMessage(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`)); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkTurn is the hand-off's cost when nothing waits: taking and
// giving back a room's turn for one delivery to 30 members (two scripts
// on a real Redis over loopback).
func BenchmarkTurn(b *testing.B) {
	srv := redistest.StartServer(b)
	st, err := redis.New(context.Background(), redis.Options{Addr: srv.Addr(), Prefix: redistest.Prefix(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s := &Sender{o: SenderOptions{Order: OrderOptions{Store: st, Wait: time.Second, Lease: time.Second}, Now: time.Now, Sleep: sleepCtx, Metrics: NopSenderMetrics{}}, log: quiet}
	var recips []core.ConnID
	for i := range 30 {
		recips = append(recips, core.ConnID(fmt.Sprint("conn-", i)))
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		seq := uint64(i + 1)
		t, err := s.acquire(ctx, "bench", "post", seq, "e1", recips)
		if err != nil || t.forced {
			b.Fatalf("turn %d: %v (forced %v)", seq, err, t != nil && t.forced)
		}
		st0 := &stage{kind: publishStage, room: "bench", last: seq, epoch: "e1", held: t}
		s.release(ctx, st0)
	}
}
