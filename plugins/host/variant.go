package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"

	"github.com/classgate/classgate/core"
)

// variant is one loaded version of a namespace's plugin (its stable or its
// canary): a runtime with its limits, the compiled module and a pool.
type variant struct {
	name      string // "chat" or "chat@canary" as first loaded; its role may change (see entry.role)
	namespace string
	key       string // identity for reuse across reloads
	source    string
	pin       string
	cfg       []byte
	policy    string
	timeout   time.Duration
	logger    *slog.Logger

	mu          sync.Mutex // guards digest, rt, cm, globalNames, snap
	digest      string
	rt          wazero.Runtime
	cm          wazero.CompiledModule
	globalNames []string    // exports of the mutable globals (nil: no snapshots)
	snap        *snapshot   // state of a fresh instance of cm, taken once
	noWarm      atomic.Bool // cg_warm failed: snapshots are taken without it

	pool      *pool
	reloading atomic.Bool
	bg        sync.WaitGroup

	// Guarded by Host.mu.
	inflight int
	retired  bool // no longer served; closed when no call is in flight
	closing  bool // close has been started (once)
	draining bool // no longer configured, but live rooms still run it
	pins     int  // rooms pinned to it
}

// spec is everything that defines a variant before loading.
type spec struct {
	namespace, name string
	source, pin     string
	cfg             []byte
	plugin          Plugin // with defaults
	bytes           []byte
	digest          string
}

func (s *spec) key() string {
	p := s.plugin
	return s.namespace + "\x00" + s.digest + "\x00" + string(s.cfg) + "\x00" + p.OnFailure + "\x00" +
		strconv.Itoa(p.PoolSize) + "\x00" + strconv.Itoa(p.MemoryPages) + "\x00" + p.Timeout.String()
}

// loadVariant compiles s and instantiates one instance (running cg_init),
// so that a broken plugin fails here.
func loadVariant(ctx context.Context, cache wazero.CompilationCache, logger *slog.Logger, s *spec) (*variant, error) {
	rt, err := newRuntime(ctx, cache, uint32(s.plugin.MemoryPages))
	if err != nil {
		return nil, err
	}
	cm, names, err := compile(ctx, rt, s.bytes)
	if err != nil {
		rt.Close(ctx)
		return nil, err
	}
	if err := checkABI(cm, uint32(s.plugin.MemoryPages)); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	v := &variant{
		name: s.name, namespace: s.namespace, key: s.key(), source: s.source, pin: s.pin,
		cfg: s.cfg, policy: s.plugin.OnFailure, timeout: s.plugin.Timeout, logger: logger,
		digest: s.digest, rt: rt, cm: cm, globalNames: names,
	}
	v.pool = newPool(s.plugin.PoolSize, v.newInstance)
	v.pool.reset = v.resetInstance
	in, err := v.pool.get(ctx, "")
	if err != nil {
		rt.Close(ctx)
		return nil, err
	}
	v.pool.put(in)
	return v, nil
}

// currentDigest is the sha256 of the module serving now (an on_failure
// reload may have replaced the one loaded).
func (v *variant) currentDigest() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.digest
}

