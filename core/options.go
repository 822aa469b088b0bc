package core

import (
	"log/slog"
	"time"
)

// Options configure a Router. Zero values take the documented defaults.
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
	// DedupeWindow is how long a client id is remembered (default 5m).
	DedupeWindow time.Duration
	// MaxRoomsPerConn caps the rooms one connection may join (default 16).
	MaxRoomsPerConn int
	// MaxMessageBytes is the largest frame accepted; larger frames get
	// too_large (default 64 KiB). The transport's hard read limit, above
	// which the connection is closed with 1009, is set by the adapter.
	MaxMessageBytes int
	// RatePerSecond and RateBurst set the per-connection token bucket
	// (defaults 50/s, burst 200; RatePerSecond < 0 disables it). The burst
	// absorbs frames that queued up in the socket while the node was busy.
	RatePerSecond float64
	RateBurst     int
	// AbuseLimit is how many frames in a row may be refused by the rate
	// limiter before the connection is closed with 1008 (default 100).
	AbuseLimit int
	// CommitRetries bounds optimistic-concurrency retries (default 16);
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
		o.DedupeWindow = 5 * time.Minute
	}
	if o.MaxRoomsPerConn == 0 {
		o.MaxRoomsPerConn = 16
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 64 << 10
	}
	if o.RatePerSecond == 0 {
		o.RatePerSecond = 50
	}
	if o.RateBurst == 0 {
		o.RateBurst = 200
	}
	if o.AbuseLimit == 0 {
		o.AbuseLimit = 100
	}
	if o.CommitRetries == 0 {
		o.CommitRetries = 16
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Plugins == nil {
		o.Plugins = StaticPlugins{}
	}
}
