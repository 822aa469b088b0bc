package config

import (
	"strings"
	"time"

	"github.com/classgate/classgate/adapters/awsapigw/defaults"
	"github.com/classgate/classgate/adapters/jwt"
	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/wsserver"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
	"github.com/classgate/classgate/plugins/host"
)

// Defaults returns the configuration used when nothing overrides it: every
// key configs/gateway.yaml states, with the value it states
// (TestReferenceConfigStatesDefaults). Where a component has its own
// default for a zero option, the value here quotes that component's
// constant, so each default is written once.
func Defaults() map[string]any {
	d := map[string]any{
		"node.id": "",

		"server.listen":                   "127.0.0.1:8080",
		"server.allowed_origins":          []string{},
		"server.read_limit":               wsserver.DefaultReadLimit,
		"server.send_queue":               wsserver.DefaultSendQueue,
		"server.write_timeout":            dur(wsserver.DefaultWriteTimeout),
		"server.ping_interval":            dur(wsserver.DefaultPingInterval),
		"server.shed_after":               dur(wsserver.DefaultShedAfter),
		"server.max_connections":          0,
		"server.max_connections_per_user": 20,
		"server.idle_timeout":             "60s",
		"server.read_header_timeout":      "10s",
		"server.shutdown_timeout":         "10s",
		"server.io_uring":                 true,

		"auth.hs256_secret":       "",
		"auth.public_keys":        []string{},
		"auth.jwks_file":          "",
		"auth.jwks_urls":          []string{},
		"auth.jwks_refresh":       dur(jwt.DefaultJWKSRefresh),
		"auth.roles":              []string{"teacher", "student"},
		"auth.leeway":             "0s",
		"auth.issuer":             "",
		"auth.audience":           "",
		"auth.max_token_lifetime": "24h",

		"limits.rate_per_second":    core.DefaultRatePerSecond,
		"limits.rate_burst":         core.DefaultRateBurst,
		"limits.abuse_limit":        core.DefaultAbuseLimit,
		"limits.max_rooms_per_conn": core.DefaultMaxRoomsPerConn,
		"limits.max_message_bytes":  core.DefaultMaxMessageBytes,

		"history.limit": redis.DefaultHistoryLimit,
		"history.age":   dur(redis.DefaultHistoryAge),
		"dedupe.window": dur(core.DefaultDedupeWindow),

		"store.kind":         StoreMemory,
		"store.liveness_ttl": dur(redis.DefaultLivenessTTL),
		// Idle rooms of the memory store (docs/OPERATIONS.md "Memory").
		"store.memory.max_idle_rooms": memory.DefaultMaxIdleRooms,
		"store.memory.max_idle_bytes": memory.DefaultMaxIdleBytes,
		// store.redis.history_limit, history_age, liveness_ttl, node and
		// idle_room_ttl are left out: their zero takes history.*,
		// store.liveness_ttl and node.id (RedisOptions).
		"store.redis.mode":              redis.ModeSingle,
		"store.redis.addr":              "", // empty: redis.DefaultAddr in single mode; must stay empty in the others
		"store.redis.addrs":             []string{},
		"store.redis.master_name":       "",
		"store.redis.username":          "",
		"store.redis.password":          "",
		"store.redis.sentinel_username": "",
		"store.redis.sentinel_password": "",
		"store.redis.tls.enabled":       false,
		"store.redis.tls.ca_file":       "",
		"store.redis.tls.cert_file":     "",
		"store.redis.tls.key_file":      "",
		"store.redis.tls.server_name":   "",
		"store.redis.db":                0,
		"store.redis.prefix":            redis.DefaultPrefix,
		"store.redis.wait_replicas":     0,
		"store.redis.wait_timeout":      dur(redis.DefaultWaitTimeout),
		"store.redis.dial_timeout":      dur(redis.DefaultDialTimeout),
		"store.redis.op_timeout":        dur(redis.DefaultOpTimeout),

		"dev.enabled":            false,
		"dev.allow_non_loopback": false,
		"runtime.gc_percent":     50,
		"log.level":              "info",
		"log.format":             "json",
		"metrics.enabled":        true,
		"metrics.public":         false,
		"metrics.path":           "/metrics",
		"admin.listen":           "",
		"admin.token":            "",
		"admin.pprof":            false,

		"tracing.endpoint":     "",
		"tracing.headers":      map[string]any{},
		"tracing.sample_ratio": 0.0,
		"tracing.service_name": "classgate",
		"tracing.timeout":      "10s",

		"plugins.cache_dir": "",

		// The Lambda deployment's own settings (cmd/gateway-lambda); the
		// components' defaults are adapters/awsapigw/defaults' constants.
		"lambda.config":            "",
		"lambda.endpoint":          "",
		"lambda.workers":           defaults.Workers,
		"lambda.post_budget":       dur(defaults.PostBudget),
		"lambda.post_timeout":      dur(defaults.PostTimeout),
		"lambda.order":             true,
		"lambda.order_wait":        dur(defaults.OrderWait),
		"lambda.order_lease":       dur(defaults.OrderLease),
		"lambda.expiry_every":      dur(defaults.ExpiryEvery),
		"lambda.sweep_every":       dur(defaults.SweepEvery),
		"lambda.sweep_limit":       defaults.SweepLimit,
		"lambda.metrics_namespace": "Classgate",
		"lambda.metrics_every":     dur(defaults.MetricsEvery),
		"lambda.metrics_samples":   defaults.MetricsSamples,
		"lambda.compile_cache":     true,
		"lambda.cache_seed":        "",
		"lambda.secrets":           "",
		"lambda.secrets_endpoint":  "",
		"lambda.authorizer_deny":   false,
	}
	// The classroom plugins are always configured, with every setting
	// spelled out; a file or the environment overrides them, adds
	// namespaces, or turns one off with disable: ["*"].
	for _, ns := range []string{"chat", "whiteboard", "presence"} {
		p := "plugins.namespaces." + ns + "."
		d[p+"source"] = host.EmbeddedPrefix + ns
		d[p+"config"] = map[string]any{}
		d[p+"on_failure"] = host.DefaultOnFailure
		d[p+"pool_size"] = 0
		d[p+"memory_pages"] = host.DefaultMemoryPages
		d[p+"timeout"] = dur(host.DefaultTimeout)
	}
	// chat states every key of a namespace in configs/gateway.yaml.
	for k, v := range map[string]any{
		"sha256": "", "enable": []string{}, "disable": []string{}, "rollout": 0,
		"failure_budget": host.DefaultFailureBudget, "failure_window": dur(host.DefaultFailureWindow),
		"move_live_rooms": false, "canary.source": "", "canary.sha256": "", "canary.percent": 0,
	} {
		d["plugins.namespaces.chat."+k] = v
	}
	return d
}

// dur writes d as configs/gateway.yaml does: 1h, not 1h0m0s.
func dur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
