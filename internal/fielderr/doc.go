// Package fielderr is the typed error of a configuration value: the key
// it belongs to and what is wrong with it. Options types (redis.Options,
// host.Config) report their fields with it under their own key names, and
// internal/config moves them under the key path of the whole
// configuration with Under, without parsing error strings.
package fielderr
