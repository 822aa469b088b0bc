package redis

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/classgate/classgate/internal/fielderr"
)

// Modes of Options.Mode.
const (
	// ModeSingle talks to one Redis server at Options.Addr.
	ModeSingle = "single"
	// ModeSentinel finds the primary named Options.MasterName through the
	// Sentinels at Options.Addrs and follows failovers.
	ModeSentinel = "sentinel"
	// ModeCluster talks to a Redis Cluster seeded by Options.Addrs; each
	// room lives in one hash slot and uses sharded pub/sub.
	ModeCluster = "cluster"
)

// Options configure a Store. The koanf tags are the configuration keys (the
// gateway reads them under store.redis.*). Zero values take the defaults
// shown; Validate reports the keys that are wrong.
type Options struct {
	// Mode is the topology: "single" (default), "sentinel" or "cluster".
	Mode string `koanf:"mode"`
	// Addr is the server's host:port in single mode (127.0.0.1:6379).
	Addr string `koanf:"addr"`
	// Addrs are the Sentinels (sentinel mode) or the seed nodes (cluster
	// mode), host:port each.
	Addrs []string `koanf:"addrs"`
	// MasterName is the Sentinel name of the primary (sentinel mode).
	MasterName string `koanf:"master_name"`
	// Username and Password authenticate to Redis (ACL user, or the
	// requirepass password with an empty Username).
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	// SentinelUsername and SentinelPassword authenticate to the Sentinels
	// themselves, when they require it (sentinel mode): an ACL user, or
	// the Sentinels' requirepass with an empty SentinelUsername.
	SentinelUsername string `koanf:"sentinel_username"`
	SentinelPassword string `koanf:"sentinel_password"`
	// TLS encrypts every connection: to the server (single), to the
	// Sentinels and the primary (sentinel), to every node (cluster).
	TLS TLSOptions `koanf:"tls"`
	// DB is the database number (0); must be 0 in cluster mode.
	DB int `koanf:"db"`
	// Prefix starts every key and channel ("classgate:"). Gateways that
	// share a room space must use the same prefix. It must not contain
	// '{' or '}'.
	Prefix string `koanf:"prefix"`
	// Node is this gateway node's id, recorded with its connections.
	Node string `koanf:"node"`
	// HistoryLimit is the number of durable events kept per room (1000).
	HistoryLimit int `koanf:"history_limit"`
	// HistoryAge is how long a durable event is kept (1h).
	HistoryAge time.Duration `koanf:"history_age"`
	// IdleRoomTTL is how long a room's keys (seq and epoch, history,
	// plugin state) outlive its last member or, while it has none, its
	// last write: they get this expiry when the room empties and lose it
	// when someone joins (default HistoryAge). An expired room starts over
	// with a new epoch, so a client resuming it gets resync.
	IdleRoomTTL time.Duration `koanf:"idle_room_ttl"`
	// LivenessTTL is how long a connection stays in the registry without a
	// heartbeat (Touch) before Expired reports it (30s).
	LivenessTTL time.Duration `koanf:"liveness_ttl"`
	// WaitReplicas, when > 0, acknowledges a commit only after WAIT
	// confirmed it on this many replicas (0 = off).
	WaitReplicas int `koanf:"wait_replicas"`
	// WaitTimeout bounds the WAIT of a commit (100ms).
	WaitTimeout time.Duration `koanf:"wait_timeout"`
	// DialTimeout bounds connecting to Redis (2s).
	DialTimeout time.Duration `koanf:"dial_timeout"`
	// OpTimeout bounds every store operation, including the wait for a
	// subscription to be confirmed (2s).
	OpTimeout time.Duration `koanf:"op_timeout"`
}

