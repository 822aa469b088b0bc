package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/classgate/classgate/core/limit"
)

// Options configure a Router. Zero values take the documented defaults.
type Options struct {
	Store   Store
	Sender  Sender
	Plugins Plugins
	// Node names this gateway node in the registry.
	Node string
	// Direct selects stateless fan-out (Lambda): the router keeps no local
	// connection table, loads each connection from the registry on every
	// event, and delivers each committed event itself to every member in
	// the registry. Otherwise (standalone server) the router subscribes to
	// the Bus for rooms with local members and delivers what it receives.
	Direct bool
	// DedupeWindow is how long a client id is remembered (default 5m).
	DedupeWindow time.Duration
	// MaxRoomsPerConn caps the rooms one connection may join (default 16).
	MaxRoomsPerConn int
	// MaxMessageBytes is the largest frame accepted; larger frames get
	// too_large (default 64 KiB). The transport's hard read limit, above
	// which the connection is closed with 1009, is set by the adapter.
	MaxMessageBytes int
	// RatePerSecond and RateBurst set the per-connection token bucket
	// (defaults 50/s, burst 200; RatePerSecond < 0 disables it). The burst
	// absorbs frames that queued up in the socket while the node was busy.
	RatePerSecond float64
	RateBurst     int
	// AbuseLimit is how many frames in a row may be refused by the rate
	// limiter before the connection is closed with 1008 (default 100).
	AbuseLimit int
	// CommitRetries bounds optimistic-concurrency retries (default 16);
	// retries back off with jitter, so nodes racing on one room spread out.
	CommitRetries int
	// Logger receives router logs (default slog.Default()).
	Logger *slog.Logger
	// Observer receives metrics events (default none).
	Observer Observer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.DedupeWindow == 0 {
		o.DedupeWindow = 5 * time.Minute
	}
	if o.MaxRoomsPerConn == 0 {
		o.MaxRoomsPerConn = 16
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 64 << 10
	}
	if o.RatePerSecond == 0 {
		o.RatePerSecond = 50
	}
	if o.RateBurst == 0 {
		o.RateBurst = 200
	}
	if o.AbuseLimit == 0 {
		o.AbuseLimit = 100
	}
	if o.CommitRetries == 0 {
		o.CommitRetries = 16
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Plugins == nil {
		o.Plugins = StaticPlugins{}
	}
}

// Router implements the control plane of PROTOCOL v1 over the ports.
// All methods are safe for concurrent use. Calls for one connection must
// not overlap (adapters call Receive from one read loop per connection, or
// once per Lambda event).
type Router struct {
	o     Options
	log   *slog.Logger
	batch BatchSender // o.Sender, if it sends to many connections at once

	// mu guards conns, rooms and each room's membership. The per-frame
	// paths (session, lockRoom, deliver) only read them and take it
	// shared, so a goroutine the OS preempts there never stalls frames of
	// other rooms; joins, leaves and connects take it exclusively.
	mu    sync.RWMutex
	conns map[ConnID]*localConn
	rooms map[string]*localRoom

	// subMu serialises Bus Subscribe/Unsubscribe calls. They may do
	// network I/O (Redis), so they never run under mu.
	subMu sync.Mutex
}

// localConn is a connection held by this node (standalone mode only).
type localConn struct {
	info ConnInfo
	// bucketMu guards bucket (frames of one connection do not overlap,
	// but nothing else would stop a misbehaving adapter from racing).
	bucketMu sync.Mutex
	bucket   *limit.Bucket
	timer    *time.Timer
	// joined rooms, guarded by Router.mu.
	joined map[string]*membership
}

// membership is one connection in one local room. While pending (during a
// join) live events are buffered so the joiner sees joined → replay → join
// state → live events, in that order.
type membership struct {
	conn    *localConn
	pending bool
	buf     []*Event
	// last is the last durable seq this member has (from its join, then
	// each delivered event). A bus may hand over an event late or twice —
	// Redis pub/sub lags the commit, and a catch-up after a reconnect
	// overlaps live messages — so anything at or below last is dropped.
	last uint64
	// epoch is the epoch of the room's sequence that last counts in (from
	// the join's snapshot, then each event). An event or epoch mark of
	// another epoch means the store lost the room's history or its seq
	// went back: the member gets resync, and last restarts in the new
	// epoch. Guarded like last.
	epoch string
}

// advance applies a durable event or an epoch mark to the member's
// position: send reports whether the event goes to the member, resync
// whether a resync (at resyncSeq) must go first. The caller holds the
// room's deliverMu or Router.mu exclusively.
func (m *membership) advance(e *Event) (send, resync bool, resyncSeq uint64) {
	if e.Epoch != "" && e.Epoch != m.epoch {
		// Another sequence: what the member counted is not comparable.
		// A member that knew no epoch (a store without epochs) adopts it.
		resync = m.epoch != ""
		m.epoch = e.Epoch
		if e.IsEpochMark() {
			m.last = e.Seq
			return false, resync, e.Seq
		}
		m.last = e.Seq
		return true, resync, e.Seq - 1
	}
	if e.IsEpochMark() || e.Seq <= m.last {
		return false, false, 0 // late or repeated copy
	}
	m.last = e.Seq
	return true, false, 0
}

// localRoom is a room with members on this node.
type localRoom struct {
	// proc serialises plugin processing and joins for the room on this
	// node, so local commits never conflict.
	proc    sync.Mutex
	members map[ConnID]*membership // guarded by Router.mu
	// deliverMu serialises deliveries to the room's members (their last
	// and buf fields) among holders of Router.mu's read lock; changes to
	// membership hold Router.mu exclusively instead.
	deliverMu sync.Mutex
	// refs counts the users of proc. It is raised under Router.mu (read
	// or write) and checked under the write lock, so a room is forgotten
	// only when nobody holds or is about to take its lock.
	refs atomic.Int32
}

// NewRouter builds a router. In standalone mode it installs itself as the
// store's Bus sink.
func NewRouter(o Options) (*Router, error) {
	if o.Store == nil || o.Sender == nil {
		return nil, errors.New("core: router needs a Store and a Sender")
	}
	o.defaults()
	r := &Router{o: o, log: o.Logger, conns: map[ConnID]*localConn{}, rooms: map[string]*localRoom{}}
	r.batch, _ = o.Sender.(BatchSender)
	if !o.Direct {
		o.Store.SetSink(r.deliver)
	}
	return r, nil
}

// Connect registers an authenticated connection. In standalone mode it
// also arms the token-expiry close (4001).
func (r *Router) Connect(ctx context.Context, info ConnInfo) error {
	info.Node = r.o.Node
	if err := r.o.Store.AddConn(ctx, info); err != nil {
		return fmt.Errorf("core: connect %s: %w", info.ID, err)
	}
	r.o.Observer.Connected(1)
	if r.o.Direct {
		return nil
	}
	lc := &localConn{info: info, joined: map[string]*membership{}}
	if r.o.RatePerSecond > 0 {
		lc.bucket = limit.NewBucket(r.o.RatePerSecond, r.o.RateBurst)
	}
	if !info.Expires.IsZero() {
		d := info.Expires.Sub(r.o.Now())
		lc.timer = time.AfterFunc(d, func() {
			_ = r.o.Sender.Close(context.Background(), info.ID, CloseTokenExpired, "token expired")
		})
	}
	r.mu.Lock()
	r.conns[info.ID] = lc
	r.mu.Unlock()
	return nil
}

// LocalConns returns the ids of the connections this node holds.
func (r *Router) LocalConns() []ConnID {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]ConnID, 0, len(r.conns))
	for id := range r.conns {
		ids = append(ids, id)
	}
	return ids
}

