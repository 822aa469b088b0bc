package host

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/classgate/classgate/core"
)

// Host serves the configured plugins as core.Plugins.
type Host struct {
	logger *slog.Logger
	cache  wazero.CompilationCache

	mu   sync.Mutex // serialises Reload/Close; guards gen, pins, draining, variants' inflight/retired/draining/pins
	gen  *generation
	pins map[pinKey]*variant
	// draining holds, by key, the versions no longer configured that live
	// rooms still run (see Reload); each is closed when its last room
	// empties.
	draining map[string]*variant
	closed   bool
	reloadMu sync.Mutex

	// cur mirrors gen for the read-mostly lookups done on every frame
	// (Handler, Features), so they take no lock.
	cur atomic.Pointer[generation]
	obs atomic.Pointer[CallObserver]

	budgets *budgets
}

// CallObserver receives every plugin call, for metrics. plugin is the
// namespace, version the role of the variant that served the call
// (RoleStable, RoleCanary or RolePrevious), outcome one of the Outcome
// constants, d the time from the call reaching the host to its result
// (waiting for an instance included). This is the one declaration of the
// interface: adapters/metrics' *Metrics implements it (checked by a
// compile-time guard there) and counts each call once.
// Implementations must be cheap and safe for concurrent use.
type CallObserver interface {
	ObservePluginCall(plugin, version, outcome string, d time.Duration)
}

// MemoryObserver is implemented by a CallObserver that also wants to know
// what each call did to its instance's linear memory (classgate-plugin
// check). Measuring reads the instance's page map twice per call: for
// tools and tests, not for a serving gateway.
type MemoryObserver interface {
	ObserveCallMemory(plugin, version string, m CallMemory)
}

// CallMemory is what one call did to its instance's linear memory.
type CallMemory struct {
	// Size is the linear memory after the call, GrewBytes how much the
	// call grew it (memory.grow: the guest's heap needed more).
	Size, GrewBytes uint32
	// PagesWritten is how many 4 KiB pages the call wrote that the
	// instance had not written since it was made or reset from its
	// snapshot: its new private memory, and what the next reset copies
	// back. -1 when it cannot be known (no snapshot mapping on this
	// platform, or no instance ran).
	PagesWritten int

	overhead time.Duration // spent measuring; not counted in the call's time
}

// Call outcomes reported to a CallObserver. Each failure has its own, also
// when the failure policy ("pass") turned it into a result.
const (
	OutcomeOK          = "ok"          // the plugin answered and accepted
	OutcomeRejected    = "rejected"    // the plugin refused the frame (reject or forbid)
	OutcomeError       = "error"       // the plugin reported an error (ErrFailed)
	OutcomePanic       = "panic"       // the plugin panicked and recovered (ErrPanicked)
	OutcomeTimeout     = "timeout"     // the call ran past its deadline (ErrTimeout)
	OutcomeCrash       = "crash"       // the instance trapped, exited or ran out of memory (ErrCrashed)
	OutcomeABI         = "abi"         // the guest broke the ABI (ErrProtocol, ErrABI)
	OutcomeInit        = "init"        // no instance could be created for the call (instantiation or cg_init failed)
	OutcomeBadOutput   = "bad_output"  // the plugin emitted invalid output (ErrBadOutput)
	OutcomeLimit       = "limit"       // a per-call output limit was exceeded (ErrLimit)
	OutcomeRefused     = "refused"     // the sender's failure budget is spent (ErrRefused); the plugin was not called
	OutcomeUnavailable = "unavailable" // disabled by a reload, closed, or the caller gave up waiting
)

// Outcomes lists every outcome a CallObserver may receive.
var Outcomes = []string{OutcomeOK, OutcomeRejected, OutcomeError, OutcomePanic, OutcomeTimeout, OutcomeCrash,
	OutcomeABI, OutcomeInit, OutcomeBadOutput, OutcomeLimit, OutcomeRefused, OutcomeUnavailable}

// SetObserver makes o receive every call from now on.
func (h *Host) SetObserver(o CallObserver) { h.obs.Store(&o) }

var _ core.Plugins = (*Host)(nil)

type pinKey struct{ room, namespace string }

// generation is one applied configuration.
type generation struct {
	cfg       Config
	entries   map[string]*entry
	names     []string // sorted namespaces
	variantBy map[string]*variant
}

// entry is one namespace of a generation.
type entry struct {
	namespace string
	stable    *variant
	canary    *variant
	percent   int
	enable    []string
	disable   []string
	rollout   int // 0: every room enable/disable allow
	handler   *nsHandler

	failureBudget int // < 0: none
	failureWindow time.Duration
}

