package host

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/plugins/abi"
	"github.com/classgate/classgate/plugins/abi/jsonlite"
)

// callState is what one guest call (or cg_init) did through the imports.
// It travels to the host functions in the call's context.
type callState struct {
	v       *variant
	name    string     // the plugin as it serves this call: "chat" or "chat@canary"
	call    *core.Call // nil during cg_init
	overlay map[string][]byte
	cleared bool
	list    struct {
		prefix string
		ops    int
		buf    []byte
	}

	ops       []core.StateOp
	emits     []core.Emit
	replies   []core.Emit
	reject    string
	rejected  bool
	forbidden bool
	outBytes  int
	logLines  int
	lastError string
	violation error // protocol violation: discard the instance
	limit     error // per-call limit exceeded: fail the call, keep the instance
	badOutput error // invalid event type or data: fail the call, keep the instance
}

type callStateKey struct{}

func stateOf(ctx context.Context) *callState {
	cs, _ := ctx.Value(callStateKey{}).(*callState)
	return cs
}

func (cs *callState) violate(format string, args ...any) uint64 {
	if cs.violation == nil {
		cs.violation = fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
	}
	return result(abi.ResultInvalid)
}

func (cs *callState) refuse(format string, args ...any) uint64 {
	if cs.badOutput == nil {
		cs.badOutput = fmt.Errorf("%w: %s", ErrBadOutput, fmt.Sprintf(format, args...))
	}
	return result(abi.ResultInvalid)
}

func (cs *callState) exceed(format string, args ...any) uint64 {
	if cs.limit == nil {
		cs.limit = fmt.Errorf("%w: %s", ErrLimit, fmt.Sprintf(format, args...))
	}
	return result(abi.ResultLimit)
}

func (cs *callState) lookup(key string) ([]byte, bool) {
	if v, ok := cs.overlay[key]; ok {
		return v, v != nil
	}
	if cs.cleared {
		return nil, false
	}
	v, ok := cs.call.State[key]
	return v, ok
}

// read returns a view of guest memory, or ok=false when out of range.
func read(mod api.Module, ptr, n uint64) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	return mod.Memory().Read(uint32(ptr), uint32(n))
}

func result(v int32) uint64 { return uint64(uint32(v)) }

type hostFunc func(ctx context.Context, cs *callState, mod api.Module, stack []uint64)

func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.ImportModule)
	i32 := api.ValueTypeI32
	types := func(n int) []api.ValueType {
		t := make([]api.ValueType, n)
		for i := range t {
			t[i] = i32
		}
		return t
	}
	fns := map[string]hostFunc{
		abi.ImportLog:        hostLog,
		abi.ImportStateGet:   hostStateGet,
		abi.ImportStateList:  hostStateList,
		abi.ImportStateSet:   hostStateSet,
		abi.ImportStateDel:   hostStateDel,
		abi.ImportStateClear: hostStateClear,
		abi.ImportEmit:       hostEmit,
		abi.ImportReject:     hostReject,
		abi.ImportForbid:     hostForbid,
		abi.ImportJSONFind:   hostJSONFind,
	}
	for name, f := range fns {
		sig := hostImports[name]
		f := f
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				cs := stateOf(ctx)
				if cs == nil && name == abi.ImportJSONFind {
					cs = &callState{} // pure: needs no call
				}
				if cs == nil {
					if sig.results > 0 {
						stack[0] = result(abi.ResultDenied)
					}
					return
				}
				// Parameters are i32: clear the undefined upper halves.
				for i := 0; i < sig.params; i++ {
					stack[i] = uint64(uint32(stack[i]))
				}
				f(ctx, cs, mod, stack)
			}), types(sig.params), types(sig.results)).
			Export(name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// denied reports whether state and emit imports are unavailable (cg_init).
func denied(cs *callState, stack []uint64) bool {
	if cs.call == nil {
		stack[0] = result(abi.ResultDenied)
		return true
	}
	return false
}

var slogLevels = [...]slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}

func hostLog(ctx context.Context, cs *callState, mod api.Module, stack []uint64) {
	level, ptr, n := int32(uint32(stack[0])), uint64(uint32(stack[1])), uint64(uint32(stack[2]))
	if n > abi.MaxLogLen {
		n = abi.MaxLogLen
	}
	b, ok := read(mod, ptr, n)
	if !ok {
		cs.violate("log: message out of range")
		return
	}
	msg := strings.ToValidUTF8(string(b), "\uFFFD")
	if level >= abi.LogError {
		cs.lastError = msg
	}
	cs.logLines++
	if cs.logLines > abi.MaxLogLines {
		return
	}
	lv := slog.LevelInfo
	if level >= 0 && int(level) < len(slogLevels) {
		lv = slogLevels[level]
	} else if level > 3 {
		lv = slog.LevelError
	}
	attrs := []slog.Attr{slog.String("plugin", orDefault(cs.name, cs.v.name))}
	if cs.call != nil {
		attrs = append(attrs, slog.String("room", cs.call.Room))
	}
	cs.v.logger.LogAttrs(ctx, lv, msg, attrs...)
}

