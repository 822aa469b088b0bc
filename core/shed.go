package core

import "context"

// Shed handles a text frame that the transport found queued too long
// behind the connection's earlier frames (see wsserver.Options.ShedAfter):
// the node is not keeping up with what this connection sends. A plugin
// frame is answered rate_limited at once (with its id) and not applied —
// no plugin call, no store access, nothing acknowledged, so a client's
// retry with the same id is safe and nothing acknowledged is lost —
// which costs the node a parse and a reply instead of a commit and a
// fan-out, so the queue drains and the frames that follow are served in
// time. Everything else (ping, join, leave, malformed frames) is handled
// by Receive as usual: those are what a client needs to recover, and cheap.
//
// A shed frame still passes the connection's gate (token expiry, rate
// limit), but does not count towards the abuse close: the client did
// nothing wrong, the node is behind.
func (r *Router) Shed(ctx context.Context, id ConnID, frame []byte) error {
	if len(frame) > r.o.MaxMessageBytes {
		return r.Receive(ctx, id, frame)
	}
	f, perr := ParseFrame(frame)
	if perr != nil {
		return r.Receive(ctx, id, frame)
	}
	switch f.Type {
	case "ping", "join", "leave":
		return r.Receive(ctx, id, frame)
	}
	c, done, err := r.admit(ctx, id, frame)
	if done || err != nil {
		return err
	}
	r.o.Observer.FrameIn(r.typeLabel(f))
	r.o.Observer.Shed()
	r.replyErr(ctx, c.info.ID, f.ID, Errf(CodeRateLimited, "the server is behind on this connection's frames; retry later"))
	return nil
}
