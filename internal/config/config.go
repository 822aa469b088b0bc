package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/tracing"
	"github.com/classgate/classgate/core/auth"
	"github.com/classgate/classgate/core/memory"
	"github.com/classgate/classgate/plugins/host"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "CLASSGATE_"

// Config is the whole gateway configuration. See configs/gateway.yaml.
type Config struct {
	Node    Node           `koanf:"node"`
	Server  Server         `koanf:"server"`
	Auth    Auth           `koanf:"auth"`
	Limits  Limits         `koanf:"limits"`
	History History        `koanf:"history"`
	Dedupe  Dedupe         `koanf:"dedupe"`
	Store   Store          `koanf:"store"`
	Dev     Dev            `koanf:"dev"`
	Log     Log            `koanf:"log"`
	Metrics Metrics        `koanf:"metrics"`
	Admin   Admin          `koanf:"admin"`
	Tracing tracing.Config `koanf:"tracing"`
	Runtime Runtime        `koanf:"runtime"`
	// Plugins selects the WebAssembly plugin of each namespace. The
	// embedded chat, whiteboard and presence are configured by default.
	Plugins host.Config `koanf:"plugins"`
}

// Node identifies this gateway node.
type Node struct {
	// ID names the node in the registry; default: hostname-pid.
	ID string `koanf:"id"`
}

// Server configures the standalone WebSocket listener.
type Server struct {
	Listen          string        `koanf:"listen"`
	AllowedOrigins  []string      `koanf:"allowed_origins"`
	ReadLimit       int64         `koanf:"read_limit"`
	SendQueue       int           `koanf:"send_queue"`
	WriteTimeout    time.Duration `koanf:"write_timeout"`
	PingInterval    time.Duration `koanf:"ping_interval"`
	MaxConnections  int           `koanf:"max_connections"`
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	// IOUring lets room fan-out submit its socket writes together with
	// io_uring where the kernel allows it (it falls back by itself).
	IOUring bool `koanf:"io_uring"`

	// MaxConnectionsPerUser caps one user's (token sub's) open
	// connections on this node (HTTP 503 past it); 0 means no cap.
	// (server.max_connections: 0 derives the node's cap from the
	// file-descriptor limit, see wsserver.FDConnectionLimit.)
	MaxConnectionsPerUser int `koanf:"max_connections_per_user"`
	// IdleTimeout closes keep-alive HTTP connections idle this long.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// ReadHeaderTimeout closes connections that do not send their request
	// headers within this time.
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`
}

// Auth configures token validation.
type Auth struct {
	HS256Secret string        `koanf:"hs256_secret"`
	PublicKeys  []string      `koanf:"public_keys"`
	JWKSFile    string        `koanf:"jwks_file"`
	Roles       []string      `koanf:"roles"`
	Leeway      time.Duration `koanf:"leeway"`
	// Issuer, when set, is required in every token's iss claim.
	Issuer string `koanf:"issuer"`
	// Audience, when set, must be in every token's aud claim.
	Audience string `koanf:"audience"`
	// MaxTokenLifetime refuses tokens whose exp lies further than this
	// after their iat or after now; 0 means no limit.
	MaxTokenLifetime time.Duration `koanf:"max_token_lifetime"`
}

// VerifierOptions returns the core/auth options these settings describe,
// reading the key files. The standalone gateway and the Lambda authorizer
// both build their Verifier from it.
func (a Auth) VerifierOptions() (auth.Options, error) {
	o := auth.Options{HS256Secret: []byte(a.HS256Secret), Roles: a.Roles, Leeway: a.Leeway,
		Issuer: a.Issuer, Audience: a.Audience, MaxLifetime: a.MaxTokenLifetime}
	for _, p := range a.PublicKeys {
		b, err := os.ReadFile(p)
		if err != nil {
			return o, fmt.Errorf("auth.public_keys: %w", err)
		}
		o.PublicKeysPEM = append(o.PublicKeysPEM, b)
	}
	if a.JWKSFile != "" {
		b, err := os.ReadFile(a.JWKSFile)
		if err != nil {
			return o, fmt.Errorf("auth.jwks_file: %w", err)
		}
		o.JWKS = b
	}
	return o, nil
}

// Limits bound what one connection may do.
type Limits struct {
	RatePerSecond   float64 `koanf:"rate_per_second"`
	RateBurst       int     `koanf:"rate_burst"`
	AbuseLimit      int     `koanf:"abuse_limit"`
	MaxRoomsPerConn int     `koanf:"max_rooms_per_conn"`
	MaxMessageBytes int     `koanf:"max_message_bytes"`
}

// History bounds each room's replayable history.
type History struct {
	Limit int           `koanf:"limit"`
	Age   time.Duration `koanf:"age"`
}

// Dedupe sets how long client message ids are remembered.
type Dedupe struct {
	Window time.Duration `koanf:"window"`
}

// Store selects the storage backend.
type Store struct {
	Kind        string        `koanf:"kind"`
	LivenessTTL time.Duration `koanf:"liveness_ttl"`
	// Memory bounds the in-memory store (store.kind: memory).
	Memory MemoryStore `koanf:"memory"`
	// Redis configures the Redis store (store.kind: redis). Its history,
	// liveness and node settings default to history.*, store.liveness_ttl
	// and node.id.
	Redis redis.Options `koanf:"redis"`
}

// MemoryStore bounds what the in-memory store keeps of idle rooms (no
// members on the node): past either cap the least recently used idle room
// is evicted with its history and state (docs/OPERATIONS.md "Memory").
type MemoryStore struct {
	MaxIdleRooms int   `koanf:"max_idle_rooms"`
	MaxIdleBytes int64 `koanf:"max_idle_bytes"`
}

// Dev enables development helpers (token endpoint). Never in production.
type Dev struct {
	Enabled bool `koanf:"enabled"`
	// AllowNonLoopback lets dev mode listen on an address other than
	// loopback (anyone who reaches it can mint tokens); without it the
	// gateway refuses to start.
	AllowNonLoopback bool `koanf:"allow_non_loopback"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Enabled serves Prometheus metrics at /metrics on the admin listener,
	// behind its token.
	Enabled bool `koanf:"enabled"`
	// Public also serves them, without authentication, at Path on the main
	// (client-facing) listener. Off by default: they describe the
	// deployment to anyone who can reach it.
	Public bool   `koanf:"public"`
	Path   string `koanf:"path"`
}