func (e *entry) enabled(room string) bool {
	for _, p := range e.disable {
		if core.MatchRoom(p, room) {
			return false
		}
	}
	if e.rollout > 0 && RolloutBucket(e.namespace, room) >= e.rollout {
		return false
	}
	if len(e.enable) == 0 {
		return true
	}
	for _, p := range e.enable {
		if core.MatchRoom(p, room) {
			return true
		}
	}
	return false
}

// RolloutBucket returns the rollout bucket of a room for a namespace, 0–99:
// the FNV-1a hash of "<namespace>/<room>" modulo 100. A namespace with
// Rollout p is enabled in the rooms whose bucket is below p. The namespace
// is part of the hash so that two features rolled out to 10 % reach
// different rooms, and neither follows the canary's Bucket.
func RolloutBucket(namespace, room string) int {
	h := fnv.New32a()
	h.Write([]byte(namespace))
	h.Write([]byte{'/'})
	h.Write([]byte(room))
	return int(h.Sum32() % 100)
}

// pick chooses the version for a room that has none yet.
func (e *entry) pick(room string) *variant {
	if e.canary != nil && Bucket(room) < e.percent {
		return e.canary
	}
	return e.stable
}

// Bucket returns the canary bucket of a room, 0–99: the FNV-1a hash of its
// id modulo 100. A canary at Percent p serves the rooms whose bucket is
// below p, so raising p only moves rooms from stable to canary.
func Bucket(room string) int {
	h := fnv.New32a()
	h.Write([]byte(room))
	return int(h.Sum32() % 100)
}

// New validates cfg, loads every plugin (compile, instantiate, cg_init) and
// returns a Host serving them. A plugin that is missing, pinned to another
// digest, of the wrong ABI or failing its init fails New with an error that
// names it. logger may be nil.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Host, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("plugins config: %w", err)
	}
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("plugins cache_dir %s: %w", cfg.CacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	sched.start()
	h := &Host{logger: logger, cache: cache, pins: map[pinKey]*variant{}, draining: map[string]*variant{}, budgets: newBudgets()}
	gen, err := h.build(ctx, cfg, nil)
	if err != nil {
		cache.Close(ctx)
		return nil, err
	}
	h.gen = gen
	h.cur.Store(gen)
	h.logLive("plugins loaded")
	return h, nil
}

// Live describes one loaded version of a namespace's plugin: what serves
// the rooms that get Role.
type Live struct {
	Namespace string `json:"namespace"`
	Role      string `json:"role"` // RoleStable, RoleCanary or RolePrevious
	Source    string `json:"source"`
	SHA256    string `json:"sha256"` // of the module serving now
	// Percent of rooms the role is offered to (the canary's percent, or
	// the rest for stable); Rollout is the namespace's rollout (0: every
	// room enable/disable allow).
	Percent int `json:"percent"`
	Rollout int `json:"rollout"`
	// Rooms is how many live rooms on this node run this version.
	Rooms int `json:"rooms"`
}

// Live lists every loaded version, by namespace then role (stable first),
// then the previous versions live rooms still run, for logs and admin
// views.
func (h *Host) Live() []Live {
	h.mu.Lock()
	defer h.mu.Unlock()
	out, _ := h.liveLocked()
	return out
}

// liveLocked is Live with the variant of each entry. h.mu is held.
func (h *Host) liveLocked() ([]Live, []*variant) {
	gen := h.gen
	if gen == nil {
		return nil, nil
	}
	var out []Live
	var vs []*variant
	for _, ns := range gen.names {
		e := gen.entries[ns]
		pct := 100
		if e.canary != nil && e.canary != e.stable {
			pct = 100 - e.percent
		}
		out = append(out, Live{Namespace: ns, Role: RoleStable, Source: e.stable.source, SHA256: e.stable.currentDigest(), Percent: pct, Rollout: e.rollout, Rooms: e.stable.pins})
		vs = append(vs, e.stable)
		if e.canary != nil && e.canary != e.stable {
			out = append(out, Live{Namespace: ns, Role: RoleCanary, Source: e.canary.source, SHA256: e.canary.currentDigest(), Percent: e.percent, Rollout: e.rollout, Rooms: e.canary.pins})
			vs = append(vs, e.canary)
		}
	}
	prev := make([]*variant, 0, len(h.draining))
	for _, v := range h.draining {
		prev = append(prev, v)
	}
	sort.Slice(prev, func(i, j int) bool {
		if prev[i].namespace != prev[j].namespace {
			return prev[i].namespace < prev[j].namespace
		}
		return prev[i].currentDigest() < prev[j].currentDigest()
	})
	for _, v := range prev {
		out = append(out, Live{Namespace: v.namespace, Role: RolePrevious, Source: v.source, SHA256: v.currentDigest(), Rooms: v.pins})
		vs = append(vs, v)
	}
	return out, vs
}

