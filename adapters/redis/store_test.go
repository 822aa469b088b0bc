package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/coretest"
)

// newStore builds a Store on base (topology, addresses) with a fresh
// prefix, closed at the end of the test.
func newStore(t *testing.T, base redis.Options) *redis.Store {
	t.Helper()
	if base.Prefix == "" {
		base.Prefix = redistest.Prefix(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := redis.New(ctx, base)
	if err != nil {
		t.Fatalf("redis.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// factory runs the conformance suite on base; Peer is a second Store on the
// same Redis and prefix, as a second gateway node.
func factory(base redis.Options) coretest.Factory {
	return coretest.Factory{
		New: func(t *testing.T, cfg coretest.Config) core.Store {
			o := base
			o.HistoryLimit, o.HistoryAge, o.LivenessTTL = cfg.HistoryLimit, cfg.HistoryAge, cfg.LivenessTTL
			o.Node = "node-a"
			return newStore(t, o)
		},
		Peer: func(t *testing.T, a core.Store) core.Store {
			o := a.(*redis.Store).Options()
			o.Node = "node-b"
			return newStore(t, o)
		},
	}
}

func TestConformanceSingle(t *testing.T) {
	srv := redistest.StartServer(t)
	f := factory(redis.Options{Addr: srv.Addr()})
	f.Lose = func(t *testing.T, a core.Store) core.Store {
		srv.MustDo("FLUSHALL")
		return a
	}
	coretest.RunStore(t, f)
}

func TestConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster start-up in -short mode")
	}
	c := redistest.StartCluster(t, 3)
	f := factory(redis.Options{Mode: redis.ModeCluster, Addrs: c.Addrs()})
	f.Lose = func(t *testing.T, a core.Store) core.Store {
		for _, n := range c.Nodes {
			n.MustDo("FLUSHALL")
		}
		return a
	}
	coretest.RunStore(t, f)
}