func hostStateGet(_ context.Context, cs *callState, mod api.Module, stack []uint64) {
	if denied(cs, stack) {
		return
	}
	kb, ok := read(mod, stack[0], stack[1])
	if !ok {
		stack[0] = cs.violate("state_get: key out of range")
		return
	}
	v, found := cs.lookup(string(kb))
	if !found {
		stack[0] = result(abi.ResultNotFound)
		return
	}
	if uint64(len(v)) <= stack[3] && len(v) > 0 {
		if !mod.Memory().Write(uint32(stack[2]), v) {
			stack[0] = cs.violate("state_get: buffer out of range")
			return
		}
	}
	stack[0] = uint64(len(v))
}

func hostStateList(_ context.Context, cs *callState, mod api.Module, stack []uint64) {
	if denied(cs, stack) {
		return
	}
	pb, ok := read(mod, stack[0], stack[1])
	if !ok {
		stack[0] = cs.violate("state_list: prefix out of range")
		return
	}
	prefix := string(pb)
	if cs.list.buf == nil || cs.list.prefix != prefix || cs.list.ops != len(cs.ops) {
		cs.list.prefix, cs.list.ops = prefix, len(cs.ops)
		cs.list.buf = encodeList(cs, prefix)
	}
	buf := cs.list.buf
	if len(buf) > 1<<30 {
		stack[0] = cs.exceed("state_list: answer too large")
		return
	}
	if uint64(len(buf)) <= stack[3] && len(buf) > 0 {
		if !mod.Memory().Write(uint32(stack[2]), buf) {
			stack[0] = cs.violate("state_list: buffer out of range")
			return
		}
	}
	stack[0] = uint64(len(buf))
}

func encodeList(cs *callState, prefix string) []byte {
	var keys []string
	seen := map[string]bool{}
	add := func(k string) {
		if !strings.HasPrefix(k, prefix) || seen[k] {
			return
		}
		seen[k] = true
		if _, ok := cs.lookup(k); ok {
			keys = append(keys, k)
		}
	}
	for k := range cs.overlay {
		add(k)
	}
	if !cs.cleared {
		for k := range cs.call.State {
			add(k)
		}
	}
	sort.Strings(keys)
	buf := []byte{}
	for _, k := range keys {
		v, _ := cs.lookup(k)
		buf = abi.AppendEntry(buf, k, v)
	}
	return buf
}

func (cs *callState) addOp(op core.StateOp, stack []uint64) {
	if len(cs.ops) >= abi.MaxOps {
		stack[0] = cs.exceed("more than %d state operations", abi.MaxOps)
		return
	}
	cs.outBytes += len(op.Key) + len(op.Value)
	if cs.outBytes > abi.MaxOutputBytes {
		stack[0] = cs.exceed("more than %d bytes of output", abi.MaxOutputBytes)
		return
	}
	if cs.overlay == nil {
		cs.overlay = map[string][]byte{}
	}
	switch op.Op {
	case core.OpSet:
		cs.overlay[op.Key] = op.Value
	case core.OpDel:
		cs.overlay[op.Key] = nil
	case core.OpClear:
		cs.cleared = true
		clear(cs.overlay)
	}
	cs.ops = append(cs.ops, op)
	stack[0] = result(abi.ResultOK)
}

func readKey(cs *callState, mod api.Module, ptr, n uint64, stack []uint64, op string) (string, bool) {
	if n == 0 || n > abi.MaxKeyLen {
		stack[0] = cs.exceed("%s: key length %d not in 1..%d", op, n, abi.MaxKeyLen)
		return "", false
	}
	kb, ok := read(mod, ptr, n)
	if !ok {
		stack[0] = cs.violate("%s: key out of range", op)
		return "", false
	}
	return string(kb), true
}

func hostStateSet(_ context.Context, cs *callState, mod api.Module, stack []uint64) {
	if denied(cs, stack) {
		return
	}
	key, ok := readKey(cs, mod, stack[0], stack[1], stack, "state_set")
	if !ok {
		return
	}
	if stack[3] > abi.MaxValueLen {
		stack[0] = cs.exceed("state_set: value of %d bytes, max %d", stack[3], abi.MaxValueLen)
		return
	}
	vb, ok := read(mod, stack[2], stack[3])
	if !ok {
		stack[0] = cs.violate("state_set: value out of range")
		return
	}
	cs.addOp(core.StateOp{Op: core.OpSet, Key: key, Value: append([]byte{}, vb...)}, stack)
}

