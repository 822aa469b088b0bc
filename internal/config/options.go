package config

import (
	"context"
	"fmt"
	"sort"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/wsserver"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
	"github.com/classgate/classgate/internal/fielderr"
)

// The values of store.kind.
const (
	StoreMemory = "memory"
	StoreRedis  = "redis"
)

// storeOpeners is the one place a store kind is switched on: Validate
// accepts the kinds listed here and OpenStore opens them.
var storeOpeners = map[string]func(context.Context, *Config) (OpenedStore, error){
	StoreMemory: func(_ context.Context, c *Config) (OpenedStore, error) {
		return OpenedStore{Store: memory.New(c.MemoryOptions())}, nil
	},
	StoreRedis: func(ctx context.Context, c *Config) (OpenedStore, error) {
		rs, err := redis.New(ctx, c.RedisOptions())
		if err != nil {
			return OpenedStore{}, &fielderr.Error{Key: "store.redis", Err: err}
		}
		return OpenedStore{Store: rs, Redis: rs}, nil
	},
}

// StoreKinds lists the values store.kind accepts.
func StoreKinds() []string {
	var k []string
	for kind := range storeOpeners {
		k = append(k, kind)
	}
	sort.Strings(k)
	return k
}

// OpenedStore is an opened store: the core port, and the Redis store behind it
// when store.kind is redis (for cluster-wide admin actions), else nil.
type OpenedStore struct {
	core.Store
	Redis *redis.Store
}

// OpenStore opens the store store.kind names. The caller closes it.
func (c *Config) OpenStore(ctx context.Context) (OpenedStore, error) {
	open, ok := storeOpeners[c.Store.Kind]
	if !ok {
		return OpenedStore{}, fielderr.Errorf("store.kind", "%q is not supported", c.Store.Kind)
	}
	return open(ctx, c)
}

// RouterOptions returns the router's options of the standalone server
// (limits.*, dedupe.window, node.id). The caller sets the ports (Store,
// Sender, Plugins) and Logger, Observer.
func (c *Config) RouterOptions() core.Options {
	return core.Options{
		Node:            c.Node.ID,
		DedupeWindow:    c.Dedupe.Window,
		MaxRoomsPerConn: c.Limits.MaxRoomsPerConn,
		MaxMessageBytes: c.Limits.MaxMessageBytes,
		RatePerSecond:   c.Limits.RatePerSecond,
		RateBurst:       c.Limits.RateBurst,
		AbuseLimit:      c.Limits.AbuseLimit,
	}
}

// LambdaRouterOptions returns the router's options of the Lambda
// deployment: RouterOptions with direct fan-out, no per-connection rate
// limit (a connection's bucket would not outlive one invocation; API
// Gateway throttles) and LambdaCommitRetries.
func (c *Config) LambdaRouterOptions() core.Options {
	o := c.RouterOptions()
	o.Direct = true
	o.RatePerSecond = 0
	o.CommitRetries = LambdaCommitRetries
	return o
}

// ServerOptions returns the WebSocket server's options (server.*). A
// server.max_connections of 0 is derived from the file-descriptor limit
// here. The caller sets Verifier, Logger and Observer.
func (c *Config) ServerOptions() (wsserver.Options, error) {
	s := c.Server
	maxConns := s.MaxConnections
	if maxConns == 0 {
		var err error
		if maxConns, err = wsserver.FDConnectionLimit(); err != nil {
			return wsserver.Options{}, &fielderr.Error{Key: "server.max_connections", Err: fmt.Errorf("no value and %w", err)}
		}
	}
	return wsserver.Options{
		AllowedOrigins:        s.AllowedOrigins,
		ReadLimit:             s.ReadLimit,
		SendQueue:             s.SendQueue,
		WriteTimeout:          s.WriteTimeout,
		PingInterval:          s.PingInterval,
		ShedAfter:             s.ShedAfter,
		MaxConnections:        maxConns,
		MaxConnectionsPerUser: s.MaxConnectionsPerUser,
		NoIOUring:             !s.IOUring,
	}, nil
}

// MemoryOptions returns the in-memory store's options: history.*,
// store.liveness_ttl and store.memory.
func (c *Config) MemoryOptions() memory.Options {
	return memory.Options{HistoryLimit: c.History.Limit, HistoryAge: c.History.Age, LivenessTTL: c.Store.LivenessTTL,
		MaxIdleRooms: c.Store.Memory.MaxIdleRooms, MaxIdleBytes: c.Store.Memory.MaxIdleBytes}
}

// RedisOptions returns store.redis with the shared settings filled in from
// history.*, store.liveness_ttl and node.id where store.redis leaves them
// zero.
func (c *Config) RedisOptions() redis.Options {
	o := c.Store.Redis
	if o.HistoryLimit == 0 {
		o.HistoryLimit = c.History.Limit
	}
	if o.HistoryAge == 0 {
		o.HistoryAge = c.History.Age
	}
	if o.LivenessTTL == 0 {
		o.LivenessTTL = c.Store.LivenessTTL
	}
	if o.Node == "" {
		o.Node = c.Node.ID
	}
	return o
}
