package core

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/classgate/classgate/core/limit"
)

// hub is the standalone node's local membership and delivery: the
// connections this node holds, the rooms they are in, each room's Bus
// subscription, and the delivery to the local members of the room events
// the Bus hands over and of the node's own commits (publish). It is the
// standalone fanout. In direct mode (Lambda)
// the router has a hub too, but it stays empty: nothing is held locally.
//
// Locks: see the order written at Router.
type hub struct {
	out *outbox
	bus Bus
	o   *Options

	// mu guards conns, leaving, rooms, each room's membership and subs.
	// The per-frame paths (session, lockRoom, deliver) only read them and
	// take it shared, so a goroutine the OS preempts there never stalls
	// frames of other rooms; joins, leaves and connects take it
	// exclusively.
	mu    sync.RWMutex
	conns map[ConnID]*localConn
	// leaving holds the connections Disconnect took out of conns until
	// their rooms are dropped (forget).
	leaving map[ConnID]*localConn
	rooms   map[string]*localRoom
	// subs is the Bus subscription state of rooms being subscribed or
	// unsubscribed (see subscription).
	subs map[string]*subscription
}

func newHub(o *Options, out *outbox) *hub {
	return &hub{out: out, bus: o.Store, o: o, conns: map[ConnID]*localConn{},
		leaving: map[ConnID]*localConn{}, rooms: map[string]*localRoom{}, subs: map[string]*subscription{}}
}

// localConn is a connection held by this node (standalone mode only).
type localConn struct {
	h    *hub
	info ConnInfo
	// bucketMu guards bucket (frames of one connection do not overlap,
	// but nothing else would stop a misbehaving adapter from racing).
	bucketMu sync.Mutex
	bucket   *limit.Bucket
	timer    *time.Timer
	// joined rooms, guarded by hub.mu.
	joined map[string]*membership
}

var _ connState = (*localConn)(nil)

// in reports whether the connection is a member of room on this node.
func (lc *localConn) in(room string) bool {
	lc.h.mu.RLock()
	defer lc.h.mu.RUnlock()
	return lc.joined[room] != nil
}

// rooms is the number of rooms the connection is in.
func (lc *localConn) rooms() int {
	lc.h.mu.RLock()
	defer lc.h.mu.RUnlock()
	return len(lc.joined)
}

// allow takes one token from the connection's rate limit.
func (lc *localConn) allow(now time.Time) (bool, int) {
	lc.bucketMu.Lock()
	defer lc.bucketMu.Unlock()
	return lc.bucket.Allow(now)
}

// charge takes tokens from the connection's rate limit (it may go into
// debt).
func (lc *localConn) charge(now time.Time, tokens float64) {
	if lc.bucket == nil {
		return
	}
	lc.bucketMu.Lock()
	lc.bucket.Charge(now, tokens)
	lc.bucketMu.Unlock()
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
// room's deliverMu or hub.mu exclusively.
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
	members map[ConnID]*membership // guarded by hub.mu
	// deliverMu serialises deliveries to the room's members (their last
	// and buf fields) among holders of hub.mu's read lock; changes to
	// membership hold hub.mu exclusively instead. It also guards the
	// fields below.
	deliverMu sync.Mutex
	// out is the room's deliveries decided (in deliverMu's order) and not
	// yet written; writing says a goroutine is writing them (drain). The
	// room's events come from the Bus and from local commits (publish) on
	// different goroutines, and the frames must leave in the order they
	// were decided, without a lock held while they are written.
	out     []delivery
	writing bool
	// decided and written count the deliveries queued in out and those
	// written; settled is signalled (with deliverMu) as written grows,
	// for a join waiting until what was decided before it is out (settle).
	decided, written uint64
	settled          sync.Cond
	// ephWait: a local commit's ephemeral event, published after the
	// room's seq ephAfter (of ephEpoch), may still be on its way through
	// the Bus; until the Bus delivers a durable event after it, publish
	// leaves durable events to the Bus too, so they do not overtake it.
	ephWait  bool
	ephAfter uint64
	ephEpoch string
	// busSeq and busEpoch: the highest durable seq the Bus delivered (of
	// busEpoch), so publish skips an event the Bus was first with.
	busSeq   uint64
	busEpoch string
	// parts and partsEpoch: the seqs (of partsEpoch, in order) this node
	// delivered from its own commits and the Bus has not brought yet. Such
	// an event goes out in two parts when the Bus brings it to members
	// the commit skipped; its fan-out latency (Observer.Delivered's
	// tsMillis) is observed with the first part only. At most maxParts
	// (a Bus that stopped delivering; the oldest are dropped).
	parts      []uint64
	partsEpoch string
	// refs counts the users of proc. It is raised under hub.mu (read or
	// write) and checked under the write lock, so a room is forgotten
	// only when nobody holds or is about to take its lock.
	refs atomic.Int32
}