// TLSOptions configure TLS to Redis (store.redis.tls.*), e.g. AWS
// ElastiCache with in-transit encryption.
type TLSOptions struct {
	// Enabled turns TLS on (off by default: Redis speaks plain TCP).
	Enabled bool `koanf:"enabled"`
	// CAFile is a PEM file of the certificate authorities trusted to sign
	// the servers' certificates; empty trusts the system pool (right for
	// ElastiCache, whose certificates chain to a public root).
	CAFile string `koanf:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// servers that require one (tls-auth-clients yes); both or neither.
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
	// ServerName is the name the servers' certificates must carry; empty
	// checks each address's own host (name or IP).
	ServerName string `koanf:"server_name"`
}

// Defaults of Options.
const (
	DefaultAddr         = "127.0.0.1:6379"
	DefaultPrefix       = "classgate:"
	DefaultHistoryLimit = 1000
	DefaultHistoryAge   = time.Hour
	DefaultLivenessTTL  = 30 * time.Second
	DefaultWaitTimeout  = 100 * time.Millisecond
	DefaultDialTimeout  = 2 * time.Second
	DefaultOpTimeout    = 2 * time.Second
)

// WithDefaults returns o with every zero value replaced by its default.
func (o Options) WithDefaults() Options {
	if o.Mode == "" {
		o.Mode = ModeSingle
	}
	if o.Mode == ModeSingle && o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.HistoryLimit == 0 {
		o.HistoryLimit = DefaultHistoryLimit
	}
	if o.HistoryAge == 0 {
		o.HistoryAge = DefaultHistoryAge
	}
	if o.IdleRoomTTL == 0 {
		o.IdleRoomTTL = o.HistoryAge
	}
	if o.LivenessTTL == 0 {
		o.LivenessTTL = DefaultLivenessTTL
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	return o
}

// Validate checks o (after defaults) and names every bad key, e.g.
// "redis: addrs: required in sentinel mode".
func (o Options) Validate() error {
	o = o.WithDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("redis: %w", fielderr.Errorf(key, format, args...)))
	}
	switch o.Mode {
	case ModeSingle:
		if len(o.Addrs) > 0 {
			bad("addrs", "not used in single mode (set addr)")
		}
	case ModeSentinel:
		if len(o.Addrs) == 0 {
			bad("addrs", "required in sentinel mode (the Sentinels)")
		}
		if o.MasterName == "" {
			bad("master_name", "required in sentinel mode")
		}
	case ModeCluster:
		if len(o.Addrs) == 0 {
			bad("addrs", "required in cluster mode (seed nodes)")
		}
		if o.DB != 0 {
			bad("db", "must be 0 in cluster mode")
		}
	default:
		bad("mode", "%q is not single, sentinel or cluster", o.Mode)
	}
	if o.Mode != ModeSingle && o.Addr != "" {
		bad("addr", "only used in single mode (set addrs)")
	}
	if o.Addr != "" && !strings.Contains(o.Addr, ":") {
		bad("addr", "%q is not host:port", o.Addr)
	}
	for _, a := range o.Addrs {
		if !strings.Contains(a, ":") {
			bad("addrs", "%q is not host:port", a)
		}
	}
	if o.DB < 0 {
		bad("db", "must not be negative")
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		bad("prefix", "%q must not contain '{' or '}' (they are Cluster hash tags)", o.Prefix)
	}
	if o.HistoryLimit < 0 {
		bad("history_limit", "must not be negative")
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"history_age", o.HistoryAge}, {"idle_room_ttl", o.IdleRoomTTL}, {"liveness_ttl", o.LivenessTTL}, {"wait_timeout", o.WaitTimeout},
		{"dial_timeout", o.DialTimeout}, {"op_timeout", o.OpTimeout}} {
		if d.v < 0 {
			bad(d.key, "must not be negative")
		}
	}
	if o.HistoryAge > 0 && o.HistoryAge < time.Millisecond {
		bad("history_age", "must be at least 1ms")
	}
	if o.IdleRoomTTL > 0 && o.IdleRoomTTL < time.Millisecond {
		bad("idle_room_ttl", "must be at least 1ms")
	}
	if o.LivenessTTL > 0 && o.LivenessTTL < time.Millisecond {
		bad("liveness_ttl", "must be at least 1ms")
	}
	if o.WaitReplicas < 0 {
		bad("wait_replicas", "must not be negative")
	}
	if o.WaitReplicas > 0 && o.WaitTimeout >= o.OpTimeout {
		bad("wait_timeout", "%s must be shorter than op_timeout %s", o.WaitTimeout, o.OpTimeout)
	}
	if o.Mode != ModeSentinel {
		if o.SentinelUsername != "" {
			bad("sentinel_username", "only used in sentinel mode (set username)")
		}
		if o.SentinelPassword != "" {
			bad("sentinel_password", "only used in sentinel mode (set password)")
		}
	}
	if _, err := o.TLS.config(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
