// Package config loads and validates the configuration of every classgate
// program (the standalone gateway, the Lambda function, the authorizer)
// with github.com/knadh/koanf/v2: Defaults, then an optional YAML file,
// then CLASSGATE_* environment overrides (key path with "__" between
// levels, e.g. CLASSGATE_SERVER__LISTEN), then flags. Unknown keys and bad
// values are *fielderr.Error values naming the key, reported before any
// socket opens. configs/gateway.yaml states every key with its default
// (tested).
//
// It is the composition layer: it produces each component's options
// (RouterOptions, LambdaRouterOptions, ServerOptions, MemoryOptions,
// RedisOptions, VerifierOptions, the plugin host's Config, Lambda) and
// opens the store store.kind names (OpenStore). Only cmd/... imports it.
package config
