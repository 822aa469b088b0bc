//go:build !wasip1

package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/classgate/classgate/core/eventtype"
)

// This file is the native stub of the SDK: outside wasip1 the Call API is
// backed by a Harness, an in-memory stand-in for the host and router that
// enforces the same rules as plugins/host (namespace of emitted types,
// durable events to the whole room, valid JSON, per-call limits) and applies
// state changes and seqs the way the router commits them.

// Registered returns the factory passed to Register (nil if none), so a
// plugin's tests can check that its init registers it.
func Registered() Factory { return registered }

// Harness runs a plugin natively, for unit tests. It is not safe for
// concurrent use.
type Harness struct {
	// Namespace the plugin is mounted under; Room the room calls are for.
	Namespace string
	Room      string
	// Seq is the room's last seq; each committed durable event increments it.
	Seq uint64
	// State is the plugin's room state, changed by committed calls.
	State map[string][]byte
	// Logs collects the plugin's log lines ("LEVEL message").
	Logs []string

	handler Handler
}

// NewHarness builds the plugin with config (a JSON object; "" is {}) the way
// the host does at load time. Room defaults to "room-1".
func NewHarness(namespace string, f Factory, config string) (*Harness, error) {
	h := &Harness{Namespace: namespace, Room: "room-1", State: map[string][]byte{}}
	handler, status := initPlugin(f, []byte(config), (*harnessEnv)(nil).forLogs(h))
	if status != statusOK {
		return nil, fmt.Errorf("sdk: plugin init failed (status %d): %s", status, h.lastError())
	}
	h.handler = handler
	return h, nil
}

// Input describes one call for Harness.Call.
type Input struct {
	Hook Hook
	// Type is the full frame type ("chat.send"), HookMessage only.
	Type string
	// Data is the frame's raw JSON data.
	Data        string
	Sender      User
	Conn        string
	FirstOfUser bool
	LastOfUser  bool
	RoomEmpty   bool
}

// Event is an event the plugin emitted.
type Event struct {
	Type    string
	Data    string
	Durable bool
	To      Target
	// Seq is assigned by the harness to committed durable events.
	Seq uint64
}

// OpKind is a state operation.
type OpKind uint8

// State operations, as recorded in Result.Ops.
const (
	OpSet OpKind = iota + 1
	OpDel
	OpClear
)

// Op is one state change of a call.
type Op struct {
	Kind  OpKind
	Key   string
	Value []byte
}

// Result is what one call produced. When Reject is set, nothing was applied.
type Result struct {
	Reject string
	// Forbidden, with Reject, says the plugin refused with Call.Forbid (the
	// sender would get "forbidden" instead of "rejected").
	Forbidden bool
	Emits     []Event
	Replies   []Event
	Ops       []Op
}

// ErrPluginFailed is returned (wrapped) by Call when the plugin failed: it
// returned an error, panicked or misused the host. The host would answer
// plugin_error.
var ErrPluginFailed = errors.New("plugin failed")

// Call runs one call against the current State and Seq. On success without a
// rejection it commits like the router: ops are applied to State and each
// durable event gets the next seq.
func (h *Harness) Call(in Input) (*Result, error) {
	fields := [numFields]string{h.Namespace, in.Type, h.Room, in.Conn, in.Sender.ID, in.Sender.Name, in.Sender.Role, in.Data}
	var flags uint32
	if in.FirstOfUser {
		flags |= flagFirstOfUser
	}
	if in.LastOfUser {
		flags |= flagLastOfUser
	}
	if in.RoomEmpty {
		flags |= flagRoomEmpty
	}
	e := &harnessEnv{h: h, caller: in.Conn, overlay: map[string][]byte{}, res: &Result{}}
	status := dispatch(h.handler, new(Call), encodeRecord(uint32(in.Hook), flags, h.Seq, &fields), e)
	if e.failed != nil {
		return nil, fmt.Errorf("%w: %v", ErrPluginFailed, e.failed)
	}
	if e.limited != nil {
		return nil, fmt.Errorf("%w: per-call limit: %v", ErrPluginFailed, e.limited)
	}
	switch status {
	case statusOK:
	case statusError, statusPanic, statusBadInput:
		return nil, fmt.Errorf("%w (status %d): %s", ErrPluginFailed, status, h.lastError())
	default:
		return nil, fmt.Errorf("%w: unknown status %d", ErrPluginFailed, status)
	}
	res := e.res
	if e.rejected {
		return &Result{Reject: res.Reject, Forbidden: res.Forbidden}, nil
	}
	for i := range res.Emits {
		if res.Emits[i].Durable {
			h.Seq++
			res.Emits[i].Seq = h.Seq
		}
	}
	for _, op := range res.Ops {
		switch op.Kind {
		case OpSet:
			h.State[op.Key] = op.Value
		case OpDel:
			delete(h.State, op.Key)
		case OpClear:
			clear(h.State)
		}
	}
	return res, nil
}