// Admin configures the operations API and dashboard.
type Admin struct {
	// Listen is the admin listener's address; empty disables it.
	Listen string `koanf:"listen"`
	// Token is the bearer token every admin call needs (16+ characters).
	Token string `koanf:"token"`
	// Pprof serves net/http/pprof under /debug/pprof/ on the admin listener.
	Pprof bool `koanf:"pprof"`
}

// Runtime tunes the Go runtime of the gateway process.
type Runtime struct {
	// GCPercent is the garbage collector's target (GOGC): the heap may grow
	// to live × (1 + GCPercent/100) before a collection. Default 50: most
	// of a gateway's memory is per-connection state that lives as long as
	// the connection, and Go's 100 lets an idle process hold twice that;
	// 50 costs a few percent more CPU under load (docs/PERFORMANCE.md). 0
	// leaves Go's setting; the GOGC environment variable, when set, wins.
	GCPercent int `koanf:"gc_percent"`
}

// Log configures log/slog output.
type Log struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"`
}

// Defaults returns the configuration used when nothing overrides it.
func Defaults() map[string]any {
	return map[string]any{
		"node.id":                   "",
		"server.listen":             "127.0.0.1:8080",
		"server.allowed_origins":    []string{},
		"server.read_limit":         1 << 20,
		"server.send_queue":         512,
		"server.write_timeout":      "10s",
		"server.ping_interval":      "30s",
		"server.max_connections":    0,
		"server.shutdown_timeout":   "10s",
		"server.io_uring":           true,
		"auth.hs256_secret":         "",
		"auth.public_keys":          []string{},
		"auth.jwks_file":            "",
		"auth.roles":                []string{"teacher", "student"},
		"auth.leeway":               "0s",
		"limits.rate_per_second":    50.0,
		"limits.rate_burst":         200,
		"limits.abuse_limit":        100,
		"limits.max_rooms_per_conn": 16,
		"limits.max_message_bytes":  64 << 10,
		"history.limit":             1000,
		"history.age":               "1h",
		"dedupe.window":             "5m",
		"store.kind":                "memory",
		"store.liveness_ttl":        "30s",
		"dev.enabled":               false,
		"log.level":                 "info",
		"log.format":                "json",
		"metrics.enabled":           true,
		"metrics.path":              "/metrics",
		"admin.listen":              "",
		"admin.token":               "",
		"admin.pprof":               false,
		"tracing.endpoint":          "",
		"tracing.sample_ratio":      0.0,
		"tracing.service_name":      "classgate",
		"tracing.timeout":           "10s",
		"runtime.gc_percent":        50,

		// Idle rooms of the memory store (docs/OPERATIONS.md "Memory").
		"store.memory.max_idle_rooms": memory.DefaultMaxIdleRooms,
		"store.memory.max_idle_bytes": memory.DefaultMaxIdleBytes,

		// Connection hygiene, token checks, dev and metrics exposure
		// (docs/OPERATIONS.md "Connections, tokens and memory").
		"server.max_connections_per_user": 20,
		"server.idle_timeout":             "60s",
		"server.read_header_timeout":      "10s",
		"auth.issuer":                     "",
		"auth.audience":                   "",
		"auth.max_token_lifetime":         "24h",
		"dev.allow_non_loopback":          false,
		"metrics.public":                  false,

		// The classroom plugins are always configured; a file or the
		// environment overrides their settings, adds namespaces, or turns
		// one off with disable: ["*"].
		"plugins.namespaces.chat.source":       host.EmbeddedPrefix + "chat",
		"plugins.namespaces.whiteboard.source": host.EmbeddedPrefix + "whiteboard",
		"plugins.namespaces.presence.source":   host.EmbeddedPrefix + "presence",
	}
}

