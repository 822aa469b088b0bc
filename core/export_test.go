package core

// HubSizes reports how many connections, leaving connections, rooms and
// subscription entries the router's hub holds (for leak checks in tests).
func HubSizes(r *Router) (conns, leaving, rooms, subs int) {
	h := r.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.conns), len(h.leaving), len(h.rooms), len(h.subs)
}
