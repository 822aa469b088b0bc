package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/plugins/abi"
)

// InitTimeout bounds making one instance: instantiation, _initialize and
// cg_init (ABI.md §7).
const InitTimeout = 10 * time.Second

// MaxGuestOutput is how much of what a guest writes to stdout and stderr
// during one call (or its init) the host keeps, to quote the most telling
// line when the call crashes (ABI.md §2).
const MaxGuestOutput = 4096

// instance is one instantiated module. It is used by one call at a time.
type instance struct {
	mod    api.Module
	alloc  api.Function
	handle api.Function
	epoch  uint64
	// room is the room the instance is bound to: the room of every call it
	// has served, "" while it has served none (ABI.md §2).
	room string
	// ended: room has emptied; the instance serves no room until reset.
	ended bool

	buf     uint32 // guest buffer from cg_alloc, reused while big enough
	bufCap  uint32
	bufUsed uint32 // bytes of buf the last input filled
	rec     []byte
	stack   [2]uint64
	output  *outputBuffer // the guest's stdout and stderr

	// globals are the module's mutable globals and snap its state right
	// after cg_init (nil: reset instantiates anew), see snapshot.go.
	globals []api.MutableGlobal
	snap    *snapshot
	// lin is the instance's linear memory when it is a mapping (nil: on
	// the Go heap); resets counts what its resets did.
	lin    *mappedMemory
	resets resetStats
}

// newInstance instantiates cm with no filesystem, network, environment or
// arguments, runs _initialize, and passes cfg to cg_init. With warm, a
// module that exports cg_warm then warms up (warmUp); an error of that
// step wraps errWarm.
func newInstance(ctx context.Context, v *variant, rt wazero.Runtime, cm wazero.CompiledModule, globalNames []string, cfg []byte, epoch uint64, warm bool) (*instance, error) {
	ctx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	out := &outputBuffer{max: MaxGuestOutput}
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(abi.ExportInitialize).
		WithStdout(out).
		WithStderr(out).
		WithRandSource(rand.Reader).
		WithSysWalltime().
		WithSysNanotime()
	alloc := &instanceAllocator{}
	mod, err := rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, alloc), cm, mc)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w%s", classify(err, InitTimeout.String()), out.suffix())
	}
	in := &instance{mod: mod, alloc: mod.ExportedFunction(abi.ExportAlloc), handle: mod.ExportedFunction(abi.ExportHandle), epoch: epoch, output: out, lin: alloc.m}
	if globalNames != nil {
		in.globals, _ = mutableGlobalsOf(mod, globalNames)
	}
	cs := &callState{v: v}
	ptr, err := in.write(context.WithValue(ctx, callStateKey{}, cs), cfg)
	if err == nil {
		in.stack = [2]uint64{uint64(ptr), uint64(len(cfg))}
		err = mod.ExportedFunction(abi.ExportInit).CallWithStack(context.WithValue(ctx, callStateKey{}, cs), in.stack[:])
		if err != nil {
			err = classify(err, InitTimeout.String())
		}
	}
	if err == nil && cs.violation != nil {
		err = cs.violation
	}
	if err == nil {
		switch st := int32(in.stack[0]); st {
		case abi.StatusOK:
		case abi.StatusError, abi.StatusPanic, abi.StatusBadInput:
			err = fmt.Errorf("cg_init failed (status %d): %s", st, orDefault(cs.lastError, "no error logged"))
		default:
			err = fmt.Errorf("%w: cg_init returned unknown status %d", ErrProtocol, st)
		}
	}
	if err == nil && warm {
		if f := mod.ExportedFunction(abi.ExportWarm); f != nil {
			if err = in.warmUp(ctx, v, f); err != nil {
				err = fmt.Errorf("%w: %w", errWarm, err)
			}
		}
	}
	if err != nil {
		mod.Close(context.Background())
		return nil, fmt.Errorf("%w%s", err, out.suffix())
	}
	return in, nil
}

// errWarm marks a failed cg_warm: the module serves all the same, from a
// snapshot taken without warm-up (variant.newInstance).
var errWarm = errors.New("cg_warm failed")

