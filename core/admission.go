package core

// MaxRoomBacklog bounds the work queued on one room of a node: a plugin
// frame for a room where this many operations (the one running and those
// waiting for the room: messages, joins, leaves) are already in progress
// is answered rate_limited at once, without running a plugin or touching
// the store, instead of joining the queue. A room flooded by many senders
// (or stalled by a slow store) thus keeps a bounded queue, and so a bounded
// delay for the frames it accepts; the refused frames were not applied
// (not acked), so a client retries them later (same id) and nothing
// acknowledged is lost. docs/PROTOCOL.md and docs/PERFORMANCE.md quote it.
const MaxRoomBacklog = 64

// lockRoomAdmit is lockRoom for a plugin frame: it reports false, and
// locks nothing, when MaxRoomBacklog operations already hold or await the
// room. The count is taken and raised in one step, so the bound is exact.
func (r *Router) lockRoomAdmit(room string) (*localRoom, bool) {
	if r.o.Direct {
		return nil, true
	}
	r.mu.RLock()
	lr := r.rooms[room]
	if lr != nil {
		for {
			n := lr.refs.Load()
			if n >= MaxRoomBacklog {
				r.mu.RUnlock()
				return nil, false
			}
			if lr.refs.CompareAndSwap(n, n+1) {
				break
			}
		}
	}
	r.mu.RUnlock()
	if lr == nil {
		// Not known here yet (nobody queued on it): the plain path.
		return r.lockRoom(room), true
	}
	lr.proc.Lock()
	return lr, true
}
