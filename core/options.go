package core

import (
	"log/slog"
	"time"
)

// The defaults of Options, applied to zero fields by NewRouter. They are
// the one source of these values: internal/config's Defaults quotes them
// and configs/gateway.yaml states them (internal/config tests both).
const (
	DefaultDedupeWindow    = 5 * time.Minute
	DefaultMaxRoomsPerConn = 16
	DefaultMaxMessageBytes = 64 << 10
	DefaultRatePerSecond   = 50.0
	DefaultRateBurst       = 200
	DefaultAbuseLimit      = 100
	DefaultCommitRetries   = 16
)

// Options configure a Router. A zero field takes the Default* value
// above, except RatePerSecond, whose zero means what it means in the
// configuration (limits.rate_per_second: 0): no rate limit.
// DefaultRatePerSecond is the configuration's default, not the zero
// value's.
type Options struct {
	Store   Store
	Sender  Sender
	Plugins Plugins
	// Node names this gateway node in the registry.
	Node string
	// Direct selects stateless fan-out (Lambda): the router keeps no local
	// connection table, loads each connection from the registry on every
	// event, and delivers each committed event itself to every member in
	// the registry. Otherwise (standalone server) the router subscribes to
	// the Bus for rooms with local members and delivers what it receives.
	Direct bool
	// DedupeWindow is how long a client id is remembered.
	DedupeWindow time.Duration
	// MaxRoomsPerConn caps the rooms one connection may join.
	MaxRoomsPerConn int
	// MaxMessageBytes is the largest frame accepted; larger frames get
	// too_large. The transport's hard read limit, above
	// which the connection is closed with 1009, is set by the adapter.
	MaxMessageBytes int
	// RatePerSecond and RateBurst set the per-connection token bucket; a
	// RatePerSecond of 0 (or less) disables it, as in the configuration
	// (whose default is DefaultRatePerSecond). RateBurst 0 takes
	// DefaultRateBurst. The burst absorbs frames that queued up in the
	// socket while the node was busy.
	RatePerSecond float64
	RateBurst     int
	// AbuseLimit is how many frames in a row may be refused by the rate
	// limiter before the connection is closed with 1008.
	AbuseLimit int
	// CommitRetries bounds optimistic-concurrency retries;
	// retries back off with jitter, so nodes racing on one room spread out.
	CommitRetries int
	// Logger receives router logs (default slog.Default()).
	Logger *slog.Logger
	// Observer receives metrics events (default none).
	Observer Observer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.DedupeWindow == 0 {
		o.DedupeWindow = DefaultDedupeWindow
	}
	if o.MaxRoomsPerConn == 0 {
		o.MaxRoomsPerConn = DefaultMaxRoomsPerConn
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.RateBurst == 0 {
		o.RateBurst = DefaultRateBurst
	}
	if o.AbuseLimit == 0 {
		o.AbuseLimit = DefaultAbuseLimit
	}
	if o.CommitRetries == 0 {
		o.CommitRetries = DefaultCommitRetries
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Observer == nil {
		o.Observer = NopObserver{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Plugins == nil {
		o.Plugins = StaticPlugins{}
	}
}
