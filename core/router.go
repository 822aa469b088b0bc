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

// Router implements the control plane of PROTOCOL v1 over the ports.
// All methods are safe for concurrent use. Calls for one connection must
// not overlap (adapters call Receive from one read loop per connection, or
// once per Lambda event).
type Router struct {
	o     Options
	log   *slog.Logger
	batch BatchSender // o.Sender, if it sends to many connections at once
	seqr  Sequencer   // o.Sender in direct mode, if it orders deliveries

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
	// needState: the member was sent a live resync (its room's sequence
	// changed epoch), so its next join of the room — the client's way to
	// start over — gets the join states again even though the connection
	// is already a member. Guarded like last.
	needState bool
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
		m.needState = m.needState || resync
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
	if o.Direct {
		r.seqr, _ = o.Sender.(Sequencer)
	}
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
	c, done, err := r.admit(ctx, id, frame)
	if done || err != nil {
		return err
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

// ReceiveBinary handles one binary frame from a connection. Binary frames
// are not part of the protocol, but they pass the same gate as text
// frames (token expiry, rate limit, abuse close) before the bad_request
// answer, so a binary flood is limited and closed like any other.
func (r *Router) ReceiveBinary(ctx context.Context, id ConnID) error {
	c, done, err := r.admit(ctx, id, nil)
	if done || err != nil {
		return err
	}
	r.o.Observer.FrameIn("invalid")
	r.replyErr(ctx, c, "", Errf(CodeBadRequest, "binary frames are not supported; send JSON text frames"))
	return nil
}

// admit is the gate every frame passes first: the connection must be
// known, its token unexpired and its rate limit not exhausted (a refused
// frame is answered rate_limited, and AbuseLimit refusals in a row close
// the connection with 1008). done reports that the frame was answered or
// the connection closed, so the caller stops.
func (r *Router) admit(ctx context.Context, id ConnID, frame []byte) (c *session, done bool, err error) {
	c, err = r.session(ctx, id)
	if err != nil {
		return nil, true, err
	}
	if !c.info.Expires.IsZero() && !r.o.Now().Before(c.info.Expires) {
		return c, true, r.o.Sender.Close(ctx, id, CloseTokenExpired, "token expired")
	}
	if c.local != nil {
		c.local.bucketMu.Lock()
		ok, denied := c.local.bucket.Allow(r.o.Now())
		c.local.bucketMu.Unlock()
		if !ok {
			r.o.Observer.FrameIn("rate_limited")
			r.o.Observer.RateLimited()
			if denied >= r.o.AbuseLimit {
				return c, true, r.o.Sender.Close(ctx, id, ClosePolicy, "rate limit exceeded")
			}
			fid := ""
			if frame != nil {
				fid = FrameID(frame)
			}
			r.replyErr(ctx, c, fid, Errf(CodeRateLimited, "too many frames; slow down"))
			return c, true, nil
		}
	}
	return c, false, nil
}

// typeLabel bounds the frame-type metric label: control types and types of
// namespaces enabled somewhere keep their name, anything else is "unknown".
func (r *Router) typeLabel(f Frame) string {
	switch f.Type {
	case "join", "leave", "ping":
		return f.Type
	}
	if ns, _, ok := SplitType(f.Type); ok && f.Room != "" && r.o.Plugins.Handler(f.Room, ns) != nil && ValidType(f.Type) {
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
	// Only a room with no members is collected: look under the shared
	// lock first, so a message to a room with members (every message)
	// does not take the router's lock exclusively. A member leaving
	// afterwards runs this again itself; one joining is seen by
	// gcRoomLocked, which checks again.
	r.mu.RLock()
	empty := len(lr.members) == 0
	r.mu.RUnlock()
	if !empty {
		return
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
	var joinSeq uint64 // the joined frame's seq, for the Sequencer
	if r.seqr != nil {
		if err := r.seqr.JoinBegin(ctx, f.Room, c.info.ID); err != nil {
			r.log.Warn("ordered join hand-off failed; joining anyway", "room", f.Room, "err", err)
		}
		defer func() { r.seqr.JoinEnd(ctx, f.Room, c.info.ID, joinSeq) }()
	}

	var m *membership
	restart := false // a member resynced live: this join starts it over
	// fail ends a join that the store refused. A first join is undone; a
	// repeated join leaves the connection in the room as it was (it was a
	// member and still is: it keeps receiving the room's events, and a
	// restart it asked for is asked again by its next join).
	fail := func(op string, err error) *Error {
		switch {
		case !already:
			r.abortJoin(ctx, f.Room, c.info.ID)
		case m != nil:
			r.mu.Lock()
			last, epoch := m.last, m.epoch
			m.needState = m.needState || restart
			r.mu.Unlock()
			r.flush(ctx, m, last, epoch)
		}
		return r.storeErr(op, err)
	}
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
		restart = m.needState
		m.needState = false
		r.mu.Unlock()
		if newRoom {
			r.subMu.Lock()
			err := r.o.Store.Subscribe(ctx, f.Room)
			r.subMu.Unlock()
			if err != nil {
				return fail("subscribe", err)
			}
		}
	}
	first := false
	if !already || restart {
		var err error
		if restart {
			// A store that lost the room's sequence most likely lost its
			// registry too: record the connection again, and let its
			// membership count as new (presence announces the user again).
			if err = r.o.Store.AddConn(ctx, c.info); err != nil {
				return fail("join", err)
			}
		}
		first, err = r.o.Store.Join(ctx, f.Room, c.info)
		if err != nil {
			return fail("join", err)
		}
	}
	features := r.o.Plugins.Features(f.Room)
	snap, err := r.o.Store.Snapshot(ctx, f.Room, features...)
	if err != nil {
		return fail("snapshot", err)
	}
	joinSeq = snap.Seq
	user := c.info.User
	r.reply(ctx, c.info.ID, &Out{Type: "joined", Room: f.Room, ID: f.ID, Seq: SeqOf(snap.Seq),
		ConnectionID: c.info.ID, User: &user, Features: nonNil(features), Epoch: snap.Epoch})
	r.o.Observer.Joined()
	resynced, sent := false, 0
	if f.Since != nil {
		resynced, sent = r.replay(ctx, c.info.ID, f.Room, *f.Since, snap.Seq, f.Epoch, snap.Epoch)
	}
	// Join hooks: each enabled plugin's join state for the newcomer, and
	// whatever it announces to the room (presence.join). A repeated join
	// of a room this connection is in skips them: it was sent the join
	// state when it joined and every event since, so the answer is the
	// joined frame and the replay only, and a flood of re-joins costs the
	// gateway no more than it receives. The exception is a re-join whose
	// replay became a resync, or that follows a live resync (the room's
	// sequence changed epoch): the client starts over and needs the state.
	if !already || resynced || restart {
		for _, ns := range features {
			h := r.o.Plugins.Handler(f.Room, ns)
			if h == nil {
				continue
			}
			call := &Call{Hook: HookJoin, Type: ns + ".join", Room: f.Room, Sender: user, Conn: c.info.ID, FirstOfUser: first}
			if _, e := r.runHandler(ctx, h, ns, call, &snap, false, "", c.info.ID, &sent); e != nil {
				// Never silence: the newcomer learns which join state it
				// is missing and why.
				r.log.Warn("join hook failed", "room", f.Room, "plugin", ns, "code", e.Code, "err", e.Message)
				r.o.Observer.ErrorSent(string(e.Code))
				r.reply(ctx, c.info.ID, &Out{Type: "error", Room: f.Room, Code: e.Code,
					Message: fmt.Sprintf("no %s join state: %s", ns, e.Message)})
			}
		}
	}
	if m != nil {
		r.flush(ctx, m, snap.Seq, snap.Epoch)
	}
	r.charge(c, sent)
	return nil
}

// charge takes the bytes a join sent beyond its joined frame (replayed
// events and join states) from the connection's rate limit, one frame's
// worth of tokens per MaxMessageBytes. A frame costs the client at least
// one token, so whatever a client does, the gateway sends it at most
// MaxMessageBytes of replay and join state per token on average: a flood
// of joins that each cost a large board or a long replay runs the bucket
// dry (rate_limited, then the abuse close) instead of the gateway's
// bandwidth. The bucket may go into debt by at most one burst.
func (r *Router) charge(c *session, sent int) {
	if c.local == nil || c.local.bucket == nil || sent <= 0 {
		return
	}
	c.local.bucketMu.Lock()
	c.local.bucket.Charge(r.o.Now(), float64(sent)/float64(r.o.MaxMessageBytes))
	c.local.bucketMu.Unlock()
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
// epoch than the room's (sinceEpoch is the client's, "" if it sent none);
// it reports the resync. sent is the size of the replayed events in bytes.
func (r *Router) replay(ctx context.Context, id ConnID, room string, since, upTo uint64, sinceEpoch, epoch string) (resynced bool, sent int) {
	if sinceEpoch != "" && epoch != "" && sinceEpoch != epoch {
		// The client's seqs belong to a sequence the room no longer has
		// (the store lost its data or went back): start over.
		r.sendResync(ctx, id, room, upTo, epoch)
		return true, 0
	}
	if since >= upTo {
		if since > upTo {
			// The client claims events the room never had (the history
			// was lost, or it is another room's seq): start over.
			r.sendResync(ctx, id, room, upTo, epoch)
			return true, 0
		}
		return false, 0
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
		return true, 0
	}
	r.o.Observer.Replayed(len(events))
	for i := range events {
		if events[i].Seq > upTo {
			break
		}
		b := EncodeEvent(&events[i])
		sent += len(b)
		r.send(ctx, id, b)
	}
	return false, sent
}

// sendResync tells a member that its room state cannot be continued from
// what it has: the join state that follows (in a join) or a re-join (live)
// starts it over as of seq in epoch.
func (r *Router) sendResync(ctx context.Context, id ConnID, room string, seq uint64, epoch string) {
	r.o.Observer.Resync()
	// Its seq is sent even when 0 (a restarted sequence): the client sets
	// its position from it.
	r.reply(ctx, id, &Out{Type: "resync", Room: room, Seq: SeqOf(seq), Epoch: epoch})
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
		if _, e := r.runHandler(ctx, h, ns, call, nil, false, "", "", nil); e != nil {
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
	lr, ok := r.lockRoomAdmit(f.Room, backlogBound(f.ID))
	if !ok {
		r.o.Observer.RateLimited()
		return Errf(CodeRateLimited, "room %q is busy; retry later", f.Room)
	}
	defer r.unlockRoom(f.Room, lr)
	dedupe := ""
	if f.ID != "" {
		dedupe = c.info.User.ID + "\x00" + f.ID
	}
	// One read before the plugin runs: the state it decides on and, for
	// a frame with an id, the answer remembered for it (one round trip
	// on Redis). Idempotency first: a retry gets the original answer
	// before any plugin runs (a stateful plugin would refuse the repeat).
	// The commit checks the key again, atomically, for racing retries.
	snap, ans, found, err := r.o.Store.SnapshotDedupe(ctx, f.Room, dedupe, ns)
	if err != nil {
		return r.storeErr("snapshot", err)
	}
	if found {
		if snap.Release != nil {
			snap.Release()
		}
		r.o.Observer.Duplicate()
		if ans.Code != "" {
			return &Error{Code: ans.Code, Message: ans.Message}
		}
		r.ack(ctx, c.info.ID, f.ID, ans.Seq)
		return nil
	}
	data := f.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	call := &Call{Hook: HookMessage, Type: f.Type, Room: f.Room, Data: data, Sender: c.info.User, Conn: c.info.ID}
	seq, e := r.runHandler(ctx, h, ns, call, &snap, true, dedupe, c.info.ID, nil)
	if e != nil {
		if dedupe != "" && (e.Code == CodeRejected || e.Code == CodeForbidden) {
			// A plugin's refusal is an answer: a retry gets it again.
			// Failures (plugin_error, internal) are not, so they may be
			// retried.
			ans := DedupeAnswer{Code: e.Code, Message: e.Message}
			if err := r.o.Store.RememberRefusal(ctx, f.Room, dedupe, ans, r.o.DedupeWindow); err != nil {
				r.log.Warn("remember refusal failed", "room", f.Room, "err", err)
			}
		}
		return e
	}
	if f.ID != "" {
		r.ack(ctx, c.info.ID, f.ID, seq)
	}
	return nil
}

// ack answers a plugin frame: with the seq of its first durable event, or
// without seq when it produced none.
func (r *Router) ack(ctx context.Context, to ConnID, id string, seq uint64) {
	r.o.Observer.Acked()
	o := &Out{Type: "ack", ID: id}
	if seq > 0 {
		o.Seq = SeqOf(seq)
	}
	r.reply(ctx, to, o)
}

// runHandler calls a plugin with a snapshot and commits its result,
// retrying on a concurrent change of the room with a fresh snapshot. snap,
// when not nil, is the first attempt's; release hands it to runHandler,
// which releases it once the plugin has read it. It returns the first seq
// assigned (or the original one for a duplicate). replyTo receives the
// result's replies; when sent is not nil, their size in bytes is added to it.
func (r *Router) runHandler(ctx context.Context, h Handler, ns string, call *Call, snap *Snapshot, release bool, dedupe string, replyTo ConnID, sent *int) (uint64, *Error) {
	for attempt := 0; ; attempt++ {
		// A snapshot taken here, or handed over, is released as soon as
		// the plugin has read it; otherwise it is the caller's to release.
		owned := snap == nil || (release && attempt == 0)
		if snap == nil {
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
			if res.Forbidden {
				return 0, Errf(CodeForbidden, "%s", res.Reject)
			}
			return 0, Errf(CodeRejected, "%s", res.Reject)
		}
		cm, e := r.buildCommit(call, ns, res, snap, dedupe)
		if e != nil {
			return 0, e
		}
		if len(cm.Durable) == 0 && len(cm.Ephemeral) == 0 && len(cm.Ops) == 0 && dedupe == "" {
			r.sendReplies(ctx, call.Room, replyTo, res.Replies, sent)
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
		r.sendReplies(ctx, call.Room, replyTo, res.Replies, sent)
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
		if !ValidType(em.Type) {
			return cm, Errf(CodePluginError, "plugin %s emitted an invalid type %q", ns, em.Type)
		}
		if len(em.Data) > 0 && !ValidJSON(em.Data) {
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
	if r.seqr != nil && len(cm.Durable) > 0 {
		r.seqr.PublishBegin(ctx, cm.Room, cr.FirstSeq, cr.FirstSeq+uint64(len(cm.Durable))-1, cr.Epoch)
		defer r.seqr.PublishEnd(ctx, cm.Room)
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

func (r *Router) sendReplies(ctx context.Context, room string, to ConnID, replies []Emit, sent *int) {
	if to == "" {
		return
	}
	for _, em := range replies {
		if !ValidType(em.Type) || (len(em.Data) > 0 && !ValidJSON(em.Data)) {
			r.log.Warn("plugin reply dropped: invalid", "room", room, "type", em.Type)
			continue
		}
		e := Event{Room: room, Type: em.Type, TS: r.o.Now().UnixMilli(), Data: em.Data}
		r.o.Observer.FrameOut(em.Type)
		b := EncodeEvent(&e)
		if sent != nil {
			*sent += len(b)
		}
		r.send(ctx, to, b)
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
	switch {
	case !ValidRoom(room):
		return 0, fmt.Errorf("core: broadcast: room must be 1-%d bytes of UTF-8 without control characters", MaxRoomLen)
	case !ValidType(typ):
		return 0, fmt.Errorf("core: broadcast: type must be <namespace>.<action> of a-z, 0-9, _ and -, at most %d bytes", MaxTypeLen)
	case len(data) > 0 && !ValidJSON(data):
		return 0, fmt.Errorf("core: broadcast: data is not valid UTF-8 JSON")
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