// warmUp runs the module's cg_warm (ABI.md §4a) with the namespace as
// input: the guest runs its handler on made-up calls so that the snapshot
// taken next holds a warmed-up runtime, and calls after a reset cost what
// calls on a warm instance cost. The imports behave as in a call for a
// room with no state and no one in it (Room ""), and whatever the guest
// emits or writes is dropped with the callState. Everything it wrote to
// its own memory comes from the module and its config alone: no call has
// run yet, so the snapshot holds no room's data.
func (in *instance) warmUp(ctx context.Context, v *variant, f api.Function) error {
	cs := &callState{v: v, call: &core.Call{Hook: core.HookMessage, Type: v.namespace + ".warm"}}
	ctx = context.WithValue(ctx, callStateKey{}, cs)
	ptr, err := in.write(ctx, []byte(v.namespace))
	if err != nil {
		return err
	}
	in.stack = [2]uint64{uint64(ptr), uint64(len(v.namespace))}
	if err := f.CallWithStack(ctx, in.stack[:]); err != nil {
		return classify(err, InitTimeout.String())
	}
	for _, e := range []error{cs.violation, cs.limit, cs.badOutput} {
		if e != nil {
			return e
		}
	}
	if st := int32(in.stack[0]); st != abi.StatusOK {
		return fmt.Errorf("status %d: %s", st, orDefault(cs.lastError, "no error logged"))
	}
	return nil
}

// newInstanceFromSnapshot makes an instance of cm in the state of snap
// without running _initialize or cg_init: it instantiates the module with
// no start function, maps the snapshot file over its memory, grows the
// memory to the snapshot's size and restores the globals — what a reset
// does, so the result is the same as newInstance's, for a fraction of the
// cost (BenchmarkInstantiate). snap must be of cm, initialised with the
// variant's configuration.
func newInstanceFromSnapshot(ctx context.Context, rt wazero.Runtime, cm wazero.CompiledModule, globalNames []string, snap *snapshot, epoch uint64) (*instance, error) {
	if snap.file == nil {
		return nil, errNoSnapshot
	}
	ctx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	out := &outputBuffer{max: MaxGuestOutput}
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(out).
		WithStderr(out).
		WithRandSource(rand.Reader).
		WithSysWalltime().
		WithSysNanotime()
	alloc := &instanceAllocator{}
	mod, err := rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, alloc), cm, mc)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", classify(err, InitTimeout.String()))
	}
	in := &instance{mod: mod, alloc: mod.ExportedFunction(abi.ExportAlloc), handle: mod.ExportedFunction(abi.ExportHandle), epoch: epoch, output: out, lin: alloc.m, snap: snap}
	fail := func(err error) (*instance, error) {
		mod.Close(context.Background())
		return nil, fmt.Errorf("instance from snapshot: %w", err)
	}
	var ok bool
	if in.globals, ok = mutableGlobalsOf(mod, globalNames); !ok || len(in.globals) != len(snap.globals) {
		return fail(errNoSnapshot)
	}
	if in.lin == nil {
		return fail(errors.New("memory is not a mapping"))
	}
	mem := mod.Memory()
	if mem == nil || mem.Size() > uint32(len(snap.mem)) {
		return fail(errors.New("memory larger than the snapshot"))
	}
	if err := in.lin.mapFile(snap.file); err != nil {
		return fail(err)
	}
	if grow := (uint32(len(snap.mem)) - mem.Size()) / 65536; grow > 0 {
		if _, ok := mem.Grow(grow); !ok {
			return fail(errors.New("memory cannot grow to the snapshot's size"))
		}
	}
	if mem.Size() != uint32(len(snap.mem)) {
		return fail(errors.New("memory size differs from the snapshot's"))
	}
	for i, g := range in.globals {
		g.Set(snap.globals[i])
	}
	in.buf, in.bufCap, in.bufUsed = snap.buf, snap.bufCap, snap.bufUsed
	return in, nil
}

// write copies b into the guest's input buffer, growing it with cg_alloc.
func (in *instance) write(ctx context.Context, b []byte) (uint32, error) {
	if uint32(len(b)) > in.bufCap || in.buf == 0 {
		size := uint32(len(b))
		if size < 256 {
			size = 256
		}
		in.stack[0] = uint64(size)
		if err := in.alloc.CallWithStack(ctx, in.stack[:]); err != nil {
			return 0, err
		}
		ptr := uint32(in.stack[0])
		if ptr == 0 {
			return 0, fmt.Errorf("%w: cg_alloc(%d) returned 0", ErrProtocol, size)
		}
		in.buf, in.bufCap, in.bufUsed = ptr, size, 0
	}
	mem := in.mod.Memory()
	if !mem.Write(in.buf, b) {
		return 0, fmt.Errorf("%w: cg_alloc returned a buffer outside memory", ErrProtocol)
	}
	// Clear what is left of the previous, longer input, so the guest's
	// view of the buffer past len is zeros, not an older call's record.
	if n := uint32(len(b)); n < in.bufUsed {
		if stale, ok := mem.Read(in.buf+n, in.bufUsed-n); ok {
			clear(stale)
		}
	}
	in.bufUsed = uint32(len(b))
	return in.buf, nil
}

