package sdk

import (
	"errors"
	"strconv"
	"unsafe"

	"github.com/classgate/classgate/plugins/abi/jsonlite"
)

// Hook says why a Handler is called.
type Hook uint32

// Hooks.
const (
	// HookMessage: a client frame "<namespace>.<action>".
	HookMessage Hook = 0
	// HookJoin: a connection joined the room; Reply sends its join state.
	HookJoin Hook = 1
	// HookLeave: a connection left the room or dropped.
	HookLeave Hook = 2
)

// String returns "message", "join" or "leave".
func (h Hook) String() string {
	switch h {
	case HookMessage:
		return "message"
	case HookJoin:
		return "join"
	case HookLeave:
		return "leave"
	}
	return "hook(" + strconv.Itoa(int(h)) + ")"
}

// User is the identity of a connection's owner, from its token.
type User struct {
	ID   string
	Name string
	Role string
}

// AppendJSON appends u as {"id":…,"name":…,"role":…} to dst.
func (u User) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonlite.AppendString(dst, u.ID)
	dst = append(dst, `,"name":`...)
	dst = jsonlite.AppendString(dst, u.Name)
	dst = append(dst, `,"role":`...)
	dst = jsonlite.AppendString(dst, u.Role)
	return append(dst, '}')
}

// TargetKind selects recipients within the room.
type TargetKind uint32

// Target kinds (the ABI's numbers).
const (
	KindRoom   TargetKind = 0
	KindOthers TargetKind = 1
	KindRole   TargetKind = 2
	KindUser   TargetKind = 3
	KindConn   TargetKind = 4
)

// Target selects the recipients of an ephemeral event.
type Target struct {
	Kind  TargetKind
	Value string
}

// ToRoom targets every member of the room.
func ToRoom() Target { return Target{Kind: KindRoom} }

// ToOthers targets every member except the calling connection.
func ToOthers() Target { return Target{Kind: KindOthers} }

// ToRole targets the members whose role is role.
func ToRole(role string) Target { return Target{Kind: KindRole, Value: role} }

// ToUser targets every connection of user id.
func ToUser(id string) Target { return Target{Kind: KindUser, Value: id} }

// ToConn targets one connection.
func ToConn(id string) Target { return Target{Kind: KindConn, Value: id} }

// Handler handles one call. Returning an error makes the host answer the
// sender with plugin_error (and log the error); use Call.Reject for refusals
// the client should see as "rejected", Call.Forbid for role or token rules
// ("forbidden").
type Handler func(c *Call) error

// Factory builds the plugin's Handler from its configuration. The host calls
// it once per instance at load time; an error fails the load (at startup or
// reload) with the error's text.
type Factory func(cfg Config) (Handler, error)

var registered Factory

// Register sets the plugin's factory. Call it from an init function of the
// plugin's main package; main itself never runs in a wasip1 reactor.
func Register(f Factory) { registered = f }

// Entry is one key/value pair of the room state.
type Entry struct {
	Key   string
	Value []byte
}

// Call is one invocation. It is valid only while the Handler runs: do not
// keep it, or slices of Data, after returning.
//
// Methods that send something to the host (Set, Broadcast, Send, Reply,
// Reject…) copy their arguments before returning, so a plugin may build
// every output in one reusable buffer.
type Call struct {
	Hook Hook
	// Namespace is the namespace the plugin is mounted under ("chat").
	// Event types the plugin emits are "<Namespace>.<action>".
	Namespace string
	// Type is the client frame's type ("chat.send"), HookMessage only;
	// Action is its part after the namespace ("send").
	Type   string
	Action string
	Room   string
	// Conn is the calling connection's id.
	Conn   string
	Sender User
	// Data is the frame's data (raw JSON, may be empty), HookMessage only.
	Data []byte
	// FirstOfUser (HookJoin): the user's first connection in the room.
	FirstOfUser bool
	// LastOfUser (HookLeave): the user has no connection left in the room.
	LastOfUser bool
	// RoomEmpty (HookLeave): nobody is left in the room.
	RoomEmpty bool
	// Seq is the room's seq as of the state this call sees; the first
	// durable event the call emits gets Seq+1 once committed.
	Seq uint64

	env env
	err error // first host error, sticky
}

// env is the host behind a Call: the wasm imports or the test harness.
type env interface {
	get(key string) ([]byte, int32)
	list(prefix string) ([]Entry, int32)
	set(key string, value []byte) int32
	del(key string) int32
	clear() int32
	// emit sends "<namespace>.<action>".
	emit(flags uint32, kind TargetKind, target, namespace, action string, data []byte) int32
	reject(reason string) int32
	// forbid is reject for a role or token rule ("forbidden").
	forbid(reason string) int32
	log(level int32, msg string)
}

// HostError is returned when the host refuses an operation.
type HostError struct {
	Op   string
	Code int32
}

// Sentinels for errors.Is on a HostError.
var (
	ErrInvalid = errors.New("invalid argument")
	ErrLimit   = errors.New("per-call limit exceeded")
	ErrDenied  = errors.New("operation not allowed here")
)

