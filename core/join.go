package core

import (
	"context"
	"errors"
	"fmt"
)

func (r *Router) join(ctx context.Context, c *session, f Frame) *Error {
	if f.Room == "" {
		return Errf(CodeBadRequest, "join needs a room")
	}
	if !r.allowed(c, f.Room) {
		return Errf(CodeForbidden, "token does not allow room %q", f.Room)
	}
	already := c.conn.in(f.Room) // before the join below makes it a member
	if !already && c.conn.rooms() >= r.o.MaxRoomsPerConn {
		return Errf(CodeForbidden, "at most %d rooms per connection", r.o.MaxRoomsPerConn)
	}
	l := r.fan.lockRoom(f.Room)
	defer l.unlock()
	j, err := r.fan.enter(ctx, l, c, already)
	if errors.Is(err, errGone) {
		return nil // disconnected meanwhile
	}
	// fail ends a join that the store refused (see joining.fail).
	fail := func(op string, err error) *Error {
		j.fail(ctx)
		return r.storeErr(op, err)
	}
	if err != nil {
		return fail("subscribe", err)
	}
	restart := j.restarts() // a member resynced live: this join starts it over
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
			run := handlerRun{h: h, ns: ns, call: call, replyTo: c.info.ID, sent: &sent}
			if _, e := r.runHandler(ctx, run, &snap); e != nil {
				// Never silence: the newcomer learns which join state it
				// is missing and why.
				r.log.Warn("join hook failed", "room", f.Room, "plugin", ns, "code", e.Code, "err", e.Message)
				r.o.Observer.ErrorSent(string(e.Code))
				r.reply(ctx, c.info.ID, &Out{Type: "error", Room: f.Room, Code: e.Code,
					Message: fmt.Sprintf("no %s join state: %s", ns, e.Message)})
			}
		}
	}
	j.end(ctx, snap.Seq, snap.Epoch)
	r.charge(c, sent)
	return nil
}

// allowed reports whether the connection's token allows room.
func (r *Router) allowed(c *session, room string) bool {
	for _, p := range c.info.Rooms {
		if MatchRoom(p, room) {
			return true
		}
	}
	return false
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
	if sent <= 0 {
		return
	}
	c.conn.charge(r.o.Now(), float64(sent)/float64(r.o.MaxMessageBytes))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
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

func (r *Router) leave(ctx context.Context, c *session, f Frame) *Error {
	if f.Room == "" {
		return Errf(CodeBadRequest, "leave needs a room")
	}
	if !c.conn.in(f.Room) {
		return Errf(CodeNotJoined, "not in room %q", f.Room)
	}
	l := r.fan.lockRoom(f.Room)
	defer l.unlock()
	d, joined, err := r.o.Store.Leave(ctx, f.Room, c.info.ID)
	if err != nil {
		return r.storeErr("leave", err)
	}
	l.drop(ctx, c.info.ID)
	if joined {
		r.runLeaveHooks(ctx, c.info, d)
	}
	if f.ID != "" {
		r.reply(ctx, c.info.ID, &Out{Type: "ack", ID: f.ID})
	}
	return nil
}
