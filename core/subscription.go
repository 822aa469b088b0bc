package core

import (
	"context"
	"sync"
)

// subscription is one room's Bus subscription state on this node. Its mu
// serialises the room's Subscribe and Unsubscribe calls, which may do
// network I/O (a Redis SUBSCRIBE), so that an unsubscribe of a room its
// last member left can never overtake the subscribe of a member who came
// back; other rooms are not held up, and hub.mu is never held across the
// I/O. The entry lives in hub.subs while anyone holds or awaits mu.
type subscription struct {
	mu    sync.Mutex
	users int // holders and waiters of mu; guarded by hub.mu
}

// lockSub takes room's subscription lock, creating its entry if needed.
// The caller must not hold hub.mu.
func (h *hub) lockSub(room string) *subscription {
	h.mu.Lock()
	s := h.subs[room]
	if s == nil {
		s = &subscription{}
		h.subs[room] = s
	}
	s.users++
	h.mu.Unlock()
	s.mu.Lock()
	return s
}

// unlockSub releases room's subscription lock; the last user removes the
// entry.
func (h *hub) unlockSub(room string, s *subscription) {
	s.mu.Unlock()
	h.mu.Lock()
	s.users--
	if s.users == 0 && h.subs[room] == s {
		delete(h.subs, room)
	}
	h.mu.Unlock()
}

// subscribe starts the Bus delivery of room (its first local member is
// joining; the caller holds the room's processing lock, so the room cannot
// be forgotten meanwhile).
func (h *hub) subscribe(ctx context.Context, room string) error {
	s := h.lockSub(room)
	defer h.unlockSub(room, s)
	return h.bus.Subscribe(ctx, room)
}

// unsubscribeIfGone stops the room's Bus subscription unless a join
// brought the room back meanwhile. A join that brings it back subscribes
// under the same lock, before this check (then the room is back and stays
// subscribed) or after the unsubscribe (then it subscribes again), so the
// room is never left without a subscription.
func (h *hub) unsubscribeIfGone(ctx context.Context, room string) {
	s := h.lockSub(room)
	defer h.unlockSub(room, s)
	h.mu.RLock()
	_, back := h.rooms[room]
	h.mu.RUnlock()
	if back {
		return
	}
	if err := h.bus.Unsubscribe(context.WithoutCancel(ctx), room); err != nil {
		h.out.log.Warn("unsubscribe failed", "room", room, "err", err)
	}
}
