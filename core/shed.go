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
// time. It reports whether it handled the frame. Everything else (ping,
// join, leave, malformed or oversize frames) it leaves alone and reports
// false, for the caller to pass to Receive as usual: those are what a
// client needs to recover. So Shed itself never runs a plugin nor commits
// anything, and a transport may call it on the connection's reader,
// without the hand-off to a worker a frame otherwise takes: a node short
// of CPU then drains a backlog at the cost of a parse and a reply per
// frame, not of a wait in the run queue.
//
// A shed frame still passes the connection's gate (token expiry, rate
// limit), but does not count towards the abuse close: the client did
// nothing wrong, the node is behind.
func (r *Router) Shed(ctx context.Context, id ConnID, frame []byte) (bool, error) {
	if len(frame) > r.o.MaxMessageBytes {
		return false, nil
	}
	f, perr := ParseFrame(frame)
	if perr != nil {
		return false, nil
	}
	switch f.Type {
	case "ping", "join", "leave":
		return false, nil
	}
	c, done, err := r.admit(ctx, id, frame)
	if done || err != nil {
		return true, err
	}
	r.o.Observer.FrameIn(r.typeLabel(f))
	r.o.Observer.Shed()
	r.replyErr(ctx, c.info.ID, f.ID, Errf(CodeRateLimited, "the server is behind on this connection's frames; retry later"))
	return true, nil
}