// MaxLoggedRooms is how many room ids a load or reload log line names for
// one version (the rooms that run it on this node, sorted); "rooms" has
// the full count.
const MaxLoggedRooms = 20

// Served reports the role and module digest serving namespace in room, or
// empty strings when it is disabled there. A room without a pinned version
// reports the one it would get.
func (h *Host) Served(room, namespace string) (role, sha256 string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen == nil {
		return "", ""
	}
	e := h.gen.entries[namespace]
	if e == nil || !e.enabled(room) {
		return "", ""
	}
	v := h.pins[pinKey{room, namespace}]
	if v == nil || v.retired {
		v = e.pick(room)
	}
	return e.role(v), v.currentDigest()
}

// logLive logs one line per loaded version: which module serves which
// role, and in which live rooms of this node (up to MaxLoggedRooms ids).
func (h *Host) logLive(msg string) {
	h.mu.Lock()
	live, vs := h.liveLocked()
	roomsOf := map[*variant][]string{}
	for k, v := range h.pins {
		roomsOf[v] = append(roomsOf[v], k.room)
	}
	h.mu.Unlock()
	for i, l := range live {
		ids := roomsOf[vs[i]]
		sort.Strings(ids)
		if len(ids) > MaxLoggedRooms {
			ids = ids[:MaxLoggedRooms]
		}
		if ids == nil {
			ids = []string{}
		}
		h.logger.Info(msg, "plugin", l.Namespace, "role", l.Role, "sha256", l.SHA256, "source", l.Source, "percent", l.Percent, "rollout", l.Rollout, "rooms", l.Rooms, "room_ids", ids)
	}
}

// build loads a generation, reusing the variants of old whose identity
// (namespace, module digest, config, limits, policy) is unchanged. On error
// everything it loaded is closed.
func (h *Host) build(ctx context.Context, cfg Config, old *generation) (*generation, error) {
	gen := &generation{cfg: cfg, entries: map[string]*entry{}, variantBy: map[string]*variant{}}
	var loaded []*variant
	fail := func(err error) (*generation, error) {
		for _, v := range loaded {
			v.close(ctx)
		}
		return nil, err
	}
	get := func(ns, name, source, pin string, conf map[string]any, p Plugin) (*variant, error) {
		b, digest, err := readSource(source, pin)
		if err != nil {
			return nil, fmt.Errorf("plugin %s (%s): %w", name, source, err)
		}
		cj, _ := configJSON(conf) // validated
		s := &spec{namespace: ns, name: name, source: source, pin: pin, cfg: cj, plugin: p, bytes: b, digest: digest}
		key := s.key()
		if v := gen.variantBy[key]; v != nil {
			return v, nil
		}
		if old != nil {
			if v := old.variantBy[key]; v != nil {
				gen.variantBy[key] = v
				return v, nil
			}
		}
		h.mu.Lock()
		dv := h.draining[key]
		h.mu.Unlock()
		if dv != nil { // configured again: Reload takes it out of draining
			gen.variantBy[key] = dv
			return dv, nil
		}
		v, err := loadVariant(ctx, h.cache, h.logger, s)
		if err != nil {
			return nil, fmt.Errorf("plugin %s (%s): %w", name, source, err)
		}
		loaded = append(loaded, v)
		gen.variantBy[key] = v
		return v, nil
	}
	for _, ns := range cfg.sortedNamespaces() {
		p := cfg.Namespaces[ns].withDefaults()
		e := &entry{namespace: ns, enable: p.Enable, disable: p.Disable, rollout: p.Rollout, percent: p.Canary.Percent,
			failureBudget: p.FailureBudget, failureWindow: p.FailureWindow}
		e.handler = &nsHandler{h: h, namespace: ns}
		var err error
		if e.stable, err = get(ns, ns, p.Source, p.SHA256, p.Config, p); err != nil {
			return fail(err)
		}
		if c := p.Canary; c.Source != "" {
			conf := p.Config
			if c.Config != nil {
				conf = c.Config
			}
			if e.canary, err = get(ns, ns+"@canary", c.Source, c.SHA256, conf, p); err != nil {
				return fail(err)
			}
		}
		gen.entries[ns] = e
		gen.names = append(gen.names, ns)
	}
	sort.Strings(gen.names)
	return gen, nil
}

