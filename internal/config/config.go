package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"github.com/classgate/classgate/adapters/jwt"
	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/tracing"
	"github.com/classgate/classgate/internal/fielderr"
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
	// Lambda holds the settings only the AWS Lambda deployment reads
	// (cmd/gateway-lambda, cmd/authorizer); the standalone gateway
	// accepts and ignores them.
	Lambda Lambda `koanf:"lambda"`
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
	Listen         string        `koanf:"listen"`
	AllowedOrigins []string      `koanf:"allowed_origins"`
	ReadLimit      int64         `koanf:"read_limit"`
	SendQueue      int           `koanf:"send_queue"`
	WriteTimeout   time.Duration `koanf:"write_timeout"`
	PingInterval   time.Duration `koanf:"ping_interval"`
	// ShedAfter is how long a connection's frames may queue behind each
	// other before its plugin frames are answered rate_limited (negative
	// disables; wsserver.Options.ShedAfter).
	ShedAfter       time.Duration `koanf:"shed_after"`
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
	HS256Secret string   `koanf:"hs256_secret"`
	PublicKeys  []string `koanf:"public_keys"`
	JWKSFile    string   `koanf:"jwks_file"`
	// JWKSURLs are JSON Web Key Sets fetched at start, then every
	// JWKSRefresh and when a token names a kid not yet known (key
	// rotation without a restart).
	JWKSURLs    []string      `koanf:"jwks_urls"`
	JWKSRefresh time.Duration `koanf:"jwks_refresh"`
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

// VerifierOptions returns the token verifier's options (adapters/jwt)
// these settings describe, reading the key files. The standalone gateway
// and the Lambda authorizer both build their Verifier from it
// (jwt.New).
func (a Auth) VerifierOptions() (jwt.Options, error) {
	o := jwt.Options{HS256Secret: []byte(a.HS256Secret), JWKSURLs: a.JWKSURLs, JWKSRefresh: a.JWKSRefresh,
		Roles: a.Roles, Leeway: a.Leeway, Issuer: a.Issuer, Audience: a.Audience, MaxLifetime: a.MaxTokenLifetime}
	for _, p := range a.PublicKeys {
		b, err := os.ReadFile(p)
		if err != nil {
			return o, &fielderr.Error{Key: "auth.public_keys", Err: err}
		}
		o.PublicKeysPEM = append(o.PublicKeysPEM, b)
	}
	if a.JWKSFile != "" {
		b, err := os.ReadFile(a.JWKSFile)
		if err != nil {
			return o, &fielderr.Error{Key: "auth.jwks_file", Err: err}
		}
		o.JWKS = b
	}
	return o, nil
}

// Limits bound what one connection may do.
type Limits struct {
	// RatePerSecond is the per-connection token bucket's rate; 0 means no
	// rate limit, in the configuration and in core.Options alike.
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
	// Kind is memory or redis (StoreKinds lists them; OpenStore opens
	// the one named).
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

// Load reads defaults, then the YAML file (if path is not empty), then the
// environment (environ, e.g. os.Environ()), then overrides (flag values by
// key path), and validates the result. Its errors name the key at fault
// (*fielderr.Error, joined); Keys lists them.
func Load(path string, environ []string, overrides map[string]any) (*Config, error) {
	c, err := Read(path, environ, overrides)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Read is Load without Validate: the layers decoded, for a program that
// needs some keys (e.g. lambda.secrets) to complete the others before it
// loads them for good.
func Read(path string, environ []string, overrides map[string]any) (*Config, error) {
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
	return &c, nil
}

// Keys returns the key of every problem in an error of Load or Validate.
func Keys(err error) []string { return fielderr.Keys(err) }

// envKey maps CLASSGATE_SERVER__LISTEN to server.listen.
func envKey(k, v string) (string, any) {
	k = strings.ToLower(strings.TrimPrefix(k, EnvPrefix))
	return strings.ReplaceAll(k, "__", "."), v
}

// unmarshal decodes the tree into c. Unknown keys and values of the wrong
// type are *fielderr.Error naming the key.
func unmarshal(k *koanf.Koanf, c *Config) error {
	var md mapstructure.Metadata
	dc := &mapstructure.DecoderConfig{
		Result:           c,
		TagName:          "koanf",
		WeaklyTypedInput: true,
		Metadata:         &md,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			onOffHook,
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
	}
	var errs []error
	if err := k.UnmarshalWithConf("", c, koanf.UnmarshalConf{DecoderConfig: dc}); err != nil {
		errs = append(errs, decodeErrors(err)...)
	}
	for _, key := range md.Unused {
		errs = append(errs, fielderr.Errorf(key, "unknown key"))
	}
	return errors.Join(errs...)
}

// decodeErrors turns mapstructure's joined errors into *fielderr.Error,
// each naming its field's key (mapstructure.DecodeError.Name).
func decodeErrors(err error) []error {
	var de *mapstructure.DecodeError
	if errors.As(err, &de) && de == err {
		return []error{&fielderr.Error{Key: de.Name(), Err: de.Unwrap()}}
	}
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range u.Unwrap() {
			out = append(out, decodeErrors(e)...)
		}
		return out
	}
	if errors.As(err, &de) {
		return []error{&fielderr.Error{Key: de.Name(), Err: de.Unwrap()}}
	}
	return []error{fmt.Errorf("config: %w", err)}
}

// onOffHook lets a boolean key be written on or off (e.g.
// CLASSGATE_LAMBDA__ORDER=off), besides true and false.
func onOffHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Bool {
		return data, nil
	}
	switch strings.ToLower(strings.TrimSpace(data.(string))) {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return data, nil
}
