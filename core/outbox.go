package core

import (
	"context"
	"errors"
	"log/slog"
)

// outbox is the router's one way out: it sends encoded frames to
// connections and counts the control frames. The router and its hub share
// one.
type outbox struct {
	snd   Sender
	batch BatchSender // snd, if it sends to many connections at once
	obs   Observer
	log   *slog.Logger
}

// send delivers one encoded frame; a failure is the Sender's to handle
// (it closes connections that cannot keep up), so it is only logged.
func (o *outbox) send(ctx context.Context, id ConnID, b []byte) {
	if err := o.snd.Send(ctx, id, b); err != nil && !errors.Is(err, ErrNotFound) {
		o.log.Debug("send failed", "conn", id, "err", err)
	}
}

// sendAll delivers one encoded frame to several connections, in one batch
// when the Sender can.
func (o *outbox) sendAll(ctx context.Context, ids []ConnID, b []byte) {
	if o.batch != nil && len(ids) > 1 {
		o.batch.SendBatch(ctx, ids, b)
		return
	}
	for _, id := range ids {
		o.send(ctx, id, b)
	}
}

// reply sends a control frame to one connection.
func (o *outbox) reply(ctx context.Context, id ConnID, out *Out) {
	o.obs.FrameOut(out.Type)
	o.send(ctx, id, out.Encode())
}

// replyErr answers a frame (id, "" if it had none) with an error frame.
func (o *outbox) replyErr(ctx context.Context, to ConnID, id string, e *Error) {
	o.obs.ErrorSent(string(e.Code))
	o.reply(ctx, to, &Out{Type: "error", ID: id, Code: e.Code, Message: e.Message})
}

// sendResync tells a member that its room state cannot be continued from
// what it has: the join state that follows (in a join) or a re-join (live)
// starts it over as of seq in epoch.
func (o *outbox) sendResync(ctx context.Context, id ConnID, room string, seq uint64, epoch string) {
	o.obs.Resync()
	// Its seq is sent even when 0 (a restarted sequence): the client sets
	// its position from it.
	o.reply(ctx, id, &Out{Type: "resync", Room: room, Seq: SeqOf(seq), Epoch: epoch})
}

// matches reports whether an event addressed to t goes to connection id
// of user u.
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
