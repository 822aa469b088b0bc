package core

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// fanout is everything the two deployments do differently: how a node
// knows a connection and its rooms, and how committed events reach a
// room's members. NewRouter picks one, once:
//
//   - the hub (standalone server): the node holds its connections and
//     their rooms, takes a room's processing lock for its work, subscribes
//     to the Bus for rooms with local members and delivers what the Bus
//     hands over;
//   - direct (API Gateway + Lambda): the node holds nothing; it loads each
//     connection from the registry on every event and fans each commit out
//     itself to the members the registry lists.
//
// The routing of frames (Router: admit, join, leave, message, handler
// runs, commit) is the same for both and asks the fanout only these:
type fanout interface {
	// connect and disconnect add and remove a connection held by this
	// node; disconnect reports its info and whether it was held here.
	// forget ends a disconnect: the connection leaves the rooms that the
	// registry did not list.
	connect(info ConnInfo)
	disconnect(id ConnID) (ConnInfo, bool)
	forget(ctx context.Context, id ConnID)
	// session is what the node knows of a connection for one frame;
	// seen tells that the connection sent a valid frame.
	session(ctx context.Context, id ConnID) (*session, error)
	seen(ctx context.Context, id ConnID)
	// lockRoom takes the room's processing lock on this node, for a join,
	// a leave, a message or a hook.
	lockRoom(room string) roomLock
	// lockRoomAdmit is lockRoom for a plugin frame, refused (false,
	// nothing locked) past the room's backlog bound (admission.go).
	lockRoomAdmit(room string, bound int32) (roomLock, bool)
	// enter starts a join (the caller holds l) before it registers the
	// connection and reads the room's seq; errGone: the connection is gone.
	enter(ctx context.Context, l roomLock, c *session, already bool) (joining, error)
	// publish delivers a commit's events, once committed as cr.
	publish(ctx context.Context, cm Commit, cr CommitResult)
}

// joining is a join between fanout.enter and its end.
type joining interface {
	// restarts reports that the member was resynced live, so this join
	// starts it over (join states again).
	restarts() bool
	// end: the join's own frames were sent; seq and epoch are its joined
	// frame's.
	end(ctx context.Context, seq uint64, epoch string)
	// fail: the store refused the join.
	fail(ctx context.Context)
}

// errGone: the connection disconnected while it was joining.
var errGone = errors.New("connection gone")

// connState is what a session knows of its connection's rooms and rate
// limit.
type connState interface {
	in(room string) bool
	rooms() int
	// allow takes one token from the connection's rate limit; denied is
	// the number of refusals in a row.
	allow(now time.Time) (ok bool, denied int)
	// charge takes tokens (it may go into debt).
	charge(now time.Time, tokens float64)
}

// direct is the fanout of direct mode.
type direct struct {
	out   *outbox
	store Store
	seqr  Sequencer // the Sender, if it orders deliveries
}

var (
	_ fanout = (*direct)(nil)
	_ fanout = (*hub)(nil)
)

func (d *direct) connect(ConnInfo) {}

func (d *direct) disconnect(id ConnID) (ConnInfo, bool) { return ConnInfo{ID: id}, false }

func (d *direct) forget(context.Context, ConnID) {}

func (d *direct) session(ctx context.Context, id ConnID) (*session, error) {
	info, rooms, err := d.store.Conn(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("core: receive on %s: %w", id, err)
	}
	joined := make(registryRooms, len(rooms))
	for _, room := range rooms {
		joined[room] = true
	}
	return &session{info: info, conn: joined}, nil
}

// seen refreshes the connection's liveness: API Gateway has no server
// pings, so every frame proves it.
func (d *direct) seen(ctx context.Context, id ConnID) { _ = d.store.Touch(ctx, id) }

// lockRoom holds nothing: concurrency is handled by the store's version
// check.
func (d *direct) lockRoom(room string) roomLock { return roomLock{room: room} }

// enter opens the join's ordered hand-off (Sequencer.JoinBegin).
func (d *direct) enter(ctx context.Context, l roomLock, c *session, _ bool) (joining, error) {
	j := directJoin{seqr: d.seqr, room: l.room, id: c.info.ID}
	if d.seqr != nil {
		if err := d.seqr.JoinBegin(ctx, j.room, j.id); err != nil {
			d.out.log.Warn("ordered join hand-off failed; joining anyway", "room", j.room, "err", err)
		}
	}
	return j, nil
}

// directJoin closes a direct-mode join's ordered hand-off.
type directJoin struct {
	seqr Sequencer
	room string
	id   ConnID
}

func (j directJoin) restarts() bool { return false }

func (j directJoin) end(ctx context.Context, seq uint64, _ string) {
	if j.seqr != nil {
		j.seqr.JoinEnd(ctx, j.room, j.id, seq)
	}
}

func (j directJoin) fail(ctx context.Context) { j.end(ctx, 0, "") }

// publish fans a commit's events out to every member in the registry.
func (d *direct) publish(ctx context.Context, cm Commit, cr CommitResult) {
	if len(cm.Durable)+len(cm.Ephemeral) == 0 {
		return
	}
	members, err := d.store.Members(ctx, cm.Room)
	if err != nil {
		d.out.log.Warn("members failed; events stay in history", "room", cm.Room, "err", err)
		return
	}
	if d.seqr != nil && len(cm.Durable) > 0 {
		d.seqr.PublishBegin(ctx, cm.Room, cr.FirstSeq, cr.FirstSeq+uint64(len(cm.Durable))-1, cr.Epoch)
		defer d.seqr.PublishEnd(ctx, cm.Room)
	}
	for i := range cm.Durable {
		cm.Durable[i].Seq = cr.FirstSeq + uint64(i)
		cm.Durable[i].Epoch = cr.Epoch
		d.fanout(ctx, members, &cm.Durable[i])
	}
	for i := range cm.Ephemeral {
		d.fanout(ctx, members, &cm.Ephemeral[i])
	}
}

// fanout delivers one event to the matching members.
func (d *direct) fanout(ctx context.Context, members []Member, e *Event) {
	b := EncodeEvent(e)
	n := 0
	for _, m := range members {
		if matches(e.To, m.Conn, m.User) {
			d.out.send(ctx, m.Conn, b)
			n++
		}
	}
	d.out.obs.Delivered(e.Type, n, e.TS)
}

// registryRooms is a direct-mode connection's rooms, as the registry
// lists them. Direct mode has no per-connection rate limit (no state
// between invocations; API Gateway throttles).
type registryRooms map[string]bool

func (r registryRooms) in(room string) bool       { return r[room] }
func (r registryRooms) rooms() int                { return len(r) }
func (registryRooms) allow(time.Time) (bool, int) { return true, 0 }
func (registryRooms) charge(time.Time, float64)   {}
