package host

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/classgate/classgate/internal/fielderr"
)

// Config selects and limits the plugins. The zero value of a field means its
// default (see the constants below); DefaultConfig returns the configuration
// that serves the three embedded classroom plugins with every default
// spelled out. Keys are given as koanf paths relative to where the embedding
// program mounts this struct (e.g. "plugins.").
type Config struct {
	// CacheDir is the directory of the compilation cache shared by all
	// plugins (koanf "cache_dir"). Empty: an in-memory cache, so a process
	// compiles each distinct module once; set it to make restarts fast.
	CacheDir string `koanf:"cache_dir"`
	// Namespaces maps a namespace (the part of a frame type before the dot)
	// to its plugin (koanf "namespaces.<ns>").
	Namespaces map[string]Plugin `koanf:"namespaces"`
}

// Plugin configures one namespace.
type Plugin struct {
	// Source is a path to a .wasm file, or "embedded:<name>" for a plugin
	// compiled into the binary (chat, whiteboard, presence). Required.
	Source string `koanf:"source"`
	// SHA256, when set, pins the file: a module whose hex sha256 differs is
	// refused.
	SHA256 string `koanf:"sha256"`
	// Config is the plugin's own configuration subtree, passed to it as a
	// JSON object at load.
	Config map[string]any `koanf:"config"`
	// Enable lists the room patterns where the namespace is enabled (exact
	// id, "prefix*" or "*"); empty means every room. Disable lists patterns
	// where it is not, and wins over Enable.
	Enable  []string `koanf:"enable"`
	Disable []string `koanf:"disable"`
	// Rollout, 1–100, enables the namespace in that percent of the rooms
	// Enable and Disable allow, chosen by RolloutBucket (a stable hash of
	// the namespace and room id, independent of the canary's); 0 means all
	// of them. Raising it by a reload only adds rooms: a room that has the
	// feature keeps it. Lowering it turns the feature off in the rooms above
	// the new share on their next frame, like Disable (an operator's
	// rollback).
	Rollout int `koanf:"rollout"`
	// OnFailure is what a failed call (trap, timeout, exit, protocol
	// violation, plugin error) does: "reject" (default: the sender gets
	// plugin_error), "pass" (the frame reaches the room only as an
	// ephemeral event "<namespace>.unvalidated" {"type","data"} with the
	// sender in "from" — never stored, never given a seq, no state change;
	// joins and leaves get no plugin output; invalid output, frames that
	// are not valid UTF-8 JSON and refusals of a spent failure budget are
	// plugin_error) or "reload" (plugin_error, and the plugin's file is
	// re-read and every instance replaced). Metrics count the failure under
	// its own outcome whatever the policy.
	OnFailure string `koanf:"on_failure"`
	// PoolSize is the most instances run at once (default 0: DefaultPoolSize,
	// one per CPU the Go scheduler uses, at least 2). Each instance is bound
	// to the room of the calls it serves (ABI.md §2, the isolation
	// contract), so PoolSize is also how many rooms per node keep a warm
	// instance: a call for a room with none takes a fresh instance, creates
	// one while the pool is not full, or resets the least recently used
	// idle instance of another room (the pages it wrote copied back from
	// the snapshot, ~20 µs on the project's VM, about a call's cost; or a
	// new instance from the snapshot, a few ms, when its memory grew;
	// BenchmarkReset, BenchmarkRoomSwitch). An instance shares the
	// snapshot's pages with the others and holds privately only what it
	// wrote (under 1 MiB for chat after 10,000 messages,
	// BenchmarkInstanceMemory). One is created at load.
	PoolSize int `koanf:"pool_size"`
	// MemoryPages caps each instance's linear memory in 64 KiB pages
	// (default 1024 = 64 MiB).
	MemoryPages int `koanf:"memory_pages"`
	// Timeout is the deadline of one call (default 500ms), in wall-clock
	// time, stretched on a node whose Go scheduler runs late (by twice its
	// recent 99th percentile latency, at most MaxStretch × Timeout:
	// overload.go). A call that runs longer is aborted and its instance
	// discarded.
	Timeout time.Duration `koanf:"timeout"`
	// FailureBudget is how many failed calls (timeouts, crashes, panics,
	// errors, ABI violations, invalid output, limits) one sender — a user
	// id, or a connection without one — may cause this plugin within
	// FailureWindow (default 0: DefaultFailureBudget; negative: no budget).
	// Once it is spent, that sender's frames to this namespace are refused
	// at once with plugin_error, without calling the plugin, until the
	// window that began with its first failure ends; other senders, and the
	// sender's joins and leaves, are served as usual. So one student
	// sending looping frames backs the room up for at most FailureBudget ×
	// Timeout per window.
	FailureBudget int `koanf:"failure_budget"`
	// FailureWindow is the window of FailureBudget (default 0:
	// DefaultFailureWindow).
	FailureWindow time.Duration `koanf:"failure_window"`
	// MoveLiveRooms, set in the configuration a reload applies, moves the
	// live rooms of this namespace that run a version this configuration
	// no longer has (a replaced file, a removed canary) to the configured
	// versions on their next frame, with their state. Without it a live
	// room keeps the version it started with until it empties. Either way
	// state compatibility between versions is the plugin's concern.
	MoveLiveRooms bool `koanf:"move_live_rooms"`
	// Canary optionally serves a second version to a share of rooms.
	Canary Canary `koanf:"canary"`
}