func (e *HostError) Error() string {
	return "sdk: host refused " + e.Op + ": " + e.Unwrap().Error()
}

// Unwrap returns ErrInvalid, ErrLimit or ErrDenied.
func (e *HostError) Unwrap() error {
	switch e.Code {
	case resultLimit:
		return ErrLimit
	case resultDenied:
		return ErrDenied
	}
	return ErrInvalid
}

func (c *Call) check(op string, code int32) error {
	if code >= 0 {
		return nil
	}
	err := &HostError{Op: op, Code: code}
	if c.err == nil {
		c.err = err
	}
	return err
}

// Get returns the value of key in the room state as this call sees it
// (including its own earlier Set/Del/Clear).
func (c *Call) Get(key string) ([]byte, bool) {
	v, code := c.env.get(key)
	if code == resultNotFound {
		return nil, false
	}
	if c.check("state_get", code) != nil {
		return nil, false
	}
	return v, true
}

// List returns the entries whose key starts with prefix, sorted by key.
func (c *Call) List(prefix string) []Entry {
	es, code := c.env.list(prefix)
	if c.check("state_list", code) != nil {
		return nil
	}
	return es
}

// Set sets key to value in the room state. It is applied, with the call's
// durable events, only if the call is not rejected and does not fail.
func (c *Call) Set(key string, value []byte) error {
	return c.check("state_set", c.env.set(key, value))
}

// Del deletes key from the room state.
func (c *Call) Del(key string) error { return c.check("state_del", c.env.del(key)) }

// Clear deletes every key of the plugin's room state.
func (c *Call) Clear() error { return c.check("state_clear", c.env.clear()) }

// Broadcast emits a durable event "<Namespace>.<action>" to the whole room:
// it gets a seq and is kept in the room's history. data is raw JSON (nil for
// none).
func (c *Call) Broadcast(action string, data []byte) error {
	return c.check("emit", c.env.emit(emitDurable, KindRoom, "", c.Namespace, action, data))
}

// Send emits an ephemeral event (no seq, not stored) to the recipients
// selected by to.
func (c *Call) Send(to Target, action string, data []byte) error {
	return c.check("emit", c.env.emit(0, to.Kind, to.Value, c.Namespace, action, data))
}

// Reply sends an ephemeral event to the calling connection only. On HookJoin
// this is how a plugin sends a newcomer its join state.
func (c *Call) Reply(action string, data []byte) error {
	return c.check("emit", c.env.emit(emitReply, KindConn, "", c.Namespace, action, data))
}

// Reject refuses the frame: the sender gets error "rejected" with reason and
// nothing else of this call is applied. It returns nil unless the host
// refused, so a handler can `return c.Reject("…")`.
func (c *Call) Reject(reason string) error { return c.check("reject", c.env.reject(reason)) }

// Forbid refuses the frame because the sender's role or token does not
// allow it (a student clearing the board): the sender gets error
// "forbidden" with reason and nothing else of this call is applied. Use
// Reject for every other refusal. It returns nil unless the host refused.
//
// Forbid needs a host with the ABI's forbid import (classgate ≥ the
// release that added it); older hosts refuse to load the module.
func (c *Call) Forbid(reason string) error { return c.check("forbid", c.env.forbid(reason)) }

// Log writes a line to the host's log, tagged with the plugin and room.
func (c *Call) Log(level Level, msg string) { c.env.log(int32(level), msg) }

// Object parses Data as a JSON object; an empty Data is an empty object.
func (c *Call) Object() (jsonlite.Obj, error) {
	if len(c.Data) == 0 {
		return jsonlite.Obj{}, nil
	}
	return jsonlite.ParseObject(c.Data)
}

// Level is a log level.
type Level int32

// Log levels.
const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

// Config is the plugin's configuration subtree (a JSON object).
type Config struct {
	raw []byte
	obj jsonlite.Obj
}

// ParseConfig parses a JSON object (empty input is {}).
func ParseConfig(raw []byte) (Config, error) {
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	obj, err := jsonlite.ParseObject(raw)
	if err != nil {
		return Config{}, errors.New("sdk: config is not a JSON object: " + err.Error())
	}
	return Config{raw: raw, obj: obj}, nil
}

// Raw returns the configuration as JSON, e.g. for encoding/json.
func (c Config) Raw() []byte { return c.raw }

// Has reports whether key is set (and not null).
func (c Config) Has(key string) bool {
	v, ok := c.obj.Get(key)
	return ok && jsonlite.KindOf(v) != jsonlite.Null
}

// Int returns the integer at key, or def when absent.
func (c Config) Int(key string, def int) (int, error) {
	f, ok, err := c.obj.Number(key)
	if err != nil || !ok {
		return def, configErr(key, err)
	}
	if f != float64(int(f)) {
		return def, errors.New("sdk: config " + key + ": not an integer")
	}
	return int(f), nil
}