func (v *variant) newInstance(ctx context.Context, epoch uint64) (*instance, error) {
	v.mu.Lock()
	rt, cm, names, snap := v.rt, v.cm, v.globalNames, v.snap
	v.mu.Unlock()
	if snap != nil && snap.file != nil {
		in, err := newInstanceFromSnapshot(ctx, rt, cm, names, snap, epoch)
		if err == nil {
			return in, nil
		}
		v.logger.Debug("plugin instance from snapshot failed; initialising one", "plugin", v.name, "err", err)
	}
	// The instance a snapshot will be taken from warms up first (cg_warm,
	// ABI.md §4a); a warm-up that fails is logged, and the module serves
	// from a snapshot taken without it.
	warm := snap == nil && names != nil && !v.noWarm.Load()
	in, err := newInstance(ctx, v, rt, cm, names, v.cfg, epoch, warm)
	if warm && errors.Is(err, errWarm) {
		v.noWarm.Store(true)
		v.logger.Warn("plugin warm-up failed; its instances start cold", "plugin", v.name, "err", err)
		in, err = newInstance(ctx, v, rt, cm, names, v.cfg, epoch, false)
	}
	if err != nil || in.globals == nil {
		return in, err
	}
	if snap == nil {
		var ok bool
		if snap, ok = takeSnapshot(in); !ok {
			return in, nil
		}
		v.mu.Lock()
		if v.cm != cm {
			snap = nil // replaced meanwhile by an on_failure reload
		} else if v.snap == nil {
			v.snap = snap
		} else {
			snap = v.snap
		}
		v.mu.Unlock()
	}
	in.snap = snap
	// The instance's memory is the snapshot's (it was just taken, or this
	// instance ran the same init): map the file over it, so its pages are
	// shared, and its first reset copies back only what it wrote.
	// (A memory of another size is left as it is: its resets instantiate.)
	if snap != nil && snap.file != nil && in.lin != nil && in.mod.Memory().Size() == uint32(len(snap.mem)) && !in.reset() {
		in.close()
		return nil, errors.New("instance could not be mapped onto its snapshot")
	}
	return in, nil
}

// resetInstance resets in to its module's state after cg_init, when its
// snapshot is of the module serving now (an on_failure reload may have
// replaced it).
func (v *variant) resetInstance(in *instance) bool {
	v.mu.Lock()
	current := in.snap != nil && in.snap == v.snap
	v.mu.Unlock()
	return current && in.reset()
}

// compile compiles a module with its mutable globals exported for
// snapshots (see snapshot.go), or as it is when that is not possible;
// names is nil then.
func compile(ctx context.Context, rt wazero.Runtime, b []byte) (wazero.CompiledModule, []string, error) {
	if rb, names, err := exportGlobals(b); err == nil {
		if cm, err := rt.CompileModule(ctx, rb); err == nil {
			return cm, names, nil
		}
	}
	cm, err := rt.CompileModule(ctx, b)
	if err != nil {
		return nil, nil, fmt.Errorf("compile: %w", err)
	}
	return cm, nil, nil
}

// Roles of a variant in its namespace, as reported to a CallObserver: the
// configured stable or canary version, or a previous version no longer
// configured that live rooms still run (Reload).
const (
	RoleStable   = "stable"
	RoleCanary   = "canary"
	RolePrevious = "previous"
)

// displayName is the variant's name for a call served in role.
func (v *variant) displayName(role string) string {
	if role == RoleCanary {
		return v.namespace + "@canary"
	}
	return v.namespace
}

// handle runs call on an instance of the room; mem, when not nil, gets what
// the call did to the instance's memory.
func (v *variant) handle(ctx context.Context, call *core.Call, role string, mem *CallMemory) (res *core.Result, outcome string, err error) {
	name := v.displayName(role)
	in, err := v.pool.get(ctx, call.Room)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return nil, OutcomeUnavailable, fmt.Errorf("plugin %s: %w", name, err)
		}
		res, err = v.failed(ctx, call, name, fmt.Errorf("new instance: %w", err))
		return res, OutcomeInit, err
	}
	in.room = call.Room
	var size0 uint32
	written0 := -1
	if mem != nil {
		t0 := time.Now()
		size0, written0 = in.memoryUse()
		mem.overhead += time.Since(t0)
	}
	res, keep, err := in.call(ctx, v, name, call)
	if mem != nil {
		t0 := time.Now()
		size, written := in.memoryUse()
		mem.overhead += time.Since(t0)
		mem.Size = size
		if size > size0 {
			mem.GrewBytes = size - size0
		}
		if written0 >= 0 && written >= 0 {
			mem.PagesWritten = written - written0
		}
	}
	// A room that empties is over: its instance serves no room any more
	// (not even a later room of the same id) and is reset when a room
	// needs it — later, so the leave itself stays cheap.
	if call.Hook == core.HookLeave && call.RoomEmpty {
		in.ended = true
	}
	if keep {
		v.pool.put(in)
	} else {
		v.pool.discard(in)
	}
	if err != nil {
		outcome := classifyErr(err)
		res, err = v.failed(ctx, call, name, err)
		return res, outcome, err
	}
	if res.Reject != "" {
		return res, OutcomeRejected, nil
	}
	return res, OutcomeOK, nil
}