// Disconnect forgets a connection: it leaves every room (running the
// plugins' leave hooks, e.g. presence.leave) and is removed from the
// registry. Disconnecting an unknown connection is a no-op.
func (r *Router) Disconnect(ctx context.Context, id ConnID) error {
	var lc *localConn
	if !r.o.Direct {
		r.mu.Lock()
		lc = r.conns[id]
		delete(r.conns, id)
		r.mu.Unlock()
		if lc != nil && lc.timer != nil {
			lc.timer.Stop()
		}
	}
	deps, err := r.o.Store.RemoveConn(ctx, id)
	if errors.Is(err, ErrNotFound) {
		err = nil
	}
	info := ConnInfo{ID: id}
	if lc != nil {
		info = lc.info
		r.o.Observer.Connected(-1)
	}
	for _, d := range deps {
		// Leave hooks run under the room's processing lock, never
		// concurrently with joins or messages in that room on this node.
		lr := r.lockRoom(d.Room)
		if lr != nil {
			r.mu.Lock()
			r.dropMemberLocked(ctx, d.Room, id)
			r.mu.Unlock()
		}
		r.runLeaveHooks(ctx, info, d)
		r.unlockRoom(d.Room, lr)
	}
	if lc != nil {
		// Rooms the registry no longer listed (e.g. a failed join).
		r.mu.Lock()
		for room := range lc.joined {
			r.dropMemberLocked(ctx, room, id)
		}
		r.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("core: disconnect %s: %w", id, err)
	}
	return nil
}

