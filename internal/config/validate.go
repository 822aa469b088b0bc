package config

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/classgate/classgate/internal/fielderr"
)

// Validate checks values that decode but make no sense. Every problem is a
// *fielderr.Error naming its key (the errors are joined; Keys lists them);
// the components' own checks (store.redis, plugins, tracing) are moved
// under their key path by fielderr.Under, not by parsing their messages.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fielderr.Errorf(key, format, args...))
	}
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		bad("server.listen", "%q is not host:port", c.Server.Listen)
	}
	if g := c.Runtime.GCPercent; g != 0 && (g < 10 || g > 1000) {
		bad("runtime.gc_percent", "must be 0 (Go's default) or between 10 and 1000, got %d", g)
	}
	if c.Server.ReadLimit < 1024 {
		bad("server.read_limit", "must be at least 1024 bytes, got %d", c.Server.ReadLimit)
	}
	if c.Server.SendQueue < 1 {
		bad("server.send_queue", "must be positive, got %d", c.Server.SendQueue)
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			bad(key, "must be positive")
		}
	}
	if c.Server.PingInterval == 0 {
		// wsserver would read a zero as its default; in the file it would
		// look like "off", which is written negative.
		bad("server.ping_interval", "must not be 0 (negative disables pings)")
	}
	if c.Server.ShedAfter == 0 {
		bad("server.shed_after", "must not be 0 (negative disables shedding)")
	}
	positive("server.write_timeout", c.Server.WriteTimeout)
	positive("server.shutdown_timeout", c.Server.ShutdownTimeout)
	positive("server.idle_timeout", c.Server.IdleTimeout)
	positive("server.read_header_timeout", c.Server.ReadHeaderTimeout)
	if c.Server.MaxConnections < 0 {
		bad("server.max_connections", "must be 0 (derived from the file-descriptor limit) or positive, got %d", c.Server.MaxConnections)
	}
	if c.Server.MaxConnectionsPerUser < 0 {
		bad("server.max_connections_per_user", "must be 0 (no cap) or positive, got %d", c.Server.MaxConnectionsPerUser)
	}
	if c.Auth.Leeway < 0 {
		bad("auth.leeway", "must not be negative")
	}
	if c.Auth.MaxTokenLifetime < 0 {
		bad("auth.max_token_lifetime", "must be 0 (no limit) or positive")
	}
	if c.Dev.Enabled && !c.Dev.AllowNonLoopback && !loopback(c.Server.Listen) {
		bad("server.listen", "%q is not a loopback address and dev mode lets anyone who reaches it mint tokens; listen on 127.0.0.1 or set dev.allow_non_loopback", c.Server.Listen)
	}
	for _, u := range c.Auth.JWKSURLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			bad("auth.jwks_urls", "%q is not an http(s) URL", u)
		}
	}
	if c.Auth.JWKSRefresh < time.Minute {
		bad("auth.jwks_refresh", "must be at least 1m, got %s", c.Auth.JWKSRefresh)
	}
	if c.Auth.HS256Secret == "" && len(c.Auth.PublicKeys) == 0 && c.Auth.JWKSFile == "" && len(c.Auth.JWKSURLs) == 0 {
		bad("auth.hs256_secret", "required (or auth.public_keys / auth.jwks_file / auth.jwks_urls): no way to verify tokens")
	} else if c.Auth.HS256Secret != "" && len(c.Auth.HS256Secret) < 32 {
		bad("auth.hs256_secret", "must be at least 32 characters")
	}
	if len(c.Auth.Roles) == 0 {
		bad("auth.roles", "must list at least one role")
	}
	if c.Limits.RatePerSecond < 0 {
		bad("limits.rate_per_second", "must be 0 (no rate limit) or positive, got %v", c.Limits.RatePerSecond)
	}
	if c.Limits.RateBurst < 1 {
		bad("limits.rate_burst", "must be positive, got %d", c.Limits.RateBurst)
	}
	if c.Limits.AbuseLimit < 1 {
		bad("limits.abuse_limit", "must be positive, got %d", c.Limits.AbuseLimit)
	}
	if c.Limits.MaxRoomsPerConn < 1 {
		bad("limits.max_rooms_per_conn", "must be positive")
	}
	if c.Limits.MaxMessageBytes < 256 || int64(c.Limits.MaxMessageBytes) > c.Server.ReadLimit {
		bad("limits.max_message_bytes", "must be between 256 and server.read_limit (%d)", c.Server.ReadLimit)
	}
	if c.History.Limit < 1 {
		bad("history.limit", "must be positive")
	}
	positive("history.age", c.History.Age)
	positive("dedupe.window", c.Dedupe.Window)
	if _, ok := storeOpeners[c.Store.Kind]; !ok {
		bad("store.kind", "must be %s, got %q", strings.Join(StoreKinds(), " or "), c.Store.Kind)
	}
	if c.Store.LivenessTTL < time.Second {
		bad("store.liveness_ttl", "must be at least 1s")
	}
	if c.Store.Memory.MaxIdleRooms < 1 {
		bad("store.memory.max_idle_rooms", "must be positive")
	}
	if c.Store.Memory.MaxIdleBytes < 1 {
		bad("store.memory.max_idle_bytes", "must be positive")
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		bad("log.format", "must be json or text, got %q", c.Log.Format)
	}
	if c.Metrics.Enabled && !strings.HasPrefix(c.Metrics.Path, "/") {
		bad("metrics.path", "must start with /, got %q", c.Metrics.Path)
	}
	if c.Admin.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			bad("admin.listen", "%q is not host:port", c.Admin.Listen)
		}
		if len(c.Admin.Token) < 16 {
			bad("admin.token", "required (16+ characters) when admin.listen is set")
		}
	}
	errs = append(errs, c.Lambda.validate()...)
	errs = append(errs, fielderr.Under("tracing", c.Tracing.Validate()))
	if c.Store.Kind == StoreRedis {
		errs = append(errs, fielderr.Under("store.redis", c.RedisOptions().Validate()))
	}
	errs = append(errs, fielderr.Under("plugins", c.Plugins.Validate()))
	return errors.Join(errs...)
}

func (l Lambda) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fielderr.Errorf("lambda."+key, format, args...))
	}
	if l.Workers < 1 {
		bad("workers", "must be positive, got %d", l.Workers)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"post_budget", l.PostBudget}, {"post_timeout", l.PostTimeout}, {"order_wait", l.OrderWait}, {"order_lease", l.OrderLease}} {
		if d.v <= 0 {
			bad(d.key, "must be positive")
		}
	}
	if l.MetricsEvery == 0 {
		bad("metrics_every", "must not be 0 (negative: after every invocation)")
	}
	if l.MetricsSamples < 0 {
		bad("metrics_samples", "must not be negative (0: counts only), got %d", l.MetricsSamples)
	}
	if l.SweepLimit < 1 {
		bad("sweep_limit", "must be positive, got %d", l.SweepLimit)
	}
	return errs
}

// loopback reports whether addr (host:port) only listens on loopback:
// a loopback IP or "localhost". An empty host listens everywhere.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
