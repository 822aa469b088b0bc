package core

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"
)

// ConnID identifies one client connection, unique across all nodes.
type ConnID string

// User is the identity of a connection's owner, always taken from its token.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	Role string `json:"role,omitempty"`
}

// ConnInfo describes one authenticated connection. It is stored in the
// registry so that stateless deployments (Lambda) can recover it on every
// event.
type ConnInfo struct {
	ID ConnID `json:"id"`
	// User is the token's subject, name and role.
	User User `json:"user"`
	// Rooms are the token's room patterns: exact ids, "prefix*" or "*".
	Rooms []string `json:"rooms"`
	// Expires is the token's exp; the connection is closed with 4001 then.
	Expires time.Time `json:"expires"`
	// Node is the gateway node that holds the socket ("" for Lambda).
	Node string `json:"node,omitempty"`
}

// Member is one connection in a room, as the registry knows it.
type Member struct {
	Conn ConnID `json:"conn"`
	User User   `json:"user"`
}

// TargetKind says which members of a room an event is delivered to.
type TargetKind uint8

// Targets. Durable events always use TargetRoom: the protocol promises every
// member one gapless seq order, so an event that has a seq must reach every
// member. The narrower targets are for ephemeral events.
const (
	// TargetRoom delivers to every member of the room.
	TargetRoom TargetKind = iota
	// TargetOthers delivers to every member except Target.Conn.
	TargetOthers
	// TargetRole delivers to members whose user role is Target.Value.
	TargetRole
	// TargetUser delivers to the connections of user Target.Value.
	TargetUser
	// TargetConn delivers to connection Target.Conn only.
	TargetConn
)

// Target selects the recipients of an event within its room.
type Target struct {
	Kind  TargetKind `json:"k,omitempty"`
	Value string     `json:"v,omitempty"`
	Conn  ConnID     `json:"c,omitempty"`
}