// Handler returns the handler of namespace in room, or nil when the
// namespace is not configured or not enabled there.
func (h *Host) Handler(room, namespace string) core.Handler {
	gen := h.cur.Load()
	if gen == nil {
		return nil
	}
	e := gen.entries[namespace]
	if e == nil || !e.enabled(room) {
		return nil
	}
	return e.handler
}

// Features lists the namespaces enabled in room, sorted.
func (h *Host) Features(room string) []string {
	out := []string{}
	gen := h.cur.Load()
	if gen == nil {
		return out
	}
	for _, ns := range gen.names {
		if gen.entries[ns].enabled(room) {
			out = append(out, ns)
		}
	}
	return out
}

// Version reports which version serves namespace in room: "stable",
// "canary", or "" when disabled. A room without a pinned version reports the
// one it would get. For diagnostics and tests.
func (h *Host) Version(room, namespace string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen == nil {
		return ""
	}
	e := h.gen.entries[namespace]
	if e == nil || !e.enabled(room) {
		return ""
	}
	v := h.pins[pinKey{room, namespace}]
	if v == nil || v.retired {
		v = e.pick(room)
	}
	return e.role(v)
}

// role is the role v serves in e now: a variant reused across a reload
// (same module, config and limits) takes the role of the configuration
// that reuses it, so a promoted canary serves, and is labelled, as stable.
func (e *entry) role(v *variant) string {
	switch v {
	case e.stable:
		return RoleStable
	case e.canary:
		return RoleCanary
	}
	return RolePrevious
}

// setPin pins room's namespace to v; dropPin forgets it. h.mu is held.
func (h *Host) setPin(k pinKey, v *variant) {
	if old := h.pins[k]; old != nil {
		old.pins--
	}
	h.pins[k] = v
	v.pins++
}

func (h *Host) dropPin(k pinKey) {
	if v := h.pins[k]; v != nil {
		v.pins--
		delete(h.pins, k)
	}
}

// acquire returns the room's version of namespace (pinning it on first use)
// with the role it serves in, and counts the call in flight.
func (h *Host) acquire(room, namespace string) (*variant, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, "", ErrClosed
	}
	e := h.gen.entries[namespace]
	if e == nil || !e.enabled(room) {
		return nil, "", ErrDisabled
	}
	k := pinKey{room, namespace}
	v := h.pins[k]
	if v == nil || v.retired {
		v = e.pick(room)
		h.setPin(k, v)
	}
	v.inflight++
	return v, e.role(v), nil
}

// release ends a call; unpin forgets the room's version (it emptied).
func (h *Host) release(ctx context.Context, v *variant, room, namespace string, unpin bool) {
	h.mu.Lock()
	v.inflight--
	if unpin && h.pins[pinKey{room, namespace}] == v {
		h.dropPin(pinKey{room, namespace})
	}
	if v.draining && v.pins == 0 { // its last live room emptied
		v.draining, v.retired = false, true
		delete(h.draining, v.key)
	}
	closeNow := v.retired && v.inflight == 0 && !v.closing
	if closeNow {
		v.closing = true
	}
	h.mu.Unlock()
	if closeNow {
		v.close(context.WithoutCancel(ctx))
	}
}

// nsHandler is the core.Handler of one namespace. It resolves the room's
// version on every call, so it stays valid across reloads.
type nsHandler struct {
	h         *Host
	namespace string
}

var _ core.Handler = (*nsHandler)(nil)