// connect registers a connection held by this node and arms its
// token-expiry close (4001).
func (h *hub) connect(info ConnInfo) {
	lc := &localConn{h: h, info: info, joined: map[string]*membership{}}
	if h.o.RatePerSecond > 0 {
		lc.bucket = limit.NewBucket(h.o.RatePerSecond, h.o.RateBurst)
	}
	if !info.Expires.IsZero() {
		d := info.Expires.Sub(h.o.Now())
		lc.timer = time.AfterFunc(d, func() {
			_ = h.out.snd.Close(context.Background(), info.ID, CloseTokenExpired, "token expired")
		})
	}
	h.mu.Lock()
	h.conns[info.ID] = lc
	h.mu.Unlock()
}

// disconnect stops taking frames from a connection. Its memberships stay
// until the router dropped it from the rooms the registry listed (under
// each room's lock) and then calls forget.
func (h *hub) disconnect(id ConnID) (ConnInfo, bool) {
	h.mu.Lock()
	lc := h.conns[id]
	delete(h.conns, id)
	if lc != nil {
		h.leaving[id] = lc
	}
	h.mu.Unlock()
	if lc == nil {
		return ConnInfo{ID: id}, false
	}
	if lc.timer != nil {
		lc.timer.Stop()
	}
	return lc.info, true
}

// forget drops a disconnected connection from the rooms the registry no
// longer listed (e.g. a failed join).
func (h *hub) forget(ctx context.Context, id ConnID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	lc := h.leaving[id]
	if lc == nil {
		return
	}
	for room := range lc.joined {
		h.dropMemberLocked(ctx, room, id)
	}
	delete(h.leaving, id)
}

// session returns the connection for one frame.
func (h *hub) session(_ context.Context, id ConnID) (*session, error) {
	h.mu.RLock()
	lc := h.conns[id]
	h.mu.RUnlock()
	if lc == nil {
		return nil, fmt.Errorf("core: receive on %s: %w", id, ErrNotFound)
	}
	return &session{info: lc.info, conn: lc}, nil
}

// seen does nothing: a standalone node keeps its connections alive in the
// registry from Maintain.
func (h *hub) seen(context.Context, ConnID) {}

// publish hands a local commit's durable events to the room's local
// members at once, without waiting for the Bus to bring them back (on
// Redis that is a pub/sub round trip and a subscriber goroutine shared by
// many rooms: most of a message's latency there). It is a shortcut only:
// a member gets an event here when it is the next one it needs (seq
// last+1 of its epoch), and otherwise from the Bus, which still delivers
// every event (a copy a member already has is dropped by its seq). So a
// member never gets events out of order or with a gap that another
// node's commit, still on its way through the Bus, would leave. Ephemeral
// events go by the Bus only (they carry no seq to drop a second copy by),
// and while one of this node's may still be on its way there (ephWait),
// durable events go by the Bus too, so they do not overtake it.
// A Bus that delivered the events already (the memory store delivers
// within Commit) makes this a check of the Bus's position (busSeq).
func (h *hub) publish(_ context.Context, cm Commit, cr CommitResult) {
	for i := range cm.Durable {
		e := cm.Durable[i]
		e.Seq, e.Epoch = cr.FirstSeq+uint64(i), cr.Epoch
		h.deliverEvent(&e, true)
	}
	if len(cm.Ephemeral) > 0 {
		// The Bus publishes them after this commit's durable events and
		// before the next one's: until it has delivered a durable event
		// after cr.LastSeq, later durable events wait for the Bus too.
		h.mu.RLock()
		if lr := h.rooms[cm.Room]; lr != nil {
			lr.deliverMu.Lock()
			if lr.busEpoch != cr.Epoch || lr.busSeq <= cr.LastSeq {
				lr.ephWait, lr.ephAfter, lr.ephEpoch = true, cr.LastSeq, cr.Epoch
			}
			lr.deliverMu.Unlock()
		}
		h.mu.RUnlock()
	}
}

// lockRoom takes the processing lock of a room on this node, creating the
// local room entry if needed.
func (h *hub) lockRoom(room string) roomLock {
	h.mu.RLock()
	lr := h.rooms[room]
	if lr != nil {
		lr.refs.Add(1)
	}
	h.mu.RUnlock()
	if lr == nil {
		h.mu.Lock()
		lr = h.rooms[room]
		if lr == nil {
			lr = &localRoom{members: map[ConnID]*membership{}}
			lr.settled.L = &lr.deliverMu
			h.rooms[room] = lr
			h.out.obs.Rooms(len(h.rooms))
		}
		lr.refs.Add(1)
		h.mu.Unlock()
	}
	lr.proc.Lock()
	return roomLock{h: h, room: room, lr: lr}
}