// call runs one core.Call. keep reports whether the instance may be reused.
func (in *instance) call(ctx context.Context, v *variant, name string, call *core.Call) (res *core.Result, keep bool, err error) {
	cs := &callState{v: v, name: name, call: call}
	timeout := deadline(v.timeout) // stretched on a late scheduler (overload.go)
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, callStateKey{}, cs), timeout)
	defer cancel()

	var flags uint32
	if call.FirstOfUser {
		flags |= abi.FlagFirstOfUser
	}
	if call.LastOfUser {
		flags |= abi.FlagLastOfUser
	}
	if call.RoomEmpty {
		flags |= abi.FlagRoomEmpty
	}
	fields := [abi.NumFields]string{v.namespace, call.Type, call.Room, string(call.Conn), call.Sender.ID, call.Sender.Name, call.Sender.Role, string(call.Data)}
	in.rec = abi.AppendRecord(in.rec[:0], uint32(call.Hook), flags, call.Seq, &fields)
	in.output.reset()
	ptr, err := in.write(ctx, in.rec)
	if err != nil {
		return nil, false, wrapCallErr(err, timeout)
	}
	in.stack = [2]uint64{uint64(ptr), uint64(len(in.rec))}
	if cap(in.rec) > 64<<10 {
		in.rec = nil // do not pin a large buffer
	}
	if err := in.handle.CallWithStack(ctx, in.stack[:]); err != nil {
		return nil, false, fmt.Errorf("%w%s", classify(err, timeout.String()), in.output.suffix())
	}
	if cs.violation != nil {
		return nil, false, cs.violation
	}
	if cs.limit != nil {
		return nil, true, cs.limit
	}
	if cs.badOutput != nil {
		return nil, true, cs.badOutput
	}
	switch st := int32(in.stack[0]); st {
	case abi.StatusOK:
	case abi.StatusError:
		return nil, true, fmt.Errorf("%w: %s", ErrFailed, orDefault(cs.lastError, "no error logged"))
	case abi.StatusPanic:
		return nil, false, fmt.Errorf("%w: %w: %s", ErrFailed, ErrPanicked, strings.TrimPrefix(orDefault(cs.lastError, "no message"), "panic: "))
	case abi.StatusBadInput:
		return nil, false, fmt.Errorf("%w: guest could not decode the call record", ErrProtocol)
	default:
		return nil, false, fmt.Errorf("%w: cg_handle returned unknown status %d", ErrProtocol, st)
	}
	return cs.result(), true, nil
}

func wrapCallErr(err error, timeout time.Duration) error {
	if _, ok := err.(interface{ ExitCode() uint32 }); ok {
		return classify(err, timeout.String())
	}
	return err
}

func (in *instance) close() { in.mod.Close(context.Background()) }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// outputBuffer keeps the first max bytes the guest wrote to stdout or
// stderr since the last reset (a crash's message comes first, its traceback
// after).
type outputBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (o *outputBuffer) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if room := o.max - len(o.buf); room > 0 {
		o.buf = append(o.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (o *outputBuffer) reset() {
	o.mu.Lock()
	o.buf = o.buf[:0]
	o.mu.Unlock()
}

// suffix returns " (guest output: <the most telling line>)" or "": the
// first line that looks like a Go runtime error, else the first line.
func (o *outputBuffer) suffix() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var first []byte
	for _, line := range bytes.Split(o.buf, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if first == nil {
			first = line
		}
		if bytes.HasPrefix(line, []byte("fatal error:")) || bytes.HasPrefix(line, []byte("panic:")) || bytes.HasPrefix(line, []byte("runtime:")) {
			first = line
			break
		}
	}
	if first == nil {
		return ""
	}
	if len(first) > 200 {
		first = first[:200]
	}
	return " (guest output: " + string(first) + ")"
}