// Sweep disconnects up to limit connections whose liveness expired in the
// registry (their node died, or API Gateway lost a $disconnect), so their
// users leave the rooms. Nodes call it periodically.
func (r *Router) Sweep(ctx context.Context, limit int) (int, error) {
	ids, err := r.o.Store.Expired(ctx, limit)
	if err != nil {
		return 0, fmt.Errorf("core: sweep: %w", err)
	}
	for _, id := range ids {
		if err := r.Disconnect(ctx, id); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// Receive handles one text frame from a connection. Protocol errors are
// answered on the connection; the returned error is only for failures the
// adapter should log (the connection stays open).
func (r *Router) Receive(ctx context.Context, id ConnID, frame []byte) error {
	c, err := r.session(ctx, id)
	if err != nil {
		return err
	}
	if !c.info.Expires.IsZero() && !r.o.Now().Before(c.info.Expires) {
		return r.o.Sender.Close(ctx, id, CloseTokenExpired, "token expired")
	}
	if c.local != nil {
		c.local.bucketMu.Lock()
		ok, denied := c.local.bucket.Allow(r.o.Now())
		c.local.bucketMu.Unlock()
		if !ok {
			r.o.Observer.FrameIn("rate_limited")
			r.o.Observer.RateLimited()
			if denied >= r.o.AbuseLimit {
				return r.o.Sender.Close(ctx, id, ClosePolicy, "rate limit exceeded")
			}
			r.replyErr(ctx, c, FrameID(frame), Errf(CodeRateLimited, "too many frames; slow down"))
			return nil
		}
	}
	if len(frame) > r.o.MaxMessageBytes {
		r.o.Observer.FrameIn("invalid")
		r.replyErr(ctx, c, FrameID(frame), Errf(CodeTooLarge, "frame of %d bytes exceeds %d", len(frame), r.o.MaxMessageBytes))
		return nil
	}
	f, perr := ParseFrame(frame)
	if perr != nil {
		r.o.Observer.FrameIn("invalid")
		r.replyErr(ctx, c, f.ID, perr)
		return nil
	}
	r.o.Observer.FrameIn(r.typeLabel(f))
	if r.o.Direct {
		// API Gateway has no server pings: every frame proves liveness.
		_ = r.o.Store.Touch(ctx, id)
	}
	switch f.Type {
	case "ping":
		r.reply(ctx, id, &Out{Type: "pong", ID: f.ID})
	case "join":
		if e := r.join(ctx, c, f); e != nil {
			r.replyErr(ctx, c, f.ID, e)
		}
	case "leave":
		if e := r.leave(ctx, c, f); e != nil {
			r.replyErr(ctx, c, f.ID, e)
		}
	default:
		if e := r.message(ctx, c, f); e != nil {
			r.replyErr(ctx, c, f.ID, e)
		}
	}
	return nil
}

// typeLabel bounds the frame-type metric label: control types and types of
// namespaces enabled somewhere keep their name, anything else is "unknown".
func (r *Router) typeLabel(f Frame) string {
	switch f.Type {
	case "join", "leave", "ping":
		return f.Type
	}
	if ns, _, ok := SplitType(f.Type); ok && f.Room != "" && r.o.Plugins.Handler(f.Room, ns) != nil && len(f.Type) <= 64 {
		return f.Type
	}
	return "unknown"
}

// session is what the router knows of a connection during one event.
type session struct {
	info   ConnInfo
	joined map[string]bool // direct mode: the rooms the registry lists
	local  *localConn      // standalone mode: rooms are read from it
	mu     *sync.RWMutex   // guards local.joined (the router's mu)
}

// in reports whether the connection is in room.
func (c *session) in(room string) bool {
	if c.local == nil {
		return c.joined[room]
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.local.joined[room] != nil
}

// rooms is the number of rooms the connection is in.
func (c *session) rooms() int {
	if c.local == nil {
		return len(c.joined)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.local.joined)
}

func (r *Router) session(ctx context.Context, id ConnID) (*session, error) {
	if !r.o.Direct {
		r.mu.RLock()
		lc := r.conns[id]
		r.mu.RUnlock()
		if lc == nil {
			return nil, fmt.Errorf("core: receive on %s: %w", id, ErrNotFound)
		}
		return &session{info: lc.info, local: lc, mu: &r.mu}, nil
	}
	info, rooms, err := r.o.Store.Conn(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("core: receive on %s: %w", id, err)
	}
	joined := make(map[string]bool, len(rooms))
	for _, room := range rooms {
		joined[room] = true
	}
	return &session{info: info, joined: joined}, nil
}

// reply sends a control frame to one connection.
func (r *Router) reply(ctx context.Context, id ConnID, o *Out) {
	r.o.Observer.FrameOut(o.Type)
	r.send(ctx, id, o.Encode())
}

func (r *Router) send(ctx context.Context, id ConnID, b []byte) {
	if err := r.o.Sender.Send(ctx, id, b); err != nil && !errors.Is(err, ErrNotFound) {
		r.log.Debug("send failed", "conn", id, "err", err)
	}
}

func (r *Router) replyErr(ctx context.Context, c *session, id string, e *Error) {
	r.o.Observer.ErrorSent(string(e.Code))
	r.reply(ctx, c.info.ID, &Out{Type: "error", ID: id, Code: e.Code, Message: e.Message})
}

func (r *Router) allowed(c *session, room string) bool {
	for _, p := range c.info.Rooms {
		if MatchRoom(p, room) {
			return true
		}
	}
	return false
}

// lockRoom takes the processing lock of a room on this node (creating the
// local room entry if needed). In direct mode there is nothing to lock:
// concurrency is handled by the store's version check.
func (r *Router) lockRoom(room string) *localRoom {
	if r.o.Direct {
		return nil
	}
	r.mu.RLock()
	lr := r.rooms[room]
	if lr != nil {
		lr.refs.Add(1)
	}
	r.mu.RUnlock()
	if lr == nil {
		r.mu.Lock()
		lr = r.rooms[room]
		if lr == nil {
			lr = &localRoom{members: map[ConnID]*membership{}}
			r.rooms[room] = lr
			r.o.Observer.Rooms(len(r.rooms))
		}
		lr.refs.Add(1)
		r.mu.Unlock()
	}
	lr.proc.Lock()
	return lr
}

func (r *Router) unlockRoom(room string, lr *localRoom) {
	if lr == nil {
		return
	}
	lr.proc.Unlock()
	if lr.refs.Add(-1) > 0 {
		return // another user holds or awaits the lock; it collects the room
	}
	r.mu.Lock()
	r.gcRoomLocked(context.Background(), room, lr)
	r.mu.Unlock()
}

// gcRoomLocked forgets a local room with no members and no users, and
// unsubscribes from its events.
func (r *Router) gcRoomLocked(ctx context.Context, room string, lr *localRoom) {
	if lr.refs.Load() == 0 && len(lr.members) == 0 && r.rooms[room] == lr {
		delete(r.rooms, room)
		r.o.Observer.Rooms(len(r.rooms))
		go r.unsubscribeIfGone(ctx, room)
	}
}

// unsubscribeIfGone stops the room's Bus subscription unless a join brought
// the room back meanwhile (that join subscribed under subMu, before or
// after this check, so the room is never left without a subscription).
func (r *Router) unsubscribeIfGone(ctx context.Context, room string) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	r.mu.Lock()
	_, back := r.rooms[room]
	r.mu.Unlock()
	if back {
		return
	}
	if err := r.o.Store.Unsubscribe(context.WithoutCancel(ctx), room); err != nil {
		r.log.Warn("unsubscribe failed", "room", room, "err", err)
	}
}

func (r *Router) dropMemberLocked(ctx context.Context, room string, id ConnID) {
	lr := r.rooms[room]
	if lr == nil {
		return
	}
	delete(lr.members, id)
	if c := r.conns[id]; c != nil {
		delete(c.joined, room)
	}
	r.gcRoomLocked(ctx, room, lr)
}

func (r *Router) join(ctx context.Context, c *session, f Frame) *Error {
	if f.Room == "" {
		return Errf(CodeBadRequest, "join needs a room")
	}
	if !r.allowed(c, f.Room) {
		return Errf(CodeForbidden, "token does not allow room %q", f.Room)
	}
	already := c.in(f.Room) // before the join below makes it a member
	if !already && c.rooms() >= r.o.MaxRoomsPerConn {
		return Errf(CodeForbidden, "at most %d rooms per connection", r.o.MaxRoomsPerConn)
	}
	lr := r.lockRoom(f.Room)
	defer r.unlockRoom(f.Room, lr)

	var m *membership
	if lr != nil {
		// Become a (pending) local member before reading the room's seq,
		// so no live event between the snapshot and the end of the join is
		// missed: they are buffered and flushed at the end.
		r.mu.Lock()
		lc := r.conns[c.info.ID]
		if lc == nil {
			r.mu.Unlock()
			return nil // disconnected meanwhile
		}
		newRoom := len(lr.members) == 0
		m = lr.members[c.info.ID]
		if m == nil {
			m = &membership{conn: lc}
			lr.members[c.info.ID] = m
			lc.joined[f.Room] = m
		}
		m.pending = true
		m.buf = m.buf[:0]
		r.mu.Unlock()
		if newRoom {
			r.subMu.Lock()
			err := r.o.Store.Subscribe(ctx, f.Room)
			r.subMu.Unlock()
			if err != nil {
				r.abortJoin(ctx, f.Room, c.info.ID)
				return r.storeErr("subscribe", err)
			}
		}
	}
	first := false
	if !already {
		var err error
		first, err = r.o.Store.Join(ctx, f.Room, c.info)
		if err != nil {
			r.abortJoin(ctx, f.Room, c.info.ID)
			return r.storeErr("join", err)
		}
	}
	features := r.o.Plugins.Features(f.Room)
	snap, err := r.o.Store.Snapshot(ctx, f.Room, features...)
	if err != nil {
		r.abortJoin(ctx, f.Room, c.info.ID)
		return r.storeErr("snapshot", err)
	}
	user := c.info.User
	r.reply(ctx, c.info.ID, &Out{Type: "joined", Room: f.Room, ID: f.ID, Seq: snap.Seq,
		ConnectionID: c.info.ID, User: &user, Features: nonNil(features), Epoch: snap.Epoch})
	r.o.Observer.Joined()
	if f.Since != nil {
		r.replay(ctx, c.info.ID, f.Room, *f.Since, snap.Seq, f.Epoch, snap.Epoch)
	}
	// Join hooks: each enabled plugin's join state for the newcomer, and
	// whatever it announces to the room (presence.join). A re-join of a
	// room already joined (first=false) only resends the join state.
	{
		for _, ns := range features {
			h := r.o.Plugins.Handler(f.Room, ns)
			if h == nil {
				continue
			}
			call := &Call{Hook: HookJoin, Type: ns + ".join", Room: f.Room, Sender: user, Conn: c.info.ID, FirstOfUser: first}
			if _, e := r.runHandler(ctx, h, ns, call, &snap, "", c.info.ID); e != nil {
				r.log.Warn("join hook failed", "room", f.Room, "plugin", ns, "err", e.Message)
			}
		}
	}
	if m != nil {
		r.flush(ctx, m, snap.Seq, snap.Epoch)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// flush ends a join: buffered live events newer than seq (of epoch) are
// sent, then the membership goes live.
func (r *Router) flush(ctx context.Context, m *membership, seq uint64, epoch string) {
	r.mu.Lock()
	m.last, m.epoch = seq, epoch
	r.mu.Unlock()
	for {
		r.mu.Lock()
		buf := m.buf
		m.buf = nil
		if len(buf) == 0 {
			m.pending = false
			r.mu.Unlock()
			return
		}
		out := buf[:0]
		for _, e := range buf {
			if e.Seq != 0 || e.IsEpochMark() {
				send, resync, at := m.advance(e)
				if resync {
					// Queued behind the events before it, in order.
					out = append(out, &Event{Room: e.Room, Seq: at, Epoch: e.Epoch})
				}
				if !send {
					continue
				}
			}
			out = append(out, e)
		}
		r.mu.Unlock()
		for _, e := range out {
			if e.IsEpochMark() {
				r.sendResync(ctx, m.conn.info.ID, e.Room, e.Seq, e.Epoch)
				continue
			}
			r.send(ctx, m.conn.info.ID, EncodeEvent(e))
		}
	}
}

func (r *Router) abortJoin(ctx context.Context, room string, id ConnID) {
	r.mu.Lock()
	r.dropMemberLocked(ctx, room, id)
	r.mu.Unlock()
}

// replay sends the events after since up to upTo, or a resync frame when
// the history no longer reaches back that far or since counts in another
// epoch than the room's (sinceEpoch is the client's, "" if it sent none).
func (r *Router) replay(ctx context.Context, id ConnID, room string, since, upTo uint64, sinceEpoch, epoch string) {
	if sinceEpoch != "" && epoch != "" && sinceEpoch != epoch {
		// The client's seqs belong to a sequence the room no longer has
		// (the store lost its data or went back): start over.
		r.sendResync(ctx, id, room, upTo, epoch)
		return
	}
	if since >= upTo {
		if since > upTo {
			// The client claims events the room never had (the history
			// was lost, or it is another room's seq): start over.
			r.sendResync(ctx, id, room, upTo, epoch)
		}
		return
	}
	events, _, complete, err := r.o.Store.History(ctx, room, since)
	if err == nil && complete && len(events) > 0 && events[0].Epoch != "" && events[0].Epoch != epoch {
		complete = false // the epoch changed since the snapshot
	}
	if err != nil || !complete {
		if err != nil {
			r.log.Warn("history failed", "room", room, "err", err)
		}
		r.sendResync(ctx, id, room, upTo, epoch)
		return
	}
	r.o.Observer.Replayed(len(events))
	for i := range events {
		if events[i].Seq > upTo {
			break
		}
		r.send(ctx, id, EncodeEvent(&events[i]))
	}
}

// sendResync tells a member that its room state cannot be continued from
// what it has: the join state that follows (in a join) or a re-join (live)
// starts it over as of seq in epoch.
func (r *Router) sendResync(ctx context.Context, id ConnID, room string, seq uint64, epoch string) {
	r.o.Observer.Resync()
	r.o.Observer.FrameOut("resync")
	// Not an Out: its seq is sent even when 0 (a restarted sequence), as
	// the client sets its position from it.
	b, _ := json.Marshal(struct {
		Type  string `json:"type"`
		Room  string `json:"room"`
		Seq   uint64 `json:"seq"`
		Epoch string `json:"epoch,omitempty"`
	}{"resync", room, seq, epoch})
	r.send(ctx, id, b)
}

func (r *Router) leave(ctx context.Context, c *session, f Frame) *Error {
	if f.Room == "" {
		return Errf(CodeBadRequest, "leave needs a room")
	}
	if !c.in(f.Room) {
		return Errf(CodeNotJoined, "not in room %q", f.Room)
	}
	lr := r.lockRoom(f.Room)
	defer r.unlockRoom(f.Room, lr)
	d, joined, err := r.o.Store.Leave(ctx, f.Room, c.info.ID)
	if err != nil {
		return r.storeErr("leave", err)
	}
	if lr != nil {
		r.mu.Lock()
		r.dropMemberLocked(ctx, f.Room, c.info.ID)
		r.mu.Unlock()
	}
	if joined {
		r.runLeaveHooks(ctx, c.info, d)
	}
	if f.ID != "" {
		r.reply(ctx, c.info.ID, &Out{Type: "ack", ID: f.ID})
	}
	return nil
}

func (r *Router) runLeaveHooks(ctx context.Context, info ConnInfo, d Departure) {
	for _, ns := range r.o.Plugins.Features(d.Room) {
		h := r.o.Plugins.Handler(d.Room, ns)
		if h == nil {
			continue
		}
		call := &Call{Hook: HookLeave, Type: ns + ".leave", Room: d.Room, Sender: d.User, Conn: info.ID,
			LastOfUser: d.LastOfUser, RoomEmpty: d.RoomEmpty}
		if _, e := r.runHandler(ctx, h, ns, call, nil, "", ""); e != nil {
			r.log.Warn("leave hook failed", "room", d.Room, "plugin", ns, "err", e.Message)
		}
	}
}

func (r *Router) message(ctx context.Context, c *session, f Frame) *Error {
	ns, _, ok := SplitType(f.Type)
	if !ok {
		return Errf(CodeUnknownType, "unknown frame type %q", f.Type)
	}
	if f.Room == "" {
		return Errf(CodeBadRequest, "%s needs a room", f.Type)
	}
	if !c.in(f.Room) {
		return Errf(CodeNotJoined, "join room %q first", f.Room)
	}
	h := r.o.Plugins.Handler(f.Room, ns)
	if h == nil {
		return Errf(CodeUnknownType, "no plugin for %q in this room", ns)
	}
	lr := r.lockRoom(f.Room)
	defer r.unlockRoom(f.Room, lr)
	dedupe := ""
	if f.ID != "" {
		dedupe = c.info.User.ID + "\x00" + f.ID
	}
	data := f.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	call := &Call{Hook: HookMessage, Type: f.Type, Room: f.Room, Data: data, Sender: c.info.User, Conn: c.info.ID}
	seq, e := r.runHandler(ctx, h, ns, call, nil, dedupe, c.info.ID)
	if e != nil {
		return e
	}
	if f.ID != "" {
		r.o.Observer.Acked()
		r.reply(ctx, c.info.ID, &Out{Type: "ack", ID: f.ID, Seq: seq})
	}
	return nil
}

// runHandler calls a plugin with a fresh snapshot and commits its result,
// retrying on a concurrent change of the room. It returns the first seq
// assigned (or the original one for a duplicate). replyTo receives the
// result's replies.
func (r *Router) runHandler(ctx context.Context, h Handler, ns string, call *Call, snap *Snapshot, dedupe string, replyTo ConnID) (uint64, *Error) {
	for attempt := 0; ; attempt++ {
		// A snapshot taken here is released as soon as the plugin has
		// read it; one the caller passed in is the caller's to release.
		owned := snap == nil
		if owned {
			s, err := r.o.Store.Snapshot(ctx, call.Room, ns)
			if err != nil {
				return 0, r.storeErr("snapshot", err)
			}
			snap = &s
		}
		call.Seq = snap.Seq
		call.State = snap.State[ns]
		if call.State == nil {
			call.State = map[string][]byte{}
		}
		start := r.o.Now()
		res, err := h.Handle(ctx, call)
		r.o.Observer.PluginCall(ns, r.o.Now().Sub(start), err)
		if owned && snap.Release != nil {
			// The handler is done with the state, so the commit below
			// may write the store's map in place instead of copying it.
			call.State = nil
			snap.Release()
		}
		if err != nil {
			r.log.Warn("plugin failed", "plugin", ns, "room", call.Room, "type", call.Type, "err", err)
			return 0, Errf(CodePluginError, "plugin %s failed", ns)
		}
		if res == nil {
			res = &Result{}
		}
		if res.Reject != "" {
			return 0, Errf(CodeRejected, "%s", res.Reject)
		}
		cm, e := r.buildCommit(call, ns, res, snap, dedupe)
		if e != nil {
			return 0, e
		}
		if len(cm.Durable) == 0 && len(cm.Ephemeral) == 0 && len(cm.Ops) == 0 && dedupe == "" {
			r.sendReplies(ctx, call.Room, replyTo, res.Replies)
			return 0, nil
		}
		cr, err := r.o.Store.Commit(ctx, cm)
		switch {
		case errors.Is(err, ErrConflict) && attempt < r.o.CommitRetries:
			// Another node (or Lambda invocation) wrote the room first:
			// wait a jittered moment, growing with the attempts, then re-run
			// the plugin on the fresh state.
			time.Sleep(time.Duration(rand.Int64N(int64(attempt+1) * int64(time.Millisecond))))
			snap = nil
			continue
		case errors.Is(err, ErrDuplicate):
			r.o.Observer.Duplicate()
			return cr.FirstSeq, nil
		case err != nil:
			return 0, r.storeErr("commit", err)
		}
		// Replies (a newcomer's join state) go out before the events the
		// commit announces, in both modes.
		r.sendReplies(ctx, call.Room, replyTo, res.Replies)
		r.publish(ctx, cm, cr)
		return cr.FirstSeq, nil
	}
}

func (r *Router) buildCommit(call *Call, ns string, res *Result, snap *Snapshot, dedupe string) (Commit, *Error) {
	now := r.o.Now().UnixMilli()
	cm := Commit{Room: call.Room, Namespace: ns, Ops: res.Ops, DedupeKey: dedupe, DedupeTTL: r.o.DedupeWindow}
	if len(res.Ops) > 0 || len(res.Emits) > 0 {
		// The plugin decided on the state as of snap: commit only if the
		// room did not move meanwhile (otherwise re-run on fresh state).
		cm.CheckVersion, cm.ExpectVersion = true, snap.Version
	}
	from := call.Sender
	for _, em := range res.Emits {
		if !validType(em.Type) {
			return cm, Errf(CodePluginError, "plugin %s emitted an invalid type %q", ns, em.Type)
		}
		if len(em.Data) > 0 && !json.Valid(em.Data) {
			return cm, Errf(CodePluginError, "plugin %s emitted invalid JSON", ns)
		}
		ev := Event{Room: call.Room, Type: em.Type, TS: now, From: &from, Data: em.Data, To: em.To}
		if em.Durable {
			if em.To.Kind != TargetRoom {
				return cm, Errf(CodePluginError, "plugin %s: a durable event must go to the whole room", ns)
			}
			cm.Durable = append(cm.Durable, ev)
		} else {
			cm.Ephemeral = append(cm.Ephemeral, ev)
		}
	}
	return cm, nil
}

func validType(t string) bool {
	ns, _, ok := SplitType(t)
	return ok && ns != "" && len(t) <= 64
}

// publish fans a committed commit's events out to every member in the
// registry (direct mode; in standalone mode the Bus delivers them).
func (r *Router) publish(ctx context.Context, cm Commit, cr CommitResult) {
	if !r.o.Direct || len(cm.Durable)+len(cm.Ephemeral) == 0 {
		return
	}
	members, err := r.o.Store.Members(ctx, cm.Room)
	if err != nil {
		r.log.Warn("members failed; events stay in history", "room", cm.Room, "err", err)
		return
	}
	for i := range cm.Durable {
		cm.Durable[i].Seq = cr.FirstSeq + uint64(i)
		cm.Durable[i].Epoch = cr.Epoch
		r.fanout(ctx, members, &cm.Durable[i])
	}
	for i := range cm.Ephemeral {
		r.fanout(ctx, members, &cm.Ephemeral[i])
	}
}

// fanout delivers one event to the matching members (direct mode).
func (r *Router) fanout(ctx context.Context, members []Member, e *Event) {
	b := EncodeEvent(e)
	n := 0
	for _, m := range members {
		if matches(e.To, m.Conn, m.User) {
			r.send(ctx, m.Conn, b)
			n++
		}
	}
	r.o.Observer.Delivered(e.Type, n, e.TS)
}

func (r *Router) sendReplies(ctx context.Context, room string, to ConnID, replies []Emit) {
	if to == "" {
		return
	}
	for _, em := range replies {
		if !validType(em.Type) || (len(em.Data) > 0 && !json.Valid(em.Data)) {
			r.log.Warn("plugin reply dropped: invalid", "room", room, "type", em.Type)
			continue
		}
		e := Event{Room: room, Type: em.Type, TS: r.o.Now().UnixMilli(), Data: em.Data}
		r.o.Observer.FrameOut(em.Type)
		r.send(ctx, to, EncodeEvent(&e))
	}
}

func matches(t Target, id ConnID, u User) bool {
	switch t.Kind {
	case TargetRoom:
		return true
	case TargetOthers:
		return id != t.Conn
	case TargetRole:
		return u.Role == t.Value
	case TargetUser:
		return u.ID == t.Value
	case TargetConn:
		return id == t.Conn
	}
	return false
}

// deliver is the Bus sink (standalone mode): it sends one room event to
// this node's members of the room.
func (r *Router) deliver(e Event) {
	ctx := context.Background()
	var b []byte
	n := 0
	r.mu.RLock()
	lr := r.rooms[e.Room]
	if lr == nil {
		r.mu.RUnlock()
		return
	}
	lr.deliverMu.Lock()
	idsp := idsPool.Get().(*[]ConnID)
	ids := (*idsp)[:0]
	var resync []ConnID
	var resyncAt uint64
	for id, m := range lr.members {
		if !matches(e.To, id, m.conn.info.User) {
			continue
		}
		if m.pending {
			ev := e
			m.buf = append(m.buf, &ev)
			continue
		}
		if e.Seq != 0 || e.IsEpochMark() {
			send, rs, at := m.advance(&e)
			if rs {
				resync, resyncAt = append(resync, id), at
			}
			if !send {
				continue // late or repeated copy, or only a mark
			}
		}
		ids = append(ids, id)
	}
	lr.deliverMu.Unlock()
	r.mu.RUnlock()
	if len(resync) > 0 {
		r.log.Warn("room's sequence changed epoch (the store lost or rewound its data): resyncing its members",
			"room", e.Room, "epoch", e.Epoch, "seq", resyncAt, "members", len(resync))
	}
	for _, id := range resync {
		// The room's sequence restarted or went back under this member:
		// never leave it with a silent gap.
		r.sendResync(ctx, id, e.Room, resyncAt, e.Epoch)
	}
	if len(ids) > 0 {
		b = EncodeEvent(&e)
		n = len(ids)
		if r.batch != nil && n > 1 {
			r.batch.SendBatch(ctx, ids, b)
		} else {
			for _, id := range ids {
				r.send(ctx, id, b)
			}
		}
	}
	clear(ids)
	*idsp = ids[:0]
	idsPool.Put(idsp)
	if !e.IsEpochMark() {
		r.o.Observer.Delivered(e.Type, n, e.TS)
	}
}

// idsPool recycles deliver's recipient lists (one per event).
var idsPool = sync.Pool{New: func() any { s := make([]ConnID, 0, 64); return &s }}

// Broadcast commits a system event (e.g. an administrator's message) to a
// room as a durable event with no plugin involved.
func (r *Router) Broadcast(ctx context.Context, room, typ string, data json.RawMessage) (uint64, error) {
	if !validType(typ) || (len(data) > 0 && !json.Valid(data)) {
		return 0, fmt.Errorf("core: broadcast: invalid type or data")
	}
	sys := User{ID: "system", Role: "system"}
	cm := Commit{Room: room, Durable: []Event{{Room: room, Type: typ, TS: r.o.Now().UnixMilli(), From: &sys, Data: data}}}
	cr, err := r.o.Store.Commit(ctx, cm)
	if err != nil {
		return 0, fmt.Errorf("core: broadcast to %s: %w", room, err)
	}
	r.publish(ctx, cm, cr)
	return cr.FirstSeq, nil
}

func (r *Router) storeErr(op string, err error) *Error {
	r.o.Observer.StoreError(op)
	r.log.Error("store failed", "op", op, "err", err)
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return Errf(CodeInternal, "temporarily unavailable, retry (%s)", op)
	}
	return Errf(CodeInternal, "internal error (%s)", op)
}

// Maintain runs until ctx ends: every interval it refreshes the liveness
// of this node's connections in the registry and disconnects connections
// whose liveness expired (crashed nodes, lost $disconnects). Standalone
// nodes run it in the background; interval should be well under the
// store's liveness TTL (a third is a good choice).
func (r *Router) Maintain(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ids := r.LocalConns(); len(ids) > 0 {
			if err := r.o.Store.Touch(ctx, ids...); err != nil {
				r.log.Warn("heartbeat failed", "err", err)
				continue
			}
		}
		for {
			n, err := r.Sweep(ctx, 256)
			if err != nil {
				r.log.Warn("sweep failed", "err", err)
			}
			if n < 256 {
				break
			}
		}
	}
}

// LocalRooms returns the rooms with members on this node and how many of
// this node's connections are in each (standalone mode).
func (r *Router) LocalRooms() map[string]int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]int, len(r.rooms))
	for name, lr := range r.rooms {
		if len(lr.members) > 0 {
			out[name] = len(lr.members)
		}
	}
	return out
}

// Joined reports whether the local connection id is in room.
func (r *Router) Joined(id ConnID, room string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	lc := r.conns[id]
	return lc != nil && lc.joined[room] != nil
}