// Canary is a second version of a namespace's plugin, served to Percent of
// rooms chosen by a stable hash (FNV-1a) of the room id. A room keeps the
// version it started with until it empties, as long as that version is still
// configured.
type Canary struct {
	// Source and SHA256 as in Plugin; an empty Source means no canary.
	Source string `koanf:"source"`
	SHA256 string `koanf:"sha256"`
	// Percent of rooms (0–100) served by the canary.
	Percent int `koanf:"percent"`
	// Config replaces the stable version's Config when not nil.
	Config map[string]any `koanf:"config"`
}

// Defaults applied to zero fields.
const (
	DefaultMemoryPages = 1024
	DefaultTimeout     = 500 * time.Millisecond
	DefaultOnFailure   = PolicyReject
	// DefaultFailureBudget and DefaultFailureWindow: 3 failed calls per
	// sender per minute (3 × the default timeout = 1.5 s of a room's time).
	DefaultFailureBudget = 3
	DefaultFailureWindow = time.Minute
)

// DefaultPoolSize is the pool size used when PoolSize is 0:
// runtime.GOMAXPROCS, at least MinDefaultPoolSize (so one stuck call never
// blocks a plugin).
func DefaultPoolSize() int { return max(MinDefaultPoolSize, runtime.GOMAXPROCS(0)) }

// MinDefaultPoolSize is the least DefaultPoolSize.
const MinDefaultPoolSize = 2

// Failure policies (Plugin.OnFailure).
const (
	PolicyReject = "reject"
	PolicyPass   = "pass"
	PolicyReload = "reload"
)

// Limits of the configurable values.
const (
	MaxPoolSize    = 256
	MaxMemoryPages = 65536
	MaxTimeout     = time.Minute
	// MaxFailureWindow bounds FailureWindow.
	MaxFailureWindow = 24 * time.Hour
)

// EmbeddedPrefix marks a Source that names an embedded plugin.
const EmbeddedPrefix = "embedded:"

// DefaultConfig serves the embedded chat, whiteboard and presence plugins in
// every room, with every default spelled out.
func DefaultConfig() Config {
	ns := map[string]Plugin{}
	for _, name := range []string{"chat", "presence", "whiteboard"} {
		ns[name] = Plugin{
			Source:      EmbeddedPrefix + name,
			Config:      map[string]any{},
			OnFailure:   DefaultOnFailure,
			PoolSize:    DefaultPoolSize(),
			MemoryPages: DefaultMemoryPages,
			Timeout:     DefaultTimeout,

			FailureBudget: DefaultFailureBudget,
			FailureWindow: DefaultFailureWindow,
		}
	}
	return Config{Namespaces: ns}
}

var namespaceRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Validate checks the configuration without loading anything and returns
// every problem found, each naming its key ("namespaces.chat.timeout: …").
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fielderr.Errorf(key, format, args...))
	}
	for _, ns := range c.sortedNamespaces() {
		p := c.Namespaces[ns]
		key := "namespaces." + ns
		if !namespaceRE.MatchString(ns) {
			bad(key, "namespace must match %s", namespaceRE)
		}
		checkSource(bad, key, p.Source, p.SHA256, true)
		if _, err := configJSON(p.Config); err != nil {
			bad(key+".config", "%v", err)
		}
		for i, pat := range p.Enable {
			if strings.TrimSpace(pat) == "" {
				bad(fmt.Sprintf("%s.enable[%d]", key, i), "empty room pattern")
			}
		}
		for i, pat := range p.Disable {
			if strings.TrimSpace(pat) == "" {
				bad(fmt.Sprintf("%s.disable[%d]", key, i), "empty room pattern")
			}
		}
		if p.Rollout < 0 || p.Rollout > 100 {
			bad(key+".rollout", "%d is not between 0 (every room) and 100", p.Rollout)
		}
		switch p.OnFailure {
		case "", PolicyReject, PolicyPass, PolicyReload:
		default:
			bad(key+".on_failure", "%q is not one of reject, pass, reload", p.OnFailure)
		}
		if p.PoolSize < 0 || p.PoolSize > MaxPoolSize {
			bad(key+".pool_size", "%d is not between 1 and %d (0 = one per CPU, at least 2)", p.PoolSize, MaxPoolSize)
		}
		if p.MemoryPages < 0 || p.MemoryPages > MaxMemoryPages {
			bad(key+".memory_pages", "%d is not between 1 and %d (0 = default %d)", p.MemoryPages, MaxMemoryPages, DefaultMemoryPages)
		}
		if p.Timeout < 0 || p.Timeout > MaxTimeout {
			bad(key+".timeout", "%s is not between 1ns and %s (0 = default %s)", p.Timeout, MaxTimeout, DefaultTimeout)
		}
		if p.FailureWindow < 0 || p.FailureWindow > MaxFailureWindow {
			bad(key+".failure_window", "%s is not between 1ns and %s (0 = default %s)", p.FailureWindow, MaxFailureWindow, DefaultFailureWindow)
		}
		cn := p.Canary
		if cn.Source == "" {
			if cn.SHA256 != "" || cn.Percent != 0 || cn.Config != nil {
				bad(key+".canary.source", "required when other canary keys are set")
			}
			continue
		}
		checkSource(bad, key+".canary", cn.Source, cn.SHA256, false)
		if cn.Percent < 0 || cn.Percent > 100 {
			bad(key+".canary.percent", "%d is not between 0 and 100", cn.Percent)
		}
		if _, err := configJSON(cn.Config); err != nil {
			bad(key+".canary.config", "%v", err)
		}
	}
	return errors.Join(errs...)
}

func checkSource(bad func(key, format string, args ...any), key, source, sum string, required bool) {
	switch {
	case source == "" && required:
		bad(key+".source", "required (a .wasm path or embedded:<name>)")
	case strings.HasPrefix(source, EmbeddedPrefix) && source == EmbeddedPrefix:
		bad(key+".source", "embedded: needs a plugin name")
	}
	if sum != "" {
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			bad(key+".sha256", "must be 64 hex digits")
		}
	}
}

func (c Config) sortedNamespaces() []string {
	out := make([]string, 0, len(c.Namespaces))
	for ns := range c.Namespaces {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// configJSON encodes a plugin config subtree as a JSON object.
func configJSON(m map[string]any) ([]byte, error) {
	if m == nil {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("not encodable as JSON: %w", err)
	}
	return b, nil
}

// withDefaults returns p with zero fields set to their defaults.
func (p Plugin) withDefaults() Plugin {
	if p.OnFailure == "" {
		p.OnFailure = DefaultOnFailure
	}
	if p.PoolSize == 0 {
		p.PoolSize = DefaultPoolSize()
	}
	if p.MemoryPages == 0 {
		p.MemoryPages = DefaultMemoryPages
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.FailureBudget == 0 {
		p.FailureBudget = DefaultFailureBudget
	}
	if p.FailureWindow == 0 {
		p.FailureWindow = DefaultFailureWindow
	}
	p.Enable = slices.Clone(p.Enable)
	p.Disable = slices.Clone(p.Disable)
	return p
}