// Message calls HookMessage with a frame of type typ ("chat.send") and data.
func (h *Harness) Message(from User, conn, typ, data string) (*Result, error) {
	return h.Call(Input{Hook: HookMessage, Type: typ, Data: data, Sender: from, Conn: conn})
}

// Join calls HookJoin.
func (h *Harness) Join(u User, conn string, firstOfUser bool) (*Result, error) {
	return h.Call(Input{Hook: HookJoin, Sender: u, Conn: conn, FirstOfUser: firstOfUser})
}

// Leave calls HookLeave.
func (h *Harness) Leave(u User, conn string, lastOfUser, roomEmpty bool) (*Result, error) {
	return h.Call(Input{Hook: HookLeave, Sender: u, Conn: conn, LastOfUser: lastOfUser, RoomEmpty: roomEmpty})
}

func (h *Harness) lastError() string {
	for i := len(h.Logs) - 1; i >= 0; i-- {
		if s, ok := strings.CutPrefix(h.Logs[i], "ERROR "); ok {
			return s
		}
	}
	return "(no error logged)"
}

// harnessEnv is the env of one harness call.
type harnessEnv struct {
	h        *Harness
	caller   string
	overlay  map[string][]byte // nil value: deleted
	cleared  bool
	res      *Result
	rejected bool
	failed   error // a protocol violation the real host would punish
	limited  error // a per-call limit the host would fail the call for
	outBytes int   // emitted types and data, keys and values set
}

func (e *harnessEnv) exceed(format string, args ...any) int32 {
	if e.limited == nil {
		e.limited = fmt.Errorf(format, args...)
	}
	return resultLimit
}

// validType is the protocol's rule for event types, the host's check:
// core/eventtype, the one definition core and the host use too.
func validType(t string) bool { return eventtype.Valid(t) }

// forLogs returns an env that only logs (used during init, where state and
// emits are denied).
func (*harnessEnv) forLogs(h *Harness) *harnessEnv { return &harnessEnv{h: h} }

func (e *harnessEnv) fail(format string, args ...any) int32 {
	if e.failed == nil {
		e.failed = fmt.Errorf(format, args...)
	}
	return resultInvalid
}

func (e *harnessEnv) lookup(key string) ([]byte, bool) {
	if v, ok := e.overlay[key]; ok {
		return v, v != nil
	}
	if e.cleared {
		return nil, false
	}
	v, ok := e.h.State[key]
	return v, ok
}

func (e *harnessEnv) get(key string) ([]byte, int32) {
	if e.res == nil {
		return nil, resultDenied
	}
	v, ok := e.lookup(key)
	if !ok {
		return nil, resultNotFound
	}
	return append([]byte(nil), v...), 0
}

func (e *harnessEnv) list(prefix string) ([]Entry, int32) {
	if e.res == nil {
		return nil, resultDenied
	}
	seen := map[string]bool{}
	var es []Entry
	add := func(k string) {
		if seen[k] || !strings.HasPrefix(k, prefix) {
			return
		}
		seen[k] = true
		if v, ok := e.lookup(k); ok {
			es = append(es, Entry{Key: k, Value: append([]byte(nil), v...)})
		}
	}
	for k := range e.overlay {
		add(k)
	}
	for k := range e.h.State {
		add(k)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Key < es[j].Key })
	return es, 0
}

func (e *harnessEnv) op(op Op) int32 {
	if e.res == nil {
		return resultDenied
	}
	if len(e.res.Ops) >= maxOps {
		return resultLimit
	}
	if op.Kind != OpClear && (op.Key == "" || len(op.Key) > maxKeyLen) {
		return resultLimit
	}
	if len(op.Value) > maxValueLen {
		return resultLimit
	}
	if e.outBytes += len(op.Key) + len(op.Value); e.outBytes > maxOutputBytes {
		return e.exceed("state: the call's output would be %d bytes, more than the cap of %d", e.outBytes, maxOutputBytes)
	}
	e.res.Ops = append(e.res.Ops, op)
	switch op.Kind {
	case OpSet:
		e.overlay[op.Key] = op.Value
	case OpDel:
		e.overlay[op.Key] = nil
	case OpClear:
		e.cleared = true
		clear(e.overlay)
	}
	return 0
}

