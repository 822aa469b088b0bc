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

// MaxRoomBacklogNoID is the bound for plugin frames without an id: fire
// and forget (cursor moves, typing), never acknowledged nor retried, so
// they are shed first — at a quarter of MaxRoomBacklog — and give way to
// the frames a client waits for.
const MaxRoomBacklogNoID = MaxRoomBacklog / 4

// lockRoomAdmit is lockRoom for a plugin frame: it reports false, and
// locks nothing, when bound operations already hold or await the room
// (MaxRoomBacklog, or MaxRoomBacklogNoID for a frame without an id). The
// count is taken and raised in one step, so the bound is exact.
func (h *hub) lockRoomAdmit(room string, bound int32) (roomLock, bool) {
	h.mu.RLock()
	lr := h.rooms[room]
	if lr != nil {
		for {
			n := lr.refs.Load()
			if n >= bound {
				h.mu.RUnlock()
				return roomLock{}, false
			}
			if lr.refs.CompareAndSwap(n, n+1) {
				break
			}
		}
	}
	h.mu.RUnlock()
	if lr == nil {
		// Not known here yet (nobody queued on it): the plain path.
		return h.lockRoom(room), true
	}
	lr.proc.Lock()
	return roomLock{h: h, room: room, lr: lr}, true
}

// lockRoomAdmit admits every frame in direct mode: each invocation is
// its own process, so there is no queue on a room to bound.
func (d *direct) lockRoomAdmit(room string, _ int32) (roomLock, bool) {
	return d.lockRoom(room), true
}

// backlogBound is the room backlog bound for a plugin frame with id.
func backlogBound(id string) int32 {
	if id == "" {
		return MaxRoomBacklogNoID
	}
	return MaxRoomBacklog
}
