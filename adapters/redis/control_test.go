package redis_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
)

// TestControl: a control request reaches every other node on the same
// Redis and prefix (not the asker, not another prefix), each answers with
// what it closed or its failure, and a node that does not answer is
// counted, within OpTimeout.
func TestControl(t *testing.T) {
	srv := redistest.StartServer(t)
	prefix := redistest.Prefix(t)
	ctx := context.Background()
	var askerCalled, otherPrefixCalled atomic.Int64
	node := func(name, prefix string, h redis.ControlHandler) *redis.Store {
		s := newStore(t, redis.Options{Addr: srv.Addr(), Prefix: prefix, Node: name, OpTimeout: 500 * time.Millisecond})
		if err := s.HandleControl(ctx, h); err != nil {
			t.Fatalf("HandleControl %s: %v", name, err)
		}
		return s
	}
	asker := node("a", prefix, func(context.Context, redis.Control) (int, error) { askerCalled.Add(1); return 0, nil })
	node("b", prefix, func(_ context.Context, c redis.Control) (int, error) {
		if c.Op != redis.ControlKick || c.User != "sam" || c.Room != "r1" || c.From != "a" {
			return 0, errors.New("unexpected request")
		}
		return 2, nil
	})
	node("c", prefix, func(context.Context, redis.Control) (int, error) { return 0, errors.New("cannot") })
	node("x", redistest.Prefix(t), func(context.Context, redis.Control) (int, error) { otherPrefixCalled.Add(1); return 9, nil })

	res, err := asker.Control(ctx, redis.Control{Op: redis.ControlKick, User: "sam", Room: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(res.Replies, func(i, j int) bool { return res.Replies[i].Node < res.Replies[j].Node })
	if len(res.Replies) != 2 || res.Unanswered != 0 ||
		res.Replies[0].Node != "b" || res.Replies[0].Closed != 2 || res.Replies[0].Err != "" ||
		res.Replies[1].Node != "c" || res.Replies[1].Err != "cannot" {
		t.Fatalf("replies %+v, unanswered %d", res.Replies, res.Unanswered)
	}
	if askerCalled.Load() != 0 || otherPrefixCalled.Load() != 0 {
		t.Fatalf("the asker (%d) or another prefix (%d) handled the request", askerCalled.Load(), otherPrefixCalled.Load())
	}

	// A request addressed to one node: it acts, the others answer skipped.
	res, err = asker.Control(ctx, redis.Control{Op: redis.ControlKick, User: "sam", Room: "r1", Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(res.Replies, func(i, j int) bool { return res.Replies[i].Node < res.Replies[j].Node })
	if len(res.Replies) != 2 || res.Replies[0].Closed != 2 || res.Replies[0].Skipped ||
		!res.Replies[1].Skipped || res.Replies[1].Err != "" {
		t.Fatalf("addressed to b: replies %+v", res.Replies)
	}

	// A node whose handler outlives the wait is counted as unanswered.
	release := make(chan struct{})
	defer close(release)
	// It answers only once the test ends: had it also returned when its own
	// context ended (the same OpTimeout as the asker's wait), its answer
	// could reach a loaded asker still in time (a CI run saw that).
	node("slow", prefix, func(context.Context, redis.Control) (int, error) {
		<-release
		return 1, nil
	})
	res, err = asker.Control(ctx, redis.Control{Op: redis.ControlKick, User: "sam"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 2 || res.Unanswered != 1 {
		t.Fatalf("with a slow node: replies %+v, unanswered %d; want 2 and 1", res.Replies, res.Unanswered)
	}

	// Without HandleControl there is no way to get answers: a clear error.
	lone := newStore(t, redis.Options{Addr: srv.Addr(), Prefix: prefix, Node: "lone"})
	if _, err := lone.Control(ctx, redis.Control{Op: redis.ControlKick, User: "sam"}); err == nil {
		t.Fatal("Control without HandleControl succeeded")
	}
}

// TestControlBound: a node carries out at most ControlMax requests at
// once; one more is answered at once with an error instead of queueing.
func TestControlBound(t *testing.T) {
	srv := redistest.StartServer(t)
	prefix := redistest.Prefix(t)
	ctx := context.Background()
	asker := newStore(t, redis.Options{Addr: srv.Addr(), Prefix: prefix, Node: "a", OpTimeout: 10 * time.Second})
	if err := asker.HandleControl(ctx, func(context.Context, redis.Control) (int, error) { return 0, nil }); err != nil {
		t.Fatal(err)
	}
	busy := newStore(t, redis.Options{Addr: srv.Addr(), Prefix: prefix, Node: "busy", OpTimeout: 10 * time.Second})
	started, release := make(chan struct{}, redis.ControlMax), make(chan struct{})
	if err := busy.HandleControl(ctx, func(ctx context.Context, _ redis.Control) (int, error) {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return 1, nil
	}); err != nil {
		t.Fatal(err)
	}
	results := make(chan redis.ControlResult, redis.ControlMax)
	for range redis.ControlMax {
		go func() {
			res, _ := asker.Control(ctx, redis.Control{Op: redis.ControlKick, User: "u"})
			results <- res
		}()
	}
	for range redis.ControlMax {
		<-started // every slot taken
	}
	res, err := asker.Control(ctx, redis.Control{Op: redis.ControlKick, User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 1 || !strings.Contains(res.Replies[0].Err, "too many") {
		t.Fatalf("request beyond the bound: %+v, want one answer saying too many", res.Replies)
	}
	close(release)
	for range redis.ControlMax {
		if r := <-results; len(r.Replies) != 1 || r.Replies[0].Closed != 1 {
			t.Fatalf("request within the bound: %+v", r.Replies)
		}
	}
}

// TestControlCluster: on a Redis Cluster (plain pub/sub, which the
// cluster bus broadcasts to every shard) requests reach every other node
// and their answers come back; PUBLISH counts only one shard's
// subscribers, so the asker waits the whole bound and reports the
// unanswered count as unknown (-1).
func TestControlCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster start-up in -short mode")
	}
	c := redistest.StartCluster(t, 3)
	prefix := redistest.Prefix(t)
	ctx := context.Background()
	var stores []*redis.Store
	for _, name := range []string{"a", "b", "c"} {
		s := newStore(t, redis.Options{Mode: redis.ModeCluster, Addrs: c.Addrs(), Prefix: prefix, Node: name, OpTimeout: time.Second})
		if err := s.HandleControl(ctx, func(context.Context, redis.Control) (int, error) { return 1, nil }); err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	res, err := stores[0].Control(ctx, redis.Control{Op: redis.ControlKick, User: "sam"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 2 || res.Unanswered != -1 {
		t.Fatalf("replies %+v, unanswered %d; want b and c, unknown", res.Replies, res.Unanswered)
	}
}
