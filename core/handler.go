package core

import (
	"context"
	"encoding/json"
)

// Hook says why a Handler is called.
type Hook uint8

// Hooks.
const (
	// HookMessage: a client frame "<namespace>.<action>".
	HookMessage Hook = iota
	// HookJoin: a connection joined the room. Replies go to the joining
	// connection only (its join state, e.g. presence.state).
	HookJoin
	// HookLeave: a connection left the room or dropped.
	HookLeave
)

// Call is one invocation of a plugin handler.
type Call struct {
	Hook Hook
	// Type is the frame type ("chat.send") for HookMessage.
	Type string
	Room string
	Data json.RawMessage
	// Sender is the connection's user (from its token) and ConnID its id.
	Sender User
	Conn   ConnID
	// FirstOfUser (HookJoin): this is the user's first connection in the
	// room. LastOfUser (HookLeave): the user has no connection left in it.
	FirstOfUser bool
	LastOfUser  bool
	// RoomEmpty (HookLeave): nobody is left in the room.
	RoomEmpty bool
	// Seq is the room's seq as of State; the first durable event of this
	// call's result will get Seq+1 if the commit succeeds.
	Seq uint64
	// State is the namespace's room state as of Seq. Handlers must not
	// modify it; they return StateOps instead.
	State map[string][]byte
}

// Emit is one event a handler asks the router to send.
type Emit struct {
	Type    string
	Data    json.RawMessage
	Durable bool
	// To selects recipients. A durable emit must target the whole room
	// (see TargetRoom); the router rejects the result otherwise.
	To Target
}

// Result is what a handler decided. The router commits Ops and the durable
// Emits atomically with the room's seq, then sends Replies to the caller.
type Result struct {
	// Reject, when not empty, refuses the frame: the sender gets an error
	// "rejected" with this reason and nothing else happens.
	Reject string
	// Forbidden, with Reject set, says the refusal is a role or token rule
	// (a student's whiteboard.clear): the sender gets "forbidden" instead
	// of "rejected".
	Forbidden bool
	Emits     []Emit
	// Replies go to the calling connection only, ephemeral (for HookJoin:
	// the join state).
	Replies []Emit
	Ops     []StateOp
}

// Handler handles the frames of one plugin namespace. Implementations: the
// WebAssembly host (plugins/host) and plain Go handlers in tests.
//
// Handle may be called concurrently for different rooms; the router
// serialises calls for one room on one node. A returned error is reported
// to the sender as plugin_error.
type Handler interface {
	Handle(ctx context.Context, call *Call) (*Result, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, call *Call) (*Result, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, call *Call) (*Result, error) { return f(ctx, call) }

// Plugins selects the handler of a namespace for a room. The plugin host
// implements it from configuration (room patterns, canaries); StaticPlugins
// is the simple map used by tests and embedders.
type Plugins interface {
	// Handler returns the handler of namespace in room, or nil when that
	// namespace is unknown or disabled there.
	Handler(room, namespace string) Handler
	// Features lists the namespaces enabled in room, sorted.
	Features(room string) []string
}
