package core

// HubSizes reports how many connections, leaving connections, rooms and
// subscription entries the router's hub holds (for leak checks in tests).
func HubSizes(r *Router) (conns, leaving, rooms, subs int) {
	h := r.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.conns), len(h.leaving), len(h.rooms), len(h.subs)
}

// MaxParts is maxParts, for tests of its bound.
const MaxParts = maxParts

// RoomParts reports how many seqs the hub keeps for room's two-part
// deliveries (localRoom.parts).
func RoomParts(r *Router, room string) int {
	h := r.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	lr := h.rooms[room]
	if lr == nil {
		return 0
	}
	lr.deliverMu.Lock()
	defer lr.deliverMu.Unlock()
	return len(lr.parts)
}