// Event is one server-to-client room event. Durable events have Seq > 0 and
// live in the room's history; ephemeral events have Seq == 0.
type Event struct {
	Room string          `json:"room"`
	Seq  uint64          `json:"seq,omitempty"`
	Type string          `json:"type"`
	TS   int64           `json:"ts"` // unix milliseconds, set by the gateway
	From *User           `json:"from,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
	// To selects recipients; zero value means the whole room.
	To Target `json:"to,omitzero"`
	// Epoch is the epoch of the room's sequence that Seq belongs to (see
	// Snapshot.Epoch), set by the store on durable events it returns or
	// publishes; "" on ephemeral events. It is not part of the stored
	// event nor of its wire form.
	Epoch string `json:"-"`
}

// NewEpoch returns a fresh random epoch for a room's sequence: 16 hex
// digits, so two sequences of one room practically never share one.
func NewEpoch() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// IsEpochMark reports whether e is not a room event but a Bus's notice
// that the room's sequence moved to epoch e.Epoch at seq e.Seq (the store
// lost its data, or its seq went back) with no event to carry the news.
// The router resyncs the room's members and delivers nothing.
func (e *Event) IsEpochMark() bool { return e.Type == "" && e.Epoch != "" }

// OpKind is a room-state operation applied by the store atomically with the
// events of the same commit.
type OpKind uint8

// State operations.
const (
	// OpSet sets Key to Value.
	OpSet OpKind = iota + 1
	// OpDel deletes Key.
	OpDel
	// OpClear deletes every key of the namespace.
	OpClear
)

// StateOp changes one plugin's room-scoped key/value state.
type StateOp struct {
	Op    OpKind `json:"op"`
	Key   string `json:"key,omitempty"`
	Value []byte `json:"value,omitempty"`
}

// Commit is everything one client frame (or hook) changes in a room, applied
// by the store as one atomic step: dedupe check, seq assignment for each
// durable event, history append, state ops, publication to subscribers.
type Commit struct {
	Room string
	// DedupeKey, when not empty, makes the commit idempotent: if a commit
	// with the same key was applied within DedupeTTL, nothing is applied and
	// the original first seq is returned with ErrDuplicate.
	DedupeKey string
	DedupeTTL time.Duration
	// ExpectVersion, when CheckVersion is set, makes the commit conditional
	// on the room's state version still being this value (see Snapshot);
	// otherwise ErrConflict is returned and nothing is applied.
	CheckVersion  bool
	ExpectVersion uint64
	// Namespace owns Ops.
	Namespace string
	Ops       []StateOp
	// Durable events get consecutive seqs in order; their Seq field is
	// ignored on input.
	Durable []Event
	// Ephemeral events are published after the durable ones, without seq.
	Ephemeral []Event
}

// CommitResult reports what a commit did.
type CommitResult struct {
	// FirstSeq is the seq of the first durable event (0 if none). For a
	// duplicate it is the seq the original commit got.
	FirstSeq uint64
	// LastSeq is the room's seq after the commit.
	LastSeq uint64
	// Epoch is the epoch of the room's sequence the seqs belong to.
	Epoch string
	// Refusal is the answer remembered for the dedupe key with
	// ErrRefusedBefore.
	Refusal DedupeAnswer
}

// Snapshot is a consistent view of a room: its seq, its state version and
// the state of the requested namespaces, all as of the same instant.
type Snapshot struct {
	Seq     uint64
	Version uint64
	// Epoch names the room's sequence: a store gives a room a new random
	// epoch whenever its seq starts again from nothing (the room is new,
	// or the store lost its data) and, where it can see it, when its seq
	// went back (a failover to a replica that lagged). A seq means
	// something only together with its epoch. Never "" from a store that
	// passes core/coretest.
	Epoch string
	// State maps namespace → key → value. Missing namespaces are empty.
	// The maps are read-only: a store may share them between snapshots
	// (the memory store does, copying on its next write instead).
	State map[string]map[string][]byte
	// Cached reports a snapshot a store answered from what it holds
	// (SnapshotDedupe with a key, on a store that caches rooms it is sure
	// of) without asking the store itself: it is current unless another
	// node changed the room unseen, and the dedupe key was not looked up.
	// The router then makes the commit conditional on Version whatever
	// the plugin returned (so a stale snapshot is ErrConflict and a fresh
	// read), the commit looks the key up (ErrDuplicate, ErrRefusedBefore),
	// and a plugin's refusal is answered only after Dedupe found no
	// earlier answer.
	Cached bool
	// Release, when not nil, tells the store that the caller no longer
	// reads State, so a store that shares its maps may write into them
	// again instead of copying them on its next commit. Calling it is
	// optional and more than once is harmless; State must not be read
	// after it.
	Release func()
}

// Errors returned by stores. Wrap them with context; callers use errors.Is.
var (
	// ErrDuplicate: the commit's dedupe key was already used.
	ErrDuplicate = errors.New("duplicate commit")
	// ErrRefusedBefore: the commit's dedupe key names a frame refused
	// before (RememberRefusal): nothing is applied and CommitResult.Refusal
	// has the answer. Only a store whose snapshots may be Cached returns
	// it (the others answer it from SnapshotDedupe, before the plugin).
	ErrRefusedBefore = errors.New("frame refused before")
	// ErrConflict: ExpectVersion did not match; re-read and retry.
	ErrConflict = errors.New("room state changed concurrently")
	// ErrUnavailable: the store cannot be reached; the operation may be
	// retried and nothing was acknowledged.
	ErrUnavailable = errors.New("store unavailable")
	// ErrNotFound: no such connection.
	ErrNotFound = errors.New("not found")
)

// Registry tracks connections, users and room membership across all nodes.
type Registry interface {
	// AddConn records a connection.
	AddConn(ctx context.Context, c ConnInfo) error
	// Conn returns a connection and the rooms it has joined, or ErrNotFound.
	Conn(ctx context.Context, id ConnID) (ConnInfo, []string, error)
	// RemoveConn forgets a connection and removes it from every room. It
	// returns, for each room it was in, whether that was the user's last
	// connection there (lastOfUser) and whether the room is now empty.
	RemoveConn(ctx context.Context, id ConnID) ([]Departure, error)
	// Join adds the connection to room; first reports whether it is the
	// user's first connection in that room. Joining twice is a no-op that
	// reports first=false.
	Join(ctx context.Context, room string, c ConnInfo) (first bool, err error)
	// Leave removes the connection from room; joined=false if it was not in
	// it. The Departure tells whether the user or the room is now gone.
	Leave(ctx context.Context, room string, id ConnID) (d Departure, joined bool, err error)
	// Members lists the connections in room, on every node.
	Members(ctx context.Context, room string) ([]Member, error)
	// Touch refreshes the liveness of connections (heartbeat).
	Touch(ctx context.Context, ids ...ConnID) error
	// Expired returns up to limit connections not touched within the
	// store's liveness TTL (e.g. their node crashed). The caller disconnects
	// them through the router, which calls RemoveConn.
	Expired(ctx context.Context, limit int) ([]ConnID, error)
}

// Departure describes a connection leaving one room.
type Departure struct {
	Room       string
	User       User
	LastOfUser bool
	RoomEmpty  bool
}

// Log is a room's sequence, history, dedupe and plugin state.
type Log interface {
	// Commit applies c atomically (see Commit). On ErrDuplicate the result
	// still carries the original FirstSeq.
	Commit(ctx context.Context, c Commit) (CommitResult, error)
	// History returns the durable events with seq > since, in order. If the
	// history no longer reaches back to since+1 (trimmed by size or age),
	// complete is false and events is nil. lastSeq is the room's seq. The
	// events carry the room's current epoch; a caller that read the seq
	// under another epoch must not use them.
	History(ctx context.Context, room string, since uint64) (events []Event, lastSeq uint64, complete bool, err error)
	// Snapshot returns the room's seq, version and the state of namespaces.
	Snapshot(ctx context.Context, room string, namespaces ...string) (Snapshot, error)
	// SnapshotDedupe is Snapshot and a dedupe lookup read at one instant,
	// in one step (one round trip on a networked store): the router reads
	// both before it calls a plugin for a frame with an id. ans is the
	// answer remembered for key within its TTL: the FirstSeq of the commit
	// that used it, or the refusal recorded by RememberRefusal; found is
	// false when the key is unused or "" (then it is exactly Snapshot).
	SnapshotDedupe(ctx context.Context, room, key string, namespaces ...string) (snap Snapshot, ans DedupeAnswer, found bool, err error)
	// RememberRefusal records that the frame behind a dedupe key was
	// refused with ans.Code and ans.Message, for ttl, so a retry gets the
	// same answer. It does nothing when a commit already used the key (a
	// commit wins over a refusal).
	RememberRefusal(ctx context.Context, room, key string, ans DedupeAnswer, ttl time.Duration) error
	// Dedupe is the dedupe lookup of SnapshotDedupe alone, always asked
	// of the store itself: the router asks it when a plugin refused a
	// frame whose snapshot was Cached, so that the retry of a frame
	// answered before gets that answer, not the plugin's refusal of a
	// repeat.
	Dedupe(ctx context.Context, room, key string) (ans DedupeAnswer, found bool, err error)
}

// DedupeAnswer is what a client frame with an id was answered, remembered
// for the dedupe window: an ack with Seq (0 when the frame produced no
// durable event), or, when Code is set, an error with Code and Message.
type DedupeAnswer struct {
	Seq     uint64
	Code    Code
	Message string
}

// Bus delivers published room events to the nodes that subscribed to the
// room, in seq order per room.
type Bus interface {
	// Subscribe starts delivering the room's events (durable and
	// ephemeral, from every node) to the sink given to SetSink. Subscribe is
	// reference counted by the caller: call it once per room.
	Subscribe(ctx context.Context, room string) error
	// Unsubscribe stops delivery for room.
	Unsubscribe(ctx context.Context, room string) error
	// SetSink sets the function that receives events. It is called from a
	// single goroutine per room, in publication order, and must not block
	// for long. Durable events carry their epoch; when a Bus sees the
	// room's epoch change or its seq go back without an event to show it
	// (e.g. on re-subscribing after Redis restarted empty), it hands the
	// sink an epoch mark (see Event.IsEpochMark).
	SetSink(func(Event))
}

// Store is everything the router needs from its storage backend.
// Implementations: core/memory (one machine) and adapters/redis (many).
// Every implementation must pass core/coretest.
type Store interface {
	Registry
	Log
	Bus
	// Ping reports whether the backend is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases resources.
	Close() error
}

// Sender delivers frames to connections. The standalone server queues them
// on the socket's bounded outbound queue; the Lambda adapter posts them to
// the API Gateway Management API.
type Sender interface {
	// Send delivers one encoded text frame. It must not block on a slow
	// client; a connection that cannot keep up is closed with 4008 by the
	// implementation. ErrNotFound means the connection is gone.
	Send(ctx context.Context, id ConnID, frame []byte) error
	// Close closes the connection with a WebSocket close code and reason.
	Close(ctx context.Context, id ConnID, code int, reason string) error
}

// BatchSender is an optional extension of Sender for adapters that can
// hand one frame to many connections more cheaply than with a Send each
// (the standalone server submits the writes together with io_uring).
// The router uses it for a room's fan-out. For each connection it must
// behave as Send would; errors are the implementation's to log, as the
// router only logs a failed Send.
type BatchSender interface {
	SendBatch(ctx context.Context, ids []ConnID, frame []byte)
}

// Sequencer is an optional extension of Sender for direct-mode adapters
// whose deliveries run in many processes at once (API Gateway + Lambda):
// it tells the adapter which frames belong to which room's delivery, so
// that it can post every room's durable events in seq order across
// processes (adapters/awsapigw does it with a per-room hand-off in Redis).
// The router calls it in direct mode only, always in pairs:
//
//   - JoinBegin before a join registers the connection and reads the
//     room's seq; JoinEnd(seq) when the join's own frames (joined, replay,
//     join states) were sent, seq being the one the joined frame carries.
//     JoinBegin may block (bounded) until the room's earlier deliveries
//     are out; its error is logged and the join goes on.
//   - PublishBegin before the fan-out of the durable events first..last of
//     a commit (epoch is the room's sequence epoch); PublishEnd after it.
//
// Frames sent between a Begin and its End belong to that delivery.
type Sequencer interface {
	JoinBegin(ctx context.Context, room string, id ConnID) error
	JoinEnd(ctx context.Context, room string, id ConnID, seq uint64)
	PublishBegin(ctx context.Context, room string, first, last uint64, epoch string)
	PublishEnd(ctx context.Context, room string)
}