// Handle runs call on the room's version of the plugin. A message from a
// sender whose failure budget is spent is refused without calling it.
func (n *nsHandler) Handle(ctx context.Context, call *core.Call) (*core.Result, error) {
	start := time.Now()
	e := n.h.cur.Load().entries[n.namespace]
	budgeted := e != nil && call.Hook == core.HookMessage
	var sender string
	if budgeted {
		sender = senderOf(call)
		if n.h.budgets.spent(n.namespace, sender, e.failureBudget, e.failureWindow) {
			if o := n.h.obs.Load(); o != nil {
				(*o).ObservePluginCall(n.namespace, n.h.Version(call.Room, n.namespace), OutcomeRefused, time.Since(start))
			}
			return nil, fmt.Errorf("plugin %s: %w (%d failed calls within %s)", n.namespace, ErrRefused, e.failureBudget, e.failureWindow)
		}
	}
	v, role, err := n.h.acquire(call.Room, n.namespace)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", n.namespace, err)
	}
	unpin := call.Hook == core.HookLeave && call.RoomEmpty
	defer n.h.release(ctx, v, call.Room, n.namespace, unpin)
	var mem *CallMemory
	var mo MemoryObserver
	if o := n.h.obs.Load(); o != nil {
		if mo, _ = (*o).(MemoryObserver); mo != nil {
			mem = &CallMemory{PagesWritten: -1}
		}
	}
	res, oc, err := v.handle(ctx, call, role, mem)
	if mo != nil {
		mo.ObserveCallMemory(n.namespace, role, *mem)
	}
	if budgeted && isFailure(oc) {
		n.h.budgets.charge(n.namespace, sender, e.failureBudget, e.failureWindow)
	}
	if o := n.h.obs.Load(); o != nil {
		d := time.Since(start)
		if mem != nil {
			d -= mem.overhead
		}
		(*o).ObservePluginCall(n.namespace, role, oc, d)
	}
	return res, err
}

// classifyErr gives the outcome of a failed call.
func classifyErr(err error) string {
	switch {
	case errors.Is(err, ErrRefused):
		return OutcomeRefused
	case errors.Is(err, ErrTimeout):
		return OutcomeTimeout
	case errors.Is(err, ErrCrashed):
		return OutcomeCrash
	case errors.Is(err, ErrPanicked):
		return OutcomePanic
	case errors.Is(err, ErrBadOutput):
		return OutcomeBadOutput
	case errors.Is(err, ErrProtocol), errors.Is(err, ErrABI):
		return OutcomeABI
	case errors.Is(err, ErrLimit):
		return OutcomeLimit
	case errors.Is(err, ErrDisabled), errors.Is(err, ErrClosed), errors.Is(err, context.Canceled):
		return OutcomeUnavailable
	}
	return OutcomeError
}

// Reload applies a new configuration: it validates cfg and loads every
// changed plugin (unchanged ones keep their compiled module and instances),
// then swaps atomically. On any error nothing changes and the old
// configuration keeps serving. Calls in flight finish on their old version;
// rooms keep their pinned version when it is still configured, otherwise
// they move to the new one on their next call.
func (h *Host) Reload(ctx context.Context, cfg Config) error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("plugins config: %w", err)
	}
	if cfg.CacheDir != h.currentCfg().CacheDir {
		h.logger.Warn("plugins cache_dir changes apply at restart", "cache_dir", cfg.CacheDir)
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	old := h.gen
	h.mu.Unlock()

	gen, err := h.build(ctx, cfg, old)
	if err != nil {
		return err
	}
	var toClose []*variant
	h.mu.Lock()
	h.gen = gen
	h.cur.Store(gen)
	candidates := map[string]*variant{}
	for key, v := range old.variantBy {
		candidates[key] = v
	}
	for key, v := range h.draining {
		candidates[key] = v
	}
	for key, v := range candidates {
		if gen.variantBy[key] == v {
			v.draining = false
			delete(h.draining, key)
			continue
		}
		// A version no longer configured keeps serving the live rooms that
		// run it (they keep the version they started with) unless the
		// namespace is gone or this reload forces the move.
		p, configured := cfg.Namespaces[v.namespace]
		if configured && !p.MoveLiveRooms && v.pins > 0 {
			v.draining = true
			h.draining[key] = v
			continue
		}
		v.draining = false
		delete(h.draining, key)
		v.retired = true
		if v.inflight == 0 && !v.closing {
			v.closing = true
			toClose = append(toClose, v)
		}
	}
	for k, v := range h.pins {
		if v.retired {
			h.dropPin(k)
		}
	}
	h.mu.Unlock()
	for _, v := range toClose {
		v.close(ctx)
	}
	h.logLive("plugins reloaded")
	return nil
}

func (h *Host) currentCfg() Config {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen == nil {
		return Config{}
	}
	return h.gen.cfg
}

// Close stops serving and releases every plugin. Calls in flight may fail.
func (h *Host) Close(ctx context.Context) error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	gen := h.gen
	drained := make([]*variant, 0, len(h.draining))
	for _, v := range h.draining {
		drained = append(drained, v)
	}
	h.mu.Unlock()
	var errs []error
	for _, v := range gen.variantBy {
		v.close(ctx)
	}
	for _, v := range drained {
		v.close(ctx)
	}
	if err := h.cache.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close compilation cache: %w", err))
	}
	return errors.Join(errs...)
}
