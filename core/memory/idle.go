package memory

import "github.com/classgate/classgate/core"

// Bounds on idle rooms. A room with no members and no Bus subscription is
// idle: nobody is in it, yet it may hold history (presence join and leave
// are durable events), plugin state (a whiteboard, the chat's recent
// messages) and dedupe entries for a long time (history.age; state for
// good). Freeing by age (freeLocked) returns that memory eventually; these
// caps bound it at every moment, whatever a client does within its rate
// limit (join/leave over distinct room names, filling boards and leaving).
const (
	// DefaultMaxIdleRooms is the default cap on idle rooms held. An idle
	// room a join and a leave left behind (two presence events) holds
	// about 1.9 KiB of heap (TestIdleRoomsBounded measures it), so 10,000 of them
	// are ~20 MiB: a school's every classroom stays while its pupils are
	// away, and a client looping join/leave over new names recycles the
	// oldest idle rooms instead of growing the heap.
	DefaultMaxIdleRooms = 10_000
	// DefaultMaxIdleBytes is the default cap on the (approximate) bytes
	// idle rooms hold: history, plugin state and dedupe entries. One room
	// may hold close to 2 MiB (a full board and a full chat history, each
	// capped at the 960 KiB a join reply carries) plus its history, so a
	// count alone would let 10,000 filled boards hold ~20 GiB; 256 MiB
	// keeps ~130 full rooms, or thousands of ordinary ones.
	DefaultMaxIdleBytes = 256 << 20
)

// Sizes the byte accounting charges on top of the bytes it can see: the
// structs, map entries and slice slots around them (rounded up).
const (
	roomOverhead   = 1400 // the room struct, its maps, its list and queue entries
	eventOverhead  = 200  // core.Event, its From, its history slot and time
	entryOverhead  = 64   // a state, dedupe or refusal map entry
	dedupeOverhead = entryOverhead + 32
)

// idleEntry is an element of Store.lru.
type idleEntry struct {
	name string
	r    *room
}

// grow adds d to the bytes r holds (r.mu held) and, while r is idle, to
// the store's idle total.
func (s *Store) grow(r *room, d int64) {
	r.size += d
	if r.lru != nil {
		s.idleBytes.Add(d)
	}
}

// isIdle reports whether r counts against the idle caps: held, no members
// and no subscription. Store.mu must be held.
func (s *Store) isIdle(name string, r *room) bool {
	return !r.freed && s.rooms[name] == r && len(r.members) == 0 && !r.subscribed.Load()
}

// touchLocked puts r at the front of the idle list if it is idle (it was
// just used), takes it off if it is not, and evicts idle rooms past the
// caps, least recently used first. O(1) per call, plus O(1) per room
// evicted. Store.mu must be held and r.mu must not.
func (s *Store) touchLocked(name string, r *room) {
	switch idle := s.isIdle(name, r); {
	case idle && r.lru != nil:
		s.lru.MoveToFront(r.lru)
	case idle:
		r.mu.Lock()
		r.lru = s.lru.PushFront(idleEntry{name: name, r: r})
		s.idleBytes.Add(r.size)
		r.mu.Unlock()
	case r.lru != nil:
		r.mu.Lock()
		s.unlistLocked(r)
		r.mu.Unlock()
	}
	s.evictLocked()
}

// unlistLocked takes r off the idle list. Store.mu and r.mu must be held.
func (s *Store) unlistLocked(r *room) {
	if r.lru == nil {
		return
	}
	s.lru.Remove(r.lru)
	r.lru = nil
	s.idleBytes.Add(-r.size)
}

// evictLocked frees the least recently used idle rooms while their number
// or bytes are past the caps. An evicted room loses its history, state
// and dedupe entries: used again, it is a new room with a new epoch, so a
// client resuming it gets resync, never a silent gap. Store.mu must be
// held and no room's mu.
func (s *Store) evictLocked() {
	for s.lru.Len() > 0 && (s.lru.Len() > s.o.MaxIdleRooms || s.idleBytes.Load() > s.o.MaxIdleBytes) {
		e := s.lru.Back().Value.(idleEntry)
		e.r.mu.Lock()
		s.dropLocked(e.name, e.r)
		e.r.mu.Unlock()
		s.evicted++
	}
}

// IdleRooms returns the number of idle rooms held (no members, no
// subscription) and the bytes the store counts them as holding.
func (s *Store) IdleRooms() (rooms int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len(), s.idleBytes.Load()
}

// Evicted returns the number of idle rooms evicted by the caps so far.
func (s *Store) Evicted() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evicted
}

// eventBytes is what the byte accounting charges for one history event.
func eventBytes(e *core.Event) int64 {
	n := eventOverhead + len(e.Type) + len(e.Data)
	if e.From != nil {
		n += len(e.From.ID) + len(e.From.Name) + len(e.From.Role)
	}
	return int64(n)
}
