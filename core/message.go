package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

func (r *Router) message(ctx context.Context, c *session, f Frame) *Error {
	ns, _, ok := SplitType(f.Type)
	if !ok {
		return Errf(CodeUnknownType, "unknown frame type %q", f.Type)
	}
	if f.Room == "" {
		return Errf(CodeBadRequest, "%s needs a room", f.Type)
	}
	if !c.conn.in(f.Room) {
		return Errf(CodeNotJoined, "join room %q first", f.Room)
	}
	h := r.o.Plugins.Handler(f.Room, ns)
	if h == nil {
		return Errf(CodeUnknownType, "no plugin for %q in this room", ns)
	}
	l, ok := r.fan.lockRoomAdmit(f.Room, backlogBound(f.ID))
	if !ok {
		r.o.Observer.RateLimited()
		return Errf(CodeRateLimited, "room %q is busy; retry later", f.Room)
	}
	defer l.unlock()
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
	cached := snap.Cached
	data := f.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	call := &Call{Hook: HookMessage, Type: f.Type, Room: f.Room, Data: data, Sender: c.info.User, Conn: c.info.ID}
	run := handlerRun{h: h, ns: ns, call: call, release: true, dedupe: dedupe, replyTo: c.info.ID}
	seq, e := r.runHandler(ctx, run, &snap)
	if e != nil && cached && dedupe != "" && e.refusal() {
		// The plugin refused on the node's cached snapshot, before
		// anything looked the id up: a retry of a frame answered before
		// gets that answer, not the plugin's refusal of the repeat;
		// otherwise the plugin decides again on a fresh read (the cache
		// may miss another node's write, and a refusal is remembered).
		ans, found, err := r.o.Store.Dedupe(ctx, f.Room, dedupe)
		if err != nil {
			return r.storeErr("dedupe", err)
		}
		if found {
			r.o.Observer.Duplicate()
			if ans.Code != "" {
				return &Error{Code: ans.Code, Message: ans.Message}
			}
			r.ack(ctx, c.info.ID, f.ID, ans.Seq)
			return nil
		}
		seq, e = r.runHandler(ctx, run, nil)
	}
	if e != nil {
		if dedupe != "" && e.refusal() {
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

// runLeaveHooks runs each enabled plugin's leave hook for a departure
// (presence.leave).
func (r *Router) runLeaveHooks(ctx context.Context, info ConnInfo, d Departure) {
	for _, ns := range r.o.Plugins.Features(d.Room) {
		h := r.o.Plugins.Handler(d.Room, ns)
		if h == nil {
			continue
		}
		call := &Call{Hook: HookLeave, Type: ns + ".leave", Room: d.Room, Sender: d.User, Conn: info.ID,
			LastOfUser: d.LastOfUser, RoomEmpty: d.RoomEmpty}
		if _, e := r.runHandler(ctx, handlerRun{h: h, ns: ns, call: call}, nil); e != nil {
			r.log.Warn("leave hook failed", "room", d.Room, "plugin", ns, "err", e.Message)
		}
	}
}

// handlerRun is one plugin call for runHandler.
type handlerRun struct {
	h    Handler
	ns   string // the plugin's namespace
	call *Call
	// release: runHandler owns the snapshot it is given and releases it
	// once the plugin has read it; otherwise it is the caller's to release.
	release bool
	// dedupe is the commit's dedupe key ("" for none).
	dedupe string
	// replyTo receives the result's replies ("" for nobody); when sent is
	// not nil, their size in bytes is added to it.
	replyTo ConnID
	sent    *int
}

// runHandler calls a plugin with a snapshot and commits its result,
// retrying on a concurrent change of the room with a fresh snapshot after
// a jittered backoff (cut short when ctx ends). snap, when not nil, is the
// first attempt's snapshot (see handlerRun.release); later attempts read
// their own. It is a parameter of its own, not a field of run, so that it
// stays on the caller's stack (escape analysis would move it to the heap
// with run's other pointers). It returns the first seq assigned (or the
// original one for a duplicate).
func (r *Router) runHandler(ctx context.Context, run handlerRun, snap *Snapshot) (uint64, *Error) {
	call, ns := run.call, run.ns
	for attempt := 0; ; attempt++ {
		// A snapshot taken here, or handed over, is released as soon as
		// the plugin has read it; otherwise it is the caller's to release.
		owned := snap == nil || (run.release && attempt == 0)
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
		res, err := run.h.Handle(ctx, call)
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
		cm, e := r.buildCommit(call, ns, res, snap, run.dedupe)
		if e != nil {
			return 0, e
		}
		if len(cm.Durable) == 0 && len(cm.Ephemeral) == 0 && len(cm.Ops) == 0 && run.dedupe == "" {
			r.sendReplies(ctx, call.Room, run.replyTo, res.Replies, run.sent)
			return 0, nil
		}
		cr, err := r.o.Store.Commit(ctx, cm)
		switch {
		case errors.Is(err, ErrConflict) && attempt < r.o.CommitRetries:
			// Another node (or Lambda invocation) wrote the room first:
			// wait a jittered moment, growing with the attempts, then re-run
			// the plugin on the fresh state.
			if err := sleep(ctx, time.Duration(rand.Int64N(int64(attempt+1)*int64(time.Millisecond)))); err != nil {
				return 0, r.storeErr("commit", fmt.Errorf("retry after a conflict: %w", err))
			}
			snap = nil
			continue
		case errors.Is(err, ErrDuplicate):
			r.o.Observer.Duplicate()
			return cr.FirstSeq, nil
		case errors.Is(err, ErrRefusedBefore):
			r.o.Observer.Duplicate()
			return 0, &Error{Code: cr.Refusal.Code, Message: cr.Refusal.Message, remembered: true}
		case err != nil:
			return 0, r.storeErr("commit", err)
		}
		// Replies (a newcomer's join state) go out before the events the
		// commit announces, in both modes.
		r.sendReplies(ctx, call.Room, run.replyTo, res.Replies, run.sent)
		r.fan.publish(ctx, cm, cr)
		return cr.FirstSeq, nil
	}
}

// sleep waits for d or until ctx ends, whichever is first; it returns
// ctx's error in the second case.
func sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Router) buildCommit(call *Call, ns string, res *Result, snap *Snapshot, dedupe string) (Commit, *Error) {
	now := r.o.Now().UnixMilli()
	cm := Commit{Room: call.Room, Namespace: ns, Ops: res.Ops, DedupeKey: dedupe, DedupeTTL: r.o.DedupeWindow}
	if len(res.Ops) > 0 || len(res.Emits) > 0 || snap.Cached {
		// The plugin decided on the state as of snap: commit only if the
		// room did not move meanwhile (otherwise re-run on fresh state).
		// A Cached snapshot is checked whatever the result: the replies
		// it gave must not go out if it was stale.
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

// sendReplies sends a result's replies (ephemeral, to one connection).
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