func hostStateDel(_ context.Context, cs *callState, mod api.Module, stack []uint64) {
	if denied(cs, stack) {
		return
	}
	key, ok := readKey(cs, mod, stack[0], stack[1], stack, "state_del")
	if !ok {
		return
	}
	cs.addOp(core.StateOp{Op: core.OpDel, Key: key}, stack)
}

func hostStateClear(_ context.Context, cs *callState, _ api.Module, stack []uint64) {
	if denied(cs, stack) {
		return
	}
	cs.addOp(core.StateOp{Op: core.OpClear}, stack)
}

func hostEmit(_ context.Context, cs *callState, mod api.Module, stack []uint64) {
	if denied(cs, stack) {
		return
	}
	flags, kind := uint32(stack[0]), uint32(stack[1])
	if len(cs.emits)+len(cs.replies) >= abi.MaxEmits {
		stack[0] = cs.exceed("more than %d emits", abi.MaxEmits)
		return
	}
	if stack[3] > abi.MaxTargetLen {
		stack[0] = cs.violate("emit: target of %d bytes, max %d", stack[3], abi.MaxTargetLen)
		return
	}
	tb, ok1 := read(mod, stack[2], stack[3])
	if !ok1 {
		stack[0] = cs.violate("emit: target out of range")
		return
	}
	if stack[5] > abi.MaxTypeLen {
		stack[0] = cs.refuse("emit: type of %d bytes, max %d", stack[5], abi.MaxTypeLen)
		return
	}
	yb, ok2 := read(mod, stack[4], stack[5])
	if !ok2 {
		stack[0] = cs.violate("emit: type out of range")
		return
	}
	typ := string(yb)
	// An emit larger than the per-call output cap is a clean failure of
	// the call (a join state grown too large), not a broken instance.
	if out := uint64(cs.outBytes) + uint64(len(typ)) + stack[7]; out > abi.MaxOutputBytes {
		stack[0] = cs.exceed("emit %s: %d bytes of data would make the call's output %d bytes, more than the cap of %d",
			printable(typ), stack[7], out, abi.MaxOutputBytes)
		return
	}
	db, ok := read(mod, stack[6], stack[7])
	if !ok {
		stack[0] = cs.violate("emit: data out of range")
		return
	}
	ns := cs.v.namespace
	if len(typ) <= len(ns)+1 || typ[:len(ns)] != ns || typ[len(ns)] != '.' {
		stack[0] = cs.violate("emit: type %q is not <%s>.<action>", typ, ns)
		return
	}
	if !validEventType(typ) {
		stack[0] = cs.refuse("emit: type %q is not a valid event type (lower-case letters, digits, '_' and '-', at most %d bytes)", typ, abi.MaxTypeLen)
		return
	}
	if flags&^(abi.EmitDurable|abi.EmitReply) != 0 || flags == abi.EmitDurable|abi.EmitReply {
		stack[0] = cs.violate("emit %s: bad flags %#x", typ, flags)
		return
	}
	if len(db) > 0 && (!utf8.Valid(db) || !json.Valid(db)) {
		stack[0] = cs.refuse("emit %s: data is not valid UTF-8 JSON", typ)
		return
	}
	cs.outBytes += len(typ) + len(db)
	e := core.Emit{Type: typ, Data: json.RawMessage(append([]byte{}, db...))}
	if len(db) == 0 {
		e.Data = nil
	}
	if flags&abi.EmitReply != 0 {
		cs.replies = append(cs.replies, e)
		stack[0] = result(abi.ResultOK)
		return
	}
	target := string(tb)
	switch kind {
	case abi.TargetRoom:
		e.To = core.Target{Kind: core.TargetRoom}
	case abi.TargetOthers:
		conn := core.ConnID(target)
		if conn == "" {
			conn = cs.call.Conn
		}
		e.To = core.Target{Kind: core.TargetOthers, Conn: conn}
	case abi.TargetRole, abi.TargetUser:
		if target == "" {
			stack[0] = cs.violate("emit %s: target kind %d needs a value", typ, kind)
			return
		}
		e.To = core.Target{Kind: core.TargetKind(kind), Value: target}
	case abi.TargetConn:
		if target == "" {
			stack[0] = cs.violate("emit %s: target kind %d needs a value", typ, kind)
			return
		}
		e.To = core.Target{Kind: core.TargetConn, Conn: core.ConnID(target)}
	default:
		stack[0] = cs.violate("emit %s: unknown target kind %d", typ, kind)
		return
	}
	e.Durable = flags&abi.EmitDurable != 0
	if e.Durable && kind != abi.TargetRoom {
		stack[0] = cs.violate("emit %s: a durable event must target the whole room", typ)
		return
	}
	cs.emits = append(cs.emits, e)
	stack[0] = result(abi.ResultOK)
}