// Load reads defaults, then the YAML file (if path is not empty), then the
// environment (environ, e.g. os.Environ()), then overrides (flag values by
// key path), and validates the result.
func Load(path string, environ []string, overrides map[string]any) (*Config, error) {
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(Defaults(), "."), nil); err != nil {
		return nil, fmt.Errorf("config: defaults: %w", err)
	}
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	err := k.Load(env.Provider(".", env.Opt{
		Prefix:        EnvPrefix,
		EnvironFunc:   func() []string { return environ },
		TransformFunc: envKey,
	}), nil)
	if err != nil {
		return nil, fmt.Errorf("config: environment: %w", err)
	}
	if len(overrides) > 0 {
		if err := k.Load(confmap.Provider(overrides, "."), nil); err != nil {
			return nil, fmt.Errorf("config: flags: %w", err)
		}
	}
	var c Config
	if err := unmarshal(k, &c); err != nil {
		return nil, err
	}
	switch c.Plugins.CacheDir {
	case "":
		// Compiling the plugins takes seconds; a disk cache makes every
		// start after the first fast.
		if d, err := os.UserCacheDir(); err == nil {
			c.Plugins.CacheDir = filepath.Join(d, "classgate", "wazero")
		}
	case "none":
		c.Plugins.CacheDir = ""
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// envKey maps CLASSGATE_SERVER__LISTEN to server.listen.
func envKey(k, v string) (string, any) {
	k = strings.ToLower(strings.TrimPrefix(k, EnvPrefix))
	return strings.ReplaceAll(k, "__", "."), v
}

func unmarshal(k *koanf.Koanf, c *Config) error {
	var md mapstructure.Metadata
	dc := &mapstructure.DecoderConfig{
		Result:           c,
		TagName:          "koanf",
		WeaklyTypedInput: true,
		Metadata:         &md,
		ErrorUnused:      true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
	}
	if err := k.UnmarshalWithConf("", c, koanf.UnmarshalConf{DecoderConfig: dc}); err != nil {
		return fmt.Errorf("config: %w", cleanDecodeErr(err))
	}
	return nil
}

// cleanDecodeErr turns mapstructure's messages into "key: problem" lines.
func cleanDecodeErr(err error) error {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, "decoding failed due to the following error(s):\n\n", "")
	msg = strings.ReplaceAll(msg, "has invalid keys:", "unknown key(s):")
	return errors.New(msg)
}

// Validate checks values that decode but make no sense, naming the key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
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
	if c.Server.WriteTimeout <= 0 {
		bad("server.write_timeout", "must be positive")
	}
	if c.Server.ShutdownTimeout <= 0 {
		bad("server.shutdown_timeout", "must be positive")
	}
	if c.Server.MaxConnections < 0 {
		bad("server.max_connections", "must be 0 (derived from the file-descriptor limit) or positive, got %d", c.Server.MaxConnections)
	}
	if c.Server.MaxConnectionsPerUser < 0 {
		bad("server.max_connections_per_user", "must be 0 (no cap) or positive, got %d", c.Server.MaxConnectionsPerUser)
	}
	if c.Server.IdleTimeout <= 0 {
		bad("server.idle_timeout", "must be positive")
	}
	if c.Server.ReadHeaderTimeout <= 0 {
		bad("server.read_header_timeout", "must be positive")
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
	if c.Auth.HS256Secret == "" && len(c.Auth.PublicKeys) == 0 && c.Auth.JWKSFile == "" {
		bad("auth.hs256_secret", "required (or auth.public_keys / auth.jwks_file): no way to verify tokens")
	} else if c.Auth.HS256Secret != "" && len(c.Auth.HS256Secret) < 32 {
		bad("auth.hs256_secret", "must be at least 32 characters")
	}
	if len(c.Auth.Roles) == 0 {
		bad("auth.roles", "must list at least one role")
	}
	if c.Limits.RatePerSecond < 0 || c.Limits.RateBurst < 1 {
		bad("limits.rate_per_second", "rate must be >= 0 and limits.rate_burst >= 1")
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
	if c.History.Age <= 0 {
		bad("history.age", "must be positive")
	}
	if c.Dedupe.Window <= 0 {
		bad("dedupe.window", "must be positive")
	}
	switch c.Store.Kind {
	case "memory", "redis":
	default:
		bad("store.kind", "must be memory or redis, got %q", c.Store.Kind)
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
	if err := c.Tracing.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Store.Kind == "redis" {
		if err := c.RedisOptions().Validate(); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				errs = append(errs, fmt.Errorf("store.redis.%s", strings.TrimPrefix(line, "redis: ")))
			}
		}
	}
	if err := c.Plugins.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			errs = append(errs, fmt.Errorf("plugins.%s", line))
		}
	}
	return errors.Join(errs...)
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
