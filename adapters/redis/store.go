package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/classgate/classgate/core"
)

// Store is a core.Store on Redis. It is safe for concurrent use; build it
// with New and release it with Close. Several Stores (one per gateway node)
// with the same Redis and Prefix form one gateway.
type Store struct {
	o Options
	k keys

	// client is the single or Sentinel client; cluster the Cluster client.
	// Exactly one is set.
	client  *goredis.Client
	cluster *goredis.ClusterClient
	// publish is the publication command used by the commit script.
	publish string

	bus *bus
	// pipe shares pipelines among the commits and snapshots of every
	// room (single and Sentinel mode without WaitReplicas; nil otherwise).
	pipe *pipeliner
	// cache holds the plugin state of the rooms the bus subscribes to.
	cache *stateCache

	ctlMu sync.Mutex
	ctl   *control // cluster-wide operations, once HandleControl ran (control.go)
}

var _ core.Store = (*Store)(nil)

// New validates o, connects and checks that Redis answers (a PING within
// OpTimeout, or ctx). It returns an error wrapping core.ErrUnavailable when
// Redis cannot be reached, so a node refuses to start without its store.
func New(ctx context.Context, o Options) (*Store, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.WithDefaults()
	tlsConf, err := o.TLS.config()
	if err != nil {
		return nil, err
	}
	quietOnce.Do(func() { goredis.SetLogger(quiet{}) })
	s := &Store{o: o, k: keys{prefix: o.Prefix}, publish: "PUBLISH"}
	// Retries are off everywhere: a command whose reply was lost may have
	// been applied, and re-running a commit would apply it twice. Callers
	// get ErrUnavailable and retry with their dedupe key instead.
	switch o.Mode {
	case ModeSingle:
		s.client = goredis.NewClient(&goredis.Options{
			Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: tlsConf,
			DialTimeout: o.DialTimeout, ReadTimeout: o.OpTimeout, WriteTimeout: o.OpTimeout,
			ContextTimeoutEnabled: true, MaxRetries: -1, DisableIdentity: true,
		})
	case ModeSentinel:
		s.client = goredis.NewFailoverClient(&goredis.FailoverOptions{
			MasterName: o.MasterName, SentinelAddrs: o.Addrs,
			SentinelUsername: o.SentinelUsername, SentinelPassword: o.SentinelPassword,
			Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: tlsConf,
			DialTimeout: o.DialTimeout, ReadTimeout: o.OpTimeout, WriteTimeout: o.OpTimeout,
			ContextTimeoutEnabled: true, MaxRetries: -1, DisableIdentity: true,
		})
	case ModeCluster:
		s.cluster = goredis.NewClusterClient(&goredis.ClusterOptions{
			Addrs: o.Addrs, Username: o.Username, Password: o.Password, TLSConfig: tlsConf,
			DialTimeout: o.DialTimeout, ReadTimeout: o.OpTimeout, WriteTimeout: o.OpTimeout,
			ContextTimeoutEnabled: true, MaxRetries: -1, DisableIdentity: true,
		})
		s.publish = "SPUBLISH"
	}
	s.bus = newBus(s)
	s.cache = newStateCache()
	if s.client != nil && o.WaitReplicas == 0 {
		s.pipe = newPipeliner(s.client)
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("redis: connect (%s mode): %w", o.Mode, explain(err, o))
	}
	return s, nil
}

// quiet drops go-redis's own log lines (dial retries and the like): a
// library does not log, every failure reaches the caller as an error.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

var quietOnce sync.Once

// Options returns the options the store runs with (defaults applied).
func (s *Store) Options() Options { return s.o }

// opCtx bounds one operation by OpTimeout.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.o.OpTimeout)
}

// node returns the client that serves key: the one client, or in Cluster
// mode the master of key's slot (so a script and a following WAIT run on
// the same server and connection pool, and nothing is retried elsewhere).
func (s *Store) node(ctx context.Context, key string) (*goredis.Client, error) {
	if s.cluster == nil {
		return s.client, nil
	}
	c, err := s.cluster.MasterForKey(ctx, key)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// run runs a script on the node of keys[0].
func (s *Store) run(ctx context.Context, sc *goredis.Script, keys []string, args ...any) (any, error) {
	if s.pipe != nil {
		return s.pipe.run(ctx, sc, keys, args)
	}
	c, err := s.node(ctx, keys[0])
	if err != nil {
		return nil, err
	}
	return sc.Run(ctx, c, keys, args...).Result()
}

// Ping implements core.Store: it fails when Redis (every master, in
// Cluster mode) does not answer within OpTimeout.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var err error
	if s.cluster != nil {
		err = s.cluster.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
			return c.Ping(ctx).Err()
		})
	} else {
		err = s.client.Ping(ctx).Err()
	}
	if err != nil {
		return s.fail("ping", err)
	}
	return nil
}

// Close implements core.Store: it stops the subscriptions and closes the
// connections. The store must not be used afterwards.
func (s *Store) Close() error {
	s.closeControl()
	s.bus.close()
	if s.pipe != nil {
		s.pipe.close()
	}
	if s.cluster != nil {
		return s.cluster.Close()
	}
	return s.client.Close()
}

// unavailablePrefixes are server error replies that mean "try again later".
var unavailablePrefixes = []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN",
	"MOVED", "ASK", "NOREPLICAS", "BUSY", "NOMASTERLINK"}

// unavailable reports whether err means Redis could not be reached or
// cannot serve right now (rather than a bad request).
func unavailable(err error) bool {
	var re goredis.Error
	if errors.As(err, &re) && !errors.Is(err, goredis.Nil) {
		for _, p := range unavailablePrefixes {
			if goredis.HasErrorPrefix(err, p) {
				return true
			}
		}
		return false
	}
	// Network errors, timeouts, a closed pool, a cancelled context: the
	// outcome is unknown and nothing was acknowledged.
	return true
}

// fail wraps a Redis error with the operation and, when it is one,
// core.ErrUnavailable.
func (s *Store) fail(op string, err error) error {
	if unavailable(err) {
		// The outcome is unknown and Redis may come back as a replica
		// that lagged: trust no cached state.
		s.cache.reset()
		if s.cluster != nil {
			// A moved slot or a failed-over master: refresh the slot map
			// (in the background) so the caller's retry finds the owner.
			s.cluster.ReloadState(context.Background())
		}
		return fmt.Errorf("redis: %s: %w: %w", op, core.ErrUnavailable, err)
	}
	return fmt.Errorf("redis: %s: %w", op, err)
}

// ms is d in whole milliseconds, at least 1.
func ms(d time.Duration) int64 {
	if m := d.Milliseconds(); m > 0 {
		return m
	}
	return 1
}