// validEventType is the protocol's rule for event types, defined once in
// core (core.ValidType); abi.MaxTypeLen must equal core.MaxTypeLen
// (TestTypeRuleIsCore checks it).
func validEventType(t string) bool { return core.ValidType(t) }

// printable quotes s for a log or error message.
func printable(s string) string { return strconv.Quote(s) }

func hostReject(_ context.Context, cs *callState, mod api.Module, stack []uint64) {
	refuseFrame(cs, mod, stack, false)
}

func hostForbid(_ context.Context, cs *callState, mod api.Module, stack []uint64) {
	refuseFrame(cs, mod, stack, true)
}

// refuseFrame implements reject and forbid: the frame is refused with a
// reason; forbidden marks a role or token rule.
func refuseFrame(cs *callState, mod api.Module, stack []uint64, forbidden bool) {
	if denied(cs, stack) {
		return
	}
	n := stack[1]
	if n > abi.MaxRejectLen {
		n = abi.MaxRejectLen
	}
	b, ok := read(mod, stack[0], n)
	if !ok {
		stack[0] = cs.violate("reject: reason out of range")
		return
	}
	cs.rejected = true
	cs.forbidden = forbidden
	cs.reject = strings.ToValidUTF8(string(b), "\uFFFD")
	if cs.reject == "" {
		cs.reject = "rejected"
		if forbidden {
			cs.reject = "forbidden"
		}
	}
	stack[0] = result(abi.ResultOK)
}

// result builds the core.Result of a successful call.
func (cs *callState) result() *core.Result {
	if cs.rejected {
		return &core.Result{Reject: cs.reject, Forbidden: cs.forbidden}
	}
	return &core.Result{Emits: cs.emits, Replies: cs.replies, Ops: cs.ops}
}

// hostJSONFind implements json_find: the value at a key path of a JSON
// document in guest memory, found natively.
func hostJSONFind(_ context.Context, cs *callState, mod api.Module, stack []uint64) {
	doc, ok := read(mod, stack[0], stack[1])
	if !ok {
		stack[0] = cs.violate("json_find: document out of memory")
		return
	}
	path, ok := read(mod, stack[2], stack[3])
	if !ok {
		stack[0] = cs.violate("json_find: path out of memory")
		return
	}
	off, n, count, res := findJSON(doc, string(path))
	if res != abi.ResultOK {
		stack[0] = result(res)
		return
	}
	var out [12]byte
	binary.LittleEndian.PutUint32(out[0:], uint32(off))
	binary.LittleEndian.PutUint32(out[4:], uint32(n))
	binary.LittleEndian.PutUint32(out[8:], uint32(count))
	if !mod.Memory().Write(uint32(stack[4]), out[:]) {
		stack[0] = cs.violate("json_find: output out of memory")
		return
	}
	stack[0] = result(abi.ResultOK)
}

// findJSON resolves path in doc: offset and length of the raw value, its
// element count when it is an array, or a result code.
func findJSON(doc []byte, path string) (off, n, count int, res int32) {
	v := doc
	if !jsonlite.Valid(doc) {
		return 0, 0, 0, abi.ResultInvalid
	}
	for path != "" {
		key, rest, _ := strings.Cut(path, ".")
		path = rest
		if jsonlite.KindOf(v) != jsonlite.Object {
			return 0, 0, 0, abi.ResultInvalid
		}
		raw, found, err := jsonlite.Lookup(v, key)
		if err != nil {
			return 0, 0, 0, abi.ResultInvalid
		}
		if !found {
			return 0, 0, 0, abi.ResultNotFound
		}
		v = raw
	}
	if jsonlite.KindOf(v) == jsonlite.Array {
		c, err := jsonlite.ArrayLen(v)
		if err != nil {
			return 0, 0, 0, abi.ResultInvalid
		}
		count = c
	}
	// v is a subslice of doc (jsonlite never copies): its offset follows
	// from the capacities.
	off = cap(doc) - cap(v)
	if off < 0 || off+len(v) > len(doc) {
		return 0, 0, 0, abi.ResultInvalid
	}
	return off, len(v), count, abi.ResultOK
}
