package core

import (
	"context"
)

// session is what the router knows of a connection during one event.
type session struct {
	info ConnInfo
	conn connState // its rooms and rate limit, from the fanout
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
		r.replyErr(ctx, c.info.ID, FrameID(frame), Errf(CodeTooLarge, "frame of %d bytes exceeds %d", len(frame), r.o.MaxMessageBytes))
		return nil
	}
	f, perr := ParseFrame(frame)
	if perr != nil {
		r.o.Observer.FrameIn("invalid")
		r.replyErr(ctx, c.info.ID, f.ID, perr)
		return nil
	}
	r.o.Observer.FrameIn(r.typeLabel(f))
	r.fan.seen(ctx, id)
	var e *Error
	switch f.Type {
	case "ping":
		r.reply(ctx, id, &Out{Type: "pong", ID: f.ID})
	case "join":
		e = r.join(ctx, c, f)
	case "leave":
		e = r.leave(ctx, c, f)
	default:
		e = r.message(ctx, c, f)
	}
	if e != nil {
		r.replyErr(ctx, c.info.ID, f.ID, e)
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
	r.replyErr(ctx, c.info.ID, "", Errf(CodeBadRequest, "binary frames are not supported; send JSON text frames"))
	return nil
}

// admit is the gate every frame passes first: the connection must be
// known, its token unexpired and its rate limit not exhausted (a refused
// frame is answered rate_limited, and AbuseLimit refusals in a row close
// the connection with 1008). done reports that the frame was answered or
// the connection closed, so the caller stops. A node-wide admission rule
// (e.g. overload shedding) belongs here too.
func (r *Router) admit(ctx context.Context, id ConnID, frame []byte) (c *session, done bool, err error) {
	c, err = r.fan.session(ctx, id)
	if err != nil {
		return nil, true, err
	}
	if !c.info.Expires.IsZero() && !r.o.Now().Before(c.info.Expires) {
		return c, true, r.o.Sender.Close(ctx, id, CloseTokenExpired, "token expired")
	}
	if ok, denied := c.conn.allow(r.o.Now()); !ok {
		r.o.Observer.FrameIn("rate_limited")
		r.o.Observer.RateLimited()
		if denied >= r.o.AbuseLimit {
			return c, true, r.o.Sender.Close(ctx, id, ClosePolicy, "rate limit exceeded")
		}
		fid := ""
		if frame != nil {
			fid = FrameID(frame)
		}
		r.replyErr(ctx, id, fid, Errf(CodeRateLimited, "too many frames; slow down"))
		return c, true, nil
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