// roomLock is a held processing lock of a room. Without a hub (direct
// mode) it holds nothing: there, the store's version check orders
// concurrent work on a room.
type roomLock struct {
	h    *hub
	room string
	lr   *localRoom
}

// unlock releases the room and forgets it if it has no members and no
// other user.
func (l roomLock) unlock() {
	if l.h == nil {
		return
	}
	l.lr.proc.Unlock()
	if l.lr.refs.Add(-1) > 0 {
		return // another user holds or awaits the lock; it collects the room
	}
	// Only a room with no members is collected: look under the shared
	// lock first, so a message to a room with members (every message)
	// does not take the hub's lock exclusively. A member leaving
	// afterwards runs this again itself; one joining is seen by
	// gcRoomLocked, which checks again.
	l.h.mu.RLock()
	empty := len(l.lr.members) == 0
	l.h.mu.RUnlock()
	if !empty {
		return
	}
	l.h.mu.Lock()
	l.h.gcRoomLocked(context.Background(), l.room, l.lr)
	l.h.mu.Unlock()
}

// drop removes connection id from the room's local members.
func (l roomLock) drop(ctx context.Context, id ConnID) {
	if l.h == nil {
		return
	}
	l.h.mu.Lock()
	l.h.dropMemberLocked(ctx, l.room, id)
	l.h.mu.Unlock()
}

// gcRoomLocked forgets a local room with no members and no users, and
// unsubscribes from its events.
func (h *hub) gcRoomLocked(ctx context.Context, room string, lr *localRoom) {
	if lr.refs.Load() == 0 && len(lr.members) == 0 && h.rooms[room] == lr {
		delete(h.rooms, room)
		h.out.obs.Rooms(len(h.rooms))
		go h.unsubscribeIfGone(ctx, room)
	}
}

func (h *hub) dropMemberLocked(ctx context.Context, room string, id ConnID) {
	lr := h.rooms[room]
	if lr == nil {
		return
	}
	delete(lr.members, id)
	c := h.conns[id]
	if c == nil {
		c = h.leaving[id]
	}
	if c != nil {
		delete(c.joined, room)
	}
	h.gcRoomLocked(ctx, room, lr)
}

// enter makes the joining connection a pending local member of the room
// before the join reads the room's seq, so no live event between the
// snapshot and the end of the join is missed: they are buffered and
// flushed by end. The first member subscribes the node to the room.
func (h *hub) enter(ctx context.Context, l roomLock, c *session, already bool) (joining, error) {
	h.mu.Lock()
	lc := h.conns[c.info.ID]
	if lc == nil {
		h.mu.Unlock()
		return nil, errGone
	}
	newRoom := len(l.lr.members) == 0
	m := l.lr.members[c.info.ID]
	if m == nil {
		m = &membership{conn: lc}
		l.lr.members[c.info.ID] = m
		lc.joined[l.room] = m
	}
	m.pending = true
	m.buf = m.buf[:0]
	j := &hubJoin{h: h, m: m, room: l.room, id: c.info.ID, already: already, restart: m.needState}
	m.needState = false
	l.lr.deliverMu.Lock()
	decided := l.lr.decided
	l.lr.deliverMu.Unlock()
	h.mu.Unlock()
	// Deliveries decided before the member went pending (it was live
	// in an earlier membership) may still wait in the room's queue: they
	// go out before the join's joined frame.
	h.settle(l.lr, decided)
	if newRoom {
		if err := h.subscribe(ctx, l.room); err != nil {
			return j, fmt.Errorf("subscribe: %w", err)
		}
	}
	return j, nil
}

// hubJoin is a join in progress on a standalone node.
type hubJoin struct {
	h       *hub
	m       *membership
	room    string
	id      ConnID
	already bool // the connection was a member before
	restart bool // it was resynced live: this join starts it over
}

func (j *hubJoin) restarts() bool { return j.restart }

// end flushes the live events buffered during the join.
func (j *hubJoin) end(ctx context.Context, seq uint64, epoch string) {
	j.h.flush(ctx, j.m, seq, epoch)
}