func (e *harnessEnv) set(key string, value []byte) int32 {
	if value == nil {
		value = []byte{}
	}
	return e.op(Op{Kind: OpSet, Key: key, Value: append([]byte(nil), value...)})
}

func (e *harnessEnv) del(key string) int32 { return e.op(Op{Kind: OpDel, Key: key}) }

func (e *harnessEnv) clear() int32 { return e.op(Op{Kind: OpClear}) }

func (e *harnessEnv) emit(flags uint32, kind TargetKind, target, namespace, action string, data []byte) int32 {
	if e.res == nil {
		return resultDenied
	}
	typ := namespace + "." + action
	if len(e.res.Emits)+len(e.res.Replies) >= maxEmits {
		return resultLimit
	}
	if len(typ) > maxTypeLen || !strings.HasPrefix(typ, e.h.Namespace+".") || len(typ) == len(e.h.Namespace)+1 || !validType(typ) {
		return e.fail("emit: type %q is not a valid event type of namespace %q", typ, e.h.Namespace)
	}
	if e.outBytes += len(typ) + len(data); e.outBytes > maxOutputBytes {
		return e.exceed("emit %s: the call's output would be %d bytes, more than the cap of %d", typ, e.outBytes, maxOutputBytes)
	}
	if len(data) > 0 && (!utf8.Valid(data) || !json.Valid(data)) {
		return e.fail("emit %s: data is not valid UTF-8 JSON: %q", typ, data)
	}
	durable, reply := flags&emitDurable != 0, flags&emitReply != 0
	if flags&^(emitDurable|emitReply) != 0 || (durable && reply) {
		return e.fail("emit %s: bad flags %#x", typ, flags)
	}
	if kind > KindConn {
		return e.fail("emit %s: bad target kind %d", typ, kind)
	}
	if durable && kind != KindRoom {
		return e.fail("emit %s: a durable event must target the whole room", typ)
	}
	ev := Event{Type: typ, Data: string(data), Durable: durable, To: Target{Kind: kind, Value: target}}
	switch {
	case reply:
		ev.To = Target{Kind: KindConn, Value: e.caller}
		e.res.Replies = append(e.res.Replies, ev)
	default:
		if kind == KindOthers && target == "" {
			ev.To.Value = e.caller
		}
		if (kind == KindRole || kind == KindUser || kind == KindConn) && target == "" {
			return e.fail("emit %s: target kind %d needs a value", typ, kind)
		}
		e.res.Emits = append(e.res.Emits, ev)
	}
	return 0
}

func (e *harnessEnv) reject(reason string) int32 { return e.refuse(reason, false) }

func (e *harnessEnv) forbid(reason string) int32 { return e.refuse(reason, true) }

func (e *harnessEnv) refuse(reason string, forbidden bool) int32 {
	if e.res == nil {
		return resultDenied
	}
	if len(reason) > maxRejectLen {
		reason = reason[:maxRejectLen]
	}
	if reason == "" {
		reason = "rejected"
		if forbidden {
			reason = "forbidden"
		}
	}
	e.rejected = true
	e.res.Reject = reason
	e.res.Forbidden = forbidden
	return 0
}

var levelNames = [...]string{"DEBUG", "INFO", "WARN", "ERROR"}

func (e *harnessEnv) log(level int32, msg string) {
	name := "INFO"
	if level >= 0 && int(level) < len(levelNames) {
		name = levelNames[level]
	}
	e.h.Logs = append(e.h.Logs, name+" "+msg)
}

// Warm runs the samples registered with Warmup as the host runs them
// before it snapshots an instance (ABI.md §4a): for room "" with an empty
// state, their output dropped. It returns the error for which the host
// would log a warning and start the plugin's instances cold, nil when the
// warm-up works. h's State, Seq and Logs are left as they were.
func (h *Harness) Warm() error {
	w := &Harness{Namespace: h.Namespace, State: map[string][]byte{}}
	e := &harnessEnv{h: w, caller: "cg-warmup", overlay: map[string][]byte{}, res: &Result{}}
	status := warmUp(h.handler, new(Call), h.Namespace, e)
	switch {
	case e.failed != nil:
		return fmt.Errorf("%w: warm-up: %v", ErrPluginFailed, e.failed)
	case e.limited != nil:
		return fmt.Errorf("%w: warm-up: per-call limit: %v", ErrPluginFailed, e.limited)
	case status != statusOK:
		return fmt.Errorf("%w: warm-up: status %d: %s", ErrPluginFailed, status, w.lastError())
	}
	return nil
}
