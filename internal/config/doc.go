// Package config loads and validates the gateway's configuration with
// github.com/knadh/koanf/v2: defaults, then an optional YAML file, then
// CLASSGATE_* environment overrides (key path with "__" between levels,
// e.g. CLASSGATE_SERVER__LISTEN), then flags. Unknown keys and bad values
// are errors naming the key, reported before any socket opens.
// configs/gateway.yaml documents every key with its default.
package config