// fail ends a join that the store refused. A first join is undone; a
// repeated join leaves the connection in the room as it was (it was a
// member and still is: it keeps receiving the room's events, and a
// restart it asked for is asked again by its next join).
func (j *hubJoin) fail(ctx context.Context) {
	h := j.h
	if !j.already {
		h.mu.Lock()
		h.dropMemberLocked(ctx, j.room, j.id)
		h.mu.Unlock()
		return
	}
	h.mu.Lock()
	last, epoch := j.m.last, j.m.epoch
	j.m.needState = j.m.needState || j.restart
	h.mu.Unlock()
	h.flush(ctx, j.m, last, epoch)
}

// flush ends a join: buffered live events newer than seq (of epoch) are
// sent, then the membership goes live.
func (h *hub) flush(ctx context.Context, m *membership, seq uint64, epoch string) {
	h.mu.Lock()
	m.last, m.epoch = seq, epoch
	h.mu.Unlock()
	for {
		h.mu.Lock()
		buf := m.buf
		m.buf = nil
		if len(buf) == 0 {
			m.pending = false
			h.mu.Unlock()
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
		h.mu.Unlock()
		for _, e := range out {
			if e.IsEpochMark() {
				h.out.sendResync(ctx, m.conn.info.ID, e.Room, e.Seq, e.Epoch)
				continue
			}
			h.out.send(ctx, m.conn.info.ID, EncodeEvent(e))
		}
	}
}

// deliver is the Bus sink (standalone mode): it sends one room event to
// this node's members of the room.
func (h *hub) deliver(e Event) { h.deliverEvent(&e, false) }

// delivery is one event (or a resync) decided for some of a room's
// members and waiting in localRoom.out to be written.
type delivery struct {
	e      Event
	ids    *[]ConnID // from idsPool
	resync bool      // ids get a resync at e.Seq of e.Epoch instead of e
	second bool      // the event's second part (localRoom.parts): not timed
}

// maxParts bounds localRoom.parts.
const maxParts = 1024

// part records that e went to members from the commit (local) or checks,
// for the Bus's copy, whether it did: the Bus's part is then the second.
// lr.deliverMu is held.
func (lr *localRoom) part(e *Event, local bool) (second bool) {
	if e.Seq == 0 {
		return false
	}
	if e.Epoch != lr.partsEpoch {
		lr.parts, lr.partsEpoch = lr.parts[:0], e.Epoch
	}
	if local {
		if len(lr.parts) == maxParts {
			lr.parts = append(lr.parts[:0], lr.parts[1:]...)
		}
		lr.parts = append(lr.parts, e.Seq)
		return false
	}
	i := 0
	for i < len(lr.parts) && lr.parts[i] < e.Seq {
		i++ // the Bus went past them
	}
	second = i < len(lr.parts) && lr.parts[i] == e.Seq
	if second {
		i++
	}
	if i > 0 {
		lr.parts = append(lr.parts[:0], lr.parts[i:]...)
	}
	return second
}

// deliverEvent decides which of the room's local members get e and queues
// it for them. From the Bus (local false) it applies every rule of
// membership.advance: late and repeated copies are dropped, an epoch
// change resyncs, a pending (joining) member buffers. From a local commit
// (local true, see publish) it goes only to live members whose next seq
// it is; the Bus brings it to the others.
func (h *hub) deliverEvent(e *Event, local bool) {
	h.mu.RLock()
	lr := h.rooms[e.Room]
	if lr == nil {
		h.mu.RUnlock()
		return
	}
	lr.deliverMu.Lock()
	if local && (lr.ephWait || e.Epoch == lr.busEpoch && e.Seq <= lr.busSeq) {
		lr.deliverMu.Unlock()
		h.mu.RUnlock()
		return // the Bus was first, or brings it behind an ephemeral event
	}
	if !local && e.Seq != 0 {
		if e.Epoch != lr.busEpoch || e.Seq > lr.busSeq {
			lr.busSeq, lr.busEpoch = e.Seq, e.Epoch
		}
		if lr.ephWait && (e.Epoch != lr.ephEpoch || e.Seq > lr.ephAfter) {
			lr.ephWait = false // the local ephemeral events went before this one
		}
	}
	idsp := idsPool.Get().(*[]ConnID)
	ids := (*idsp)[:0]
	var resync *[]ConnID
	var resyncAt uint64
	for id, m := range lr.members {
		if !matches(e.To, id, m.conn.info.User) {
			continue
		}
		switch {
		case local:
			if m.pending || m.epoch != e.Epoch || e.Seq != m.last+1 {
				continue // the Bus brings it, in its order
			}
			m.last = e.Seq
		case m.pending:
			ev := *e
			m.buf = append(m.buf, &ev)
			continue
		case e.Seq != 0 || e.IsEpochMark():
			send, rs, at := m.advance(e)
			if rs {
				if resync == nil {
					resync = idsPool.Get().(*[]ConnID)
					*resync = (*resync)[:0]
				}
				*resync, resyncAt = append(*resync, id), at
			}
			if !send {
				continue // late or repeated copy, or only a mark
			}
		}
		ids = append(ids, id)
	}
	*idsp = ids
	if resync != nil {
		h.out.log.Warn("room's sequence changed epoch (the store lost or rewound its data): resyncing its members",
			"room", e.Room, "epoch", e.Epoch, "seq", resyncAt, "members", len(*resync))
		// The room's sequence restarted or went back under these members:
		// never leave them with a silent gap. The resync goes first.
		lr.out = append(lr.out, delivery{e: Event{Room: e.Room, Seq: resyncAt, Epoch: e.Epoch}, ids: resync, resync: true})
		lr.decided++
	}
	second := false
	if len(ids) > 0 || !local {
		second = lr.part(e, local)
	}
	switch {
	case len(ids) > 0 && !e.IsEpochMark():
		lr.out = append(lr.out, delivery{e: *e, ids: idsp, second: second})
		lr.decided++
	case resync == nil:
		// For nobody here (the Bus's copy of an event the commit
		// delivered, most often): nothing to queue or write.
		idsPool.Put(idsp)
		lr.deliverMu.Unlock()
		h.mu.RUnlock()
		return
	default:
		idsPool.Put(idsp)
	}
	if lr.writing {
		lr.deliverMu.Unlock()
		h.mu.RUnlock()
		return // the goroutine writing the room's frames writes these too
	}
	lr.writing = true
	lr.deliverMu.Unlock()
	h.mu.RUnlock()
	h.drain(lr)
}

// drain writes the room's queued deliveries in order until none is left.
// One goroutine at a time drains a room (localRoom.writing); no lock is
// held while it writes.
func (h *hub) drain(lr *localRoom) {
	ctx := context.Background()
	var spare []delivery
	lr.deliverMu.Lock()
	for {
		batch := lr.out
		if len(batch) == 0 {
			if lr.out == nil {
				lr.out = spare
			}
			lr.writing = false
			lr.deliverMu.Unlock()
			return
		}
		lr.out = spare
		lr.deliverMu.Unlock()
		for i := range batch {
			h.write(ctx, &batch[i])
			batch[i] = delivery{}
		}
		spare = batch[:0]
		lr.deliverMu.Lock()
		lr.written += uint64(len(batch))
		lr.settled.Broadcast()
	}
}

// settle returns once the room's first target deliveries are written,
// draining them itself when no goroutine is. A join calls it after its
// member went pending, so frames decided for the member before (live
// events of its earlier membership) go out before the join's own.
func (h *hub) settle(lr *localRoom, target uint64) {
	lr.deliverMu.Lock()
	for lr.written < target {
		if !lr.writing {
			lr.writing = true
			lr.deliverMu.Unlock()
			h.drain(lr)
			lr.deliverMu.Lock()
			continue
		}
		lr.settled.Wait()
	}
	lr.deliverMu.Unlock()
}

// write sends one delivery and returns its recipient list to the pool.
func (h *hub) write(ctx context.Context, d *delivery) {
	ids := *d.ids
	switch {
	case d.resync:
		for _, id := range ids {
			h.out.sendResync(ctx, id, d.e.Room, d.e.Seq, d.e.Epoch)
		}
	default:
		if len(ids) > 0 {
			h.out.sendAll(ctx, ids, EncodeEvent(&d.e))
		}
		ts := d.e.TS
		if d.second {
			ts = 0 // its first part was timed: count, do not time again
		}
		h.out.obs.Delivered(d.e.Type, len(ids), ts)
	}
	clear(ids)
	*d.ids = ids[:0]
	idsPool.Put(d.ids)
}

// idsPool recycles deliver's recipient lists (one per event).
var idsPool = sync.Pool{New: func() any { s := make([]ConnID, 0, 64); return &s }}

// localConns returns the ids of the connections this node holds.
func (h *hub) localConns() []ConnID {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ids := make([]ConnID, 0, len(h.conns))
	for id := range h.conns {
		ids = append(ids, id)
	}
	return ids
}

// localRooms returns the rooms with local members and their count.
func (h *hub) localRooms() map[string]int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make(map[string]int, len(h.rooms))
	for name, lr := range h.rooms {
		if len(lr.members) > 0 {
			out[name] = len(lr.members)
		}
	}
	return out
}

// joined reports whether the local connection id is in room.
func (h *hub) joined(id ConnID, room string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	lc := h.conns[id]
	return lc != nil && lc.joined[room] != nil
}