// String returns the string at key, or def when absent.
func (c Config) String(key, def string) (string, error) {
	s, ok, err := c.obj.String(key)
	if err != nil || !ok {
		return def, configErr(key, err)
	}
	return s, nil
}

// Bool returns the boolean at key, or def when absent.
func (c Config) Bool(key string, def bool) (bool, error) {
	v, ok, err := c.obj.Bool(key)
	if err != nil || !ok {
		return def, configErr(key, err)
	}
	return v, nil
}

// Strings returns the array of strings at key, or def when absent.
func (c Config) Strings(key string, def []string) ([]string, error) {
	raw, ok := c.obj.Get(key)
	if !ok || jsonlite.KindOf(raw) == jsonlite.Null {
		return def, nil
	}
	els, err := jsonlite.Elements(raw)
	if err != nil {
		return def, configErr(key, err)
	}
	out := make([]string, 0, len(els))
	for _, e := range els {
		s, err := jsonlite.Unquote(e)
		if err != nil {
			return def, configErr(key, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func configErr(key string, err error) error {
	if err == nil {
		return nil
	}
	return errors.New("sdk: config " + key + ": " + err.Error())
}

// decodeRecord fills c from a call record. The record's strings are copied
// once into a single allocation that the Call's strings share.
func decodeRecord(c *Call, rec []byte) bool {
	if len(rec) < recordHeaderSize || le32(rec, 0) != recordVersion {
		return false
	}
	body := make([]byte, len(rec)-recordHeaderSize)
	copy(body, rec[recordHeaderSize:])
	var f [numFields][]byte
	for i := range f {
		off, n := le32(rec, 24+8*i), le32(rec, 28+8*i)
		if off < recordHeaderSize || uint64(off)+uint64(n) > uint64(len(rec)) {
			return false
		}
		f[i] = body[off-recordHeaderSize : off-recordHeaderSize+n : off-recordHeaderSize+n]
	}
	flags := le32(rec, 8)
	*c = Call{
		Hook:        Hook(le32(rec, 4)),
		Namespace:   str(f[fieldNamespace]),
		Type:        str(f[fieldType]),
		Room:        str(f[fieldRoom]),
		Conn:        str(f[fieldConn]),
		Sender:      User{ID: str(f[fieldUserID]), Name: str(f[fieldUserName]), Role: str(f[fieldUserRole])},
		Data:        f[fieldData],
		FirstOfUser: flags&flagFirstOfUser != 0,
		LastOfUser:  flags&flagLastOfUser != 0,
		RoomEmpty:   flags&flagRoomEmpty != 0,
		Seq:         uint64(le32(rec, 16)) | uint64(le32(rec, 20))<<32,
	}
	if len(c.Data) == 0 {
		c.Data = nil
	}
	if len(c.Type) > len(c.Namespace) && c.Type[len(c.Namespace)] == '.' && c.Type[:len(c.Namespace)] == c.Namespace {
		c.Action = c.Type[len(c.Namespace)+1:]
	}
	return true
}

// str returns a string sharing b's bytes; b is never modified afterwards.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func le32(b []byte, o int) uint32 {
	_ = b[o+3]
	return uint32(b[o]) | uint32(b[o+1])<<8 | uint32(b[o+2])<<16 | uint32(b[o+3])<<24
}

// dispatch runs h on one record: the shared body of cg_handle and the
// harness. Panics are recovered and reported as statusPanic.
func dispatch(h Handler, c *Call, rec []byte, e env) (status int32) {
	defer func() {
		if r := recover(); r != nil {
			e.log(int32(LevelError), "panic: "+panicString(r))
			status = statusPanic
		}
	}()
	if !decodeRecord(c, rec) {
		e.log(int32(LevelError), "sdk: malformed call record")
		return statusBadInput
	}
	c.env = e
	if err := h(c); err != nil {
		e.log(int32(LevelError), err.Error())
		return statusError
	}
	if c.err != nil {
		e.log(int32(LevelError), c.err.Error())
		return statusError
	}
	return statusOK
}

// initPlugin builds the handler from a raw config.
func initPlugin(f Factory, raw []byte, e env) (Handler, int32) {
	if f == nil {
		e.log(int32(LevelError), "sdk: no plugin registered (call sdk.Register in init)")
		return nil, statusError
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		e.log(int32(LevelError), err.Error())
		return nil, statusBadInput
	}
	var h Handler
	status := func() (status int32) {
		defer func() {
			if r := recover(); r != nil {
				e.log(int32(LevelError), "panic in init: "+panicString(r))
				status = statusPanic
			}
		}()
		h, err = f(cfg)
		if err != nil {
			e.log(int32(LevelError), err.Error())
			return statusError
		}
		if h == nil {
			e.log(int32(LevelError), "sdk: factory returned a nil handler")
			return statusError
		}
		return statusOK
	}()
	return h, status
}

func panicString(r any) string {
	switch v := r.(type) {
	case error:
		return v.Error()
	case string:
		return v
	case interface{ String() string }:
		return v.String()
	}
	return "non-error panic value"
}
