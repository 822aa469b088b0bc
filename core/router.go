package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Router implements the control plane of PROTOCOL v1 over the ports.
// All methods are safe for concurrent use. Calls for one connection must
// not overlap (adapters call Receive from one read loop per connection, or
// once per Lambda event).
//
// The router is two parts. The routing of frames is the Router's own
// (receive.go: admit and dispatch; join.go: join, replay, leave;
// message.go: plugin frames, handler runs, commits). How a node knows its
// connections and gets committed events to members is its fanout
// (fanout.go), chosen once by NewRouter: the hub (hub.go, standalone) or
// direct (Lambda).
//
// Lock order. A goroutine takes these locks only in this order, and
// never waits on an earlier one while holding a later one:
//
//  1. localRoom.proc — a room's processing lock (hub.lockRoom), held
//     for a whole join, leave, message or leave hook in the room on this
//     node, store calls, plugin calls and the frames it sends included
//     (so they go out in order);
//  2. subscription.mu — one room's Bus subscription lock, held across
//     its Subscribe call, or its Unsubscribe call and the check before it
//     (network I/O), and nothing else;
//  3. hub.mu — the connection table, rooms, memberships and the
//     subscription entries; held only for map and field updates, never
//     across I/O, a plugin call or a Send;
//  4. localRoom.deliverMu — one room's delivery state, under hub.mu's
//     read lock (hub.deliverEvent: the Bus's events and the node's own commits).
//
// localConn.bucketMu (a connection's rate limit) is a leaf: nothing is
// taken while it is held. Neither hub.mu nor deliverMu nor a subscription
// lock is held while a frame is sent.
type Router struct {
	o Options
	outbox
	// fan is the hub (standalone) or direct (Lambda).
	fan fanout
	// hub is the standalone node's local state; in direct mode it stays
	// empty (LocalConns, LocalRooms and Joined read it).
	hub *hub
}

// NewRouter builds a router. In standalone mode it installs itself as the
// store's Bus sink.
func NewRouter(o Options) (*Router, error) {
	if o.Store == nil || o.Sender == nil {
		return nil, errors.New("core: router needs a Store and a Sender")
	}
	o.defaults()
	r := &Router{o: o, outbox: outbox{snd: o.Sender, obs: o.Observer, log: o.Logger}}
	r.batch, _ = o.Sender.(BatchSender)
	r.hub = newHub(&r.o, &r.outbox)
	if o.Direct {
		d := &direct{out: &r.outbox, store: o.Store}
		d.seqr, _ = o.Sender.(Sequencer)
		r.fan = d
	} else {
		r.fan = r.hub
		o.Store.SetSink(r.hub.deliver)
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
	r.fan.connect(info)
	return nil
}

// LocalConns returns the ids of the connections this node holds.
func (r *Router) LocalConns() []ConnID { return r.hub.localConns() }

// Disconnect forgets a connection: it leaves every room (running the
// plugins' leave hooks, e.g. presence.leave) and is removed from the
// registry. Disconnecting an unknown connection is a no-op.
func (r *Router) Disconnect(ctx context.Context, id ConnID) error {
	info, held := r.fan.disconnect(id)
	deps, err := r.o.Store.RemoveConn(ctx, id)
	if errors.Is(err, ErrNotFound) {
		err = nil
	}
	if held {
		r.o.Observer.Connected(-1)
	}
	for _, d := range deps {
		// Leave hooks run under the room's processing lock, never
		// concurrently with joins or messages in that room on this node.
		l := r.fan.lockRoom(d.Room)
		l.drop(ctx, id)
		r.runLeaveHooks(ctx, info, d)
		l.unlock()
	}
	r.fan.forget(ctx, id)
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
	r.fan.publish(ctx, cm, cr)
	return cr.FirstSeq, nil
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
func (r *Router) LocalRooms() map[string]int { return r.hub.localRooms() }

// Joined reports whether the local connection id is in room.
func (r *Router) Joined(id ConnID, room string) bool { return r.hub.joined(id, room) }

// storeErr logs a store failure and turns it into the error frame the
// client gets.
func (r *Router) storeErr(op string, err error) *Error {
	r.o.Observer.StoreError(op)
	r.log.Error("store failed", "op", op, "err", err)
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return Errf(CodeInternal, "temporarily unavailable, retry (%s)", op)
	}
	return Errf(CodeInternal, "internal error (%s)", op)
}