// PassedAction is the action of the ephemeral event that on_failure "pass"
// delivers instead of a frame its plugin failed on: "<namespace>.unvalidated",
// data {"type": the frame's type, "data": the frame's data}.
const PassedAction = "unvalidated"

func (v *variant) failed(ctx context.Context, call *core.Call, name string, err error) (*core.Result, error) {
	err = fmt.Errorf("plugin %s: %w", name, err)
	if ctx.Err() != nil && !errors.Is(err, ErrTimeout) {
		return nil, err // the caller is gone; not the plugin's fault
	}
	switch v.policy {
	case PolicyPass:
		// Never pass what the plugin was refused for relaying (invalid
		// output), nor a frame that is not valid UTF-8 JSON itself.
		if errors.Is(err, ErrBadOutput) || errors.Is(err, ErrRefused) || (len(call.Data) > 0 && (!utf8.Valid(call.Data) || !json.Valid(call.Data))) {
			return nil, err
		}
		v.logger.Warn("plugin call failed; passing the frame on as an unvalidated ephemeral event", "plugin", name, "room", call.Room, "type", call.Type, "err", err)
		if call.Hook != core.HookMessage {
			return &core.Result{}, nil
		}
		// Never durable: what no plugin validated is not stored, replayed
		// or given a seq. The room sees it, marked, with the sender in
		// "from" (added by the gateway).
		typ, _ := json.Marshal(call.Type)
		data := append([]byte(`{"type":`), typ...)
		if len(call.Data) > 0 {
			data = append(data, `,"data":`...)
			data = append(data, call.Data...)
		}
		data = append(data, '}')
		return &core.Result{Emits: []core.Emit{{Type: v.namespace + "." + PassedAction, Data: data, To: core.Target{Kind: core.TargetRoom}}}}, nil
	case PolicyReload:
		v.reload()
	}
	return nil, err
}

// reload re-reads the plugin's source in the background, recompiles it if
// it changed (and still matches its pin), and replaces every instance.
func (v *variant) reload() {
	if !v.reloading.CompareAndSwap(false, true) {
		return
	}
	v.bg.Add(1)
	go func() {
		defer v.bg.Done()
		defer v.reloading.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b, digest, err := readSource(v.source, v.pin)
		if err == nil {
			v.mu.Lock()
			same := digest == v.digest
			rt := v.rt
			v.mu.Unlock()
			if !same {
				var cm wazero.CompiledModule
				var names []string
				if cm, names, err = compile(ctx, rt, b); err == nil {
					if err = checkABI(cm, 0xffffffff); err == nil {
						v.mu.Lock()
						v.cm, v.digest, v.globalNames, v.snap = cm, digest, names, nil
						v.mu.Unlock()
					}
				}
			}
		}
		v.pool.renew()
		if err != nil {
			v.logger.Error("plugin reload after failure kept the old module", "plugin", v.namespace, "loaded_as", v.name, "err", err)
			return
		}
		v.logger.Info("plugin reloaded after failure", "plugin", v.namespace, "loaded_as", v.name, "sha256", digest)
	}()
}

// close releases the variant. Callers make sure no call is in flight.
func (v *variant) close(ctx context.Context) {
	v.pool.close()
	v.bg.Wait()
	v.mu.Lock()
	rt := v.rt
	v.mu.Unlock()
	rt.Close(ctx)
}
