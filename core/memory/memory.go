package memory

import (
	"container/heap"
	"container/list"
	"context"
	"fmt"
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/classgate/classgate/core"
)

// Options configure a Store. Zero values take the defaults.
type Options struct {
	// HistoryLimit is the number of durable events kept per room (1000).
	HistoryLimit int
	// HistoryAge is how long a durable event is kept (1h).
	HistoryAge time.Duration
	// LivenessTTL is how long a connection stays alive without Touch (30s).
	LivenessTTL time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
	// MaxIdleRooms caps the rooms held with no members and no
	// subscription (DefaultMaxIdleRooms); past it the least recently used
	// idle room is evicted (see idle.go).
	MaxIdleRooms int
	// MaxIdleBytes caps the approximate bytes (history, state, dedupe
	// entries) idle rooms hold (DefaultMaxIdleBytes), evicting likewise.
	MaxIdleBytes int64
}

// Store is an in-memory core.Store. It is safe for concurrent use.
type Store struct {
	o Options

	// mu guards conns, rooms and the rooms' member lists; lockRoom reads
	// them shared on the per-message path (a room with members needs no
	// write), so rooms do not queue behind one another here.
	mu    sync.RWMutex
	conns map[core.ConnID]*conn
	rooms map[string]*room
	// idle holds the rooms that had no members when they were last
	// looked at, a min-heap by the time they may be freed, for the sweep
	// (see freeLocked). A room is queued at most once (room.queued).
	idle idleHeap
	// peakRooms is len(rooms) at its largest since rooms was last
	// rebuilt: Go maps never shrink, so the sweep rebuilds rooms once it
	// holds a quarter of that.
	peakRooms int
	// lru lists the idle rooms (no members, no subscription), most
	// recently used first, for the caps on idle rooms (idle.go);
	// idleBytes is the sum of their sizes, evicted the number evicted.
	lru       *list.List
	idleBytes atomic.Int64
	evicted   uint64

	sink atomic.Pointer[func(core.Event)]
}

var _ core.Store = (*Store)(nil)

type conn struct {
	info  core.ConnInfo
	rooms map[string]bool
	seen  time.Time
}

type room struct {
	// registry, guarded by Store.mu
	members map[core.ConnID]core.User
	users   map[string]int
	queued  bool // in Store.idle; guarded by Store.mu
	hidx    int  // index in Store.idle while queued; guarded by Store.mu
	// lru is the room's element in Store.lru while it is idle; set with
	// Store.mu and room.mu held, so either lock reads it.
	lru *list.Element
	// freed marks a room removed from Store.rooms; set with Store.mu and
	// room.mu held. An operation that finds its room freed after taking
	// room.mu looks the room up again.
	freed bool

	subscribed atomic.Bool

	mu sync.Mutex // log, state, dedupe
	// size approximates the bytes the room holds (idle.go), guarded by mu.
	size    int64
	seq     uint64
	version uint64
	hist    []core.Event
	histAt  []time.Time
	// epoch names this room's sequence: random per room and process, so
	// a room that starts over (a restarted gateway, a forgotten room)
	// never continues a sequence that clients knew.
	epoch string
	// histArr and histAtArr are the whole arrays under hist and histAt:
	// trim re-slices the log forward and appendHist moves it back to the
	// front, so a room at its history limit appends without allocating.
	histArr   []core.Event
	histAtArr []time.Time
	state     map[string]map[string][]byte
	// loans counts, per namespace, the snapshots holding its current
	// state map. A commit writes a map in place only while no snapshot
	// holds it; otherwise it writes to a copy (copy on write), so readers
	// need no lock, and a snapshot released before the next commit (the
	// router releases its own once the plugin has run) costs no copy.
	loans   map[string]*loan
	dedupe  map[string]dedupeEntry
	pruneAt time.Time
	// refused holds the refusals remembered for dedupe keys (dedupe.go).
	refused        map[string]refusal
	refusedPruneAt time.Time
}

// idleRoom is an entry of Store.idle: the room may be freed at at.
type idleRoom struct {
	name string
	r    *room
	at   time.Time
}

// idleHeap is a container/heap of idle rooms, earliest at first, so one
// room waiting long (a dedupe window, a recent event) never holds up the
// rooms due before it.
type idleHeap []idleRoom

func (h idleHeap) Len() int           { return len(h) }
func (h idleHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h idleHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].r.hidx, h[j].r.hidx = i, j
}
func (h *idleHeap) Push(x any) {
	e := x.(idleRoom)
	e.r.hidx = len(*h)
	*h = append(*h, e)
}
func (h *idleHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = idleRoom{}
	*h = old[:len(old)-1]
	return e
}

// loan is the number of unreleased snapshots sharing one state map.
type loan struct{ n int }

type dedupeEntry struct {
	seq     uint64
	expires time.Time
}

// New returns an empty store.
func New(o Options) *Store {
	if o.HistoryLimit == 0 {
		o.HistoryLimit = 1000
	}
	if o.HistoryAge == 0 {
		o.HistoryAge = time.Hour
	}
	if o.LivenessTTL == 0 {
		o.LivenessTTL = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxIdleRooms <= 0 {
		o.MaxIdleRooms = DefaultMaxIdleRooms
	}
	if o.MaxIdleBytes <= 0 {
		o.MaxIdleBytes = DefaultMaxIdleBytes
	}
	return &Store{o: o, conns: map[core.ConnID]*conn{}, rooms: map[string]*room{}, lru: list.New()}
}

// roomLocked returns the room, creating it. Store.mu must be held.
func (s *Store) roomLocked(name string) *room {
	r := s.rooms[name]
	if r == nil {
		r = &room{members: map[core.ConnID]core.User{}, users: map[string]int{}, epoch: core.NewEpoch(),
			state: map[string]map[string][]byte{}, dedupe: map[string]dedupeEntry{}, size: int64(roomOverhead + len(name))}
		s.rooms[name] = r
		s.peakRooms = max(s.peakRooms, len(s.rooms))
	}
	return r
}

// lockRoom returns the room with room.mu held, creating it if create is
// set; without create, a room that does not exist is nil (nothing
// locked). A room created or written without members is queued for the
// sweep. A room freed between the lookup and the lock is looked up again.
func (s *Store) lockRoom(name string, create bool) *room {
	for {
		// Fast path: a room with members is neither idle nor new, so
		// finding it changes nothing.
		s.mu.RLock()
		r := s.rooms[name]
		busy := r != nil && len(r.members) > 0
		s.mu.RUnlock()
		if busy {
			r.mu.Lock()
			if !r.freed {
				return r
			}
			r.mu.Unlock()
			continue
		}
		s.mu.Lock()
		r = s.rooms[name]
		if r == nil && create {
			r = s.roomLocked(name)
		}
		if r != nil && len(r.members) == 0 {
			s.queueLocked(name, r, s.o.Now())
			s.touchLocked(name, r) // may evict r itself: then looked up again below
		}
		s.mu.Unlock()
		if r == nil {
			return nil
		}
		r.mu.Lock()
		if !r.freed {
			return r
		}
		r.mu.Unlock()
	}
}

// Rooms returns the number of rooms the store holds (members, history,
// state or dedupe entries), freed rooms excluded.
func (s *Store) Rooms() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rooms)
}

// Freeing rooms. A room is freed — removed with everything it holds —
// once nothing about it can be observed any more: no members, no Bus
// subscription, no history event inside the age limit, no plugin state
// and no dedupe entry inside its window. Its seq and version then restart
// at 0 when the room is used again. A client that remembers an older seq
// and joins with since gets resync (since beyond the room's seq), as it
// would from the kept room with its history aged out (since before the
// oldest kept event) — only a client exactly at the kept room's last seq
// would have been told "nothing missed" there instead: no event is lost
// or replayed wrongly either way, and no client sees a seq go backwards
// without a resync first. Rooms are freed as soon as they qualify at Leave, RemoveConn
// and Unsubscribe, and otherwise by the sweep that runs with Expired
// (the router's Maintain calls it periodically) once their history and
// dedupe entries age out.

// queueLocked queues r for the sweep at at unless it is queued.
// Store.mu must be held.
func (s *Store) queueLocked(name string, r *room, at time.Time) {
	if r.queued {
		return
	}
	r.queued = true
	heap.Push(&s.idle, idleRoom{name: name, r: r, at: at})
}

// freeLocked frees r if nothing about it can be observed any more (see
// above). It reports whether it did and, if not, the earliest time at
// which it might (zero: not by waiting — it has members, a subscription
// or state). Store.mu must be held.
func (s *Store) freeLocked(name string, r *room, now time.Time) (bool, time.Time) {
	if r.freed || s.rooms[name] != r || len(r.members) > 0 || r.subscribed.Load() {
		return false, time.Time{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.state {
		if len(m) > 0 {
			return false, time.Time{}
		}
	}
	s.trim(r, now)
	var next time.Time
	if n := len(r.histAt); n > 0 {
		next = r.histAt[n-1].Add(s.o.HistoryAge)
	}
	for k, d := range r.dedupe {
		if !now.Before(d.expires) {
			delete(r.dedupe, k)
			s.grow(r, -int64(dedupeOverhead+len(k)))
		} else if d.expires.After(next) {
			next = d.expires
		}
	}
	for k, f := range r.refused { // remembered refusals count like dedupe entries
		if !now.Before(f.expires) {
			delete(r.refused, k)
			s.grow(r, -refusalBytes(k, f))
		} else if f.expires.After(next) {
			next = f.expires
		}
	}
	if !next.IsZero() {
		return false, next
	}
	s.dropLocked(name, r)
	return true, time.Time{}
}

// dropLocked removes r from the store: from its rooms, its idle list and
// its sweep queue. Store.mu and r.mu must be held.
func (s *Store) dropLocked(name string, r *room) {
	s.unlistLocked(r)
	if r.queued {
		heap.Remove(&s.idle, r.hidx)
		r.queued = false
	}
	r.freed = true
	delete(s.rooms, name)
}

// sweepLocked frees the queued rooms whose time has come and re-queues
// those that must wait longer. Store.mu must be held.
func (s *Store) sweepLocked(now time.Time) {
	var later []idleRoom
	for len(s.idle) > 0 && !s.idle[0].at.After(now) {
		e := heap.Pop(&s.idle).(idleRoom)
		e.r.queued = false
		if freed, next := s.freeLocked(e.name, e.r, now); !freed && !next.IsZero() {
			e.r.queued = true
			later = append(later, idleRoom{name: e.name, r: e.r, at: next})
		}
	}
	for _, e := range later {
		heap.Push(&s.idle, e)
	}
	if s.peakRooms > 1024 && len(s.rooms) < s.peakRooms/4 {
		rooms := make(map[string]*room, len(s.rooms))
		for k, v := range s.rooms {
			rooms[k] = v
		}
		s.rooms = rooms
		s.peakRooms = len(rooms)
	}
	if cap(s.idle) > 1024 && len(s.idle) < cap(s.idle)/4 {
		s.idle = append(idleHeap(nil), s.idle...)
	}
}

// AddConn implements core.Registry.
func (s *Store) AddConn(_ context.Context, c core.ConnInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.conns[c.ID]; old != nil {
		old.info, old.seen = c, s.o.Now()
		return nil
	}
	s.conns[c.ID] = &conn{info: c, rooms: map[string]bool{}, seen: s.o.Now()}
	return nil
}

// Conn implements core.Registry.
func (s *Store) Conn(_ context.Context, id core.ConnID) (core.ConnInfo, []string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[id]
	if c == nil {
		return core.ConnInfo{}, nil, fmt.Errorf("memory: conn %s: %w", id, core.ErrNotFound)
	}
	rooms := make([]string, 0, len(c.rooms))
	for r := range c.rooms {
		rooms = append(rooms, r)
	}
	sort.Strings(rooms)
	return c.info, rooms, nil
}

// RemoveConn implements core.Registry.
func (s *Store) RemoveConn(_ context.Context, id core.ConnID) ([]core.Departure, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[id]
	if c == nil {
		return nil, fmt.Errorf("memory: remove %s: %w", id, core.ErrNotFound)
	}
	delete(s.conns, id)
	names := make([]string, 0, len(c.rooms))
	for r := range c.rooms {
		names = append(names, r)
	}
	sort.Strings(names)
	deps := make([]core.Departure, 0, len(names))
	for _, name := range names {
		deps = append(deps, s.leaveLocked(name, c))
	}
	return deps, nil
}

func (s *Store) leaveLocked(name string, c *conn) core.Departure {
	r := s.roomLocked(name)
	delete(r.members, c.info.ID)
	delete(c.rooms, name)
	uid := c.info.User.ID
	r.users[uid]--
	last := r.users[uid] <= 0
	if last {
		delete(r.users, uid)
	}
	empty := len(r.members) == 0
	if empty {
		now := s.o.Now()
		if freed, _ := s.freeLocked(name, r, now); !freed {
			s.queueLocked(name, r, now)
			s.touchLocked(name, r)
		}
	}
	return core.Departure{Room: name, User: c.info.User, LastOfUser: last, RoomEmpty: empty}
}

// Join implements core.Registry.
func (s *Store) Join(_ context.Context, name string, ci core.ConnInfo) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[ci.ID]
	if c == nil {
		return false, fmt.Errorf("memory: join %s: conn %s: %w", name, ci.ID, core.ErrNotFound)
	}
	if c.rooms[name] {
		return false, nil
	}
	r := s.roomLocked(name)
	c.rooms[name] = true
	r.members[ci.ID] = c.info.User
	s.touchLocked(name, r) // no longer idle
	uid := c.info.User.ID
	r.users[uid]++
	return r.users[uid] == 1, nil
}

// Leave implements core.Registry.
func (s *Store) Leave(_ context.Context, name string, id core.ConnID) (core.Departure, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[id]
	if c == nil || !c.rooms[name] {
		return core.Departure{Room: name}, false, nil
	}
	return s.leaveLocked(name, c), true, nil
}

// Members implements core.Registry.
func (s *Store) Members(_ context.Context, name string) ([]core.Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[name]
	if r == nil {
		return []core.Member{}, nil
	}
	out := make([]core.Member, 0, len(r.members))
	for id, u := range r.members {
		out = append(out, core.Member{Conn: id, User: u})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Conn < out[j].Conn })
	return out, nil
}

// Touch implements core.Registry.
func (s *Store) Touch(_ context.Context, ids ...core.ConnID) error {
	now := s.o.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if c := s.conns[id]; c != nil {
			c.seen = now
		}
	}
	return nil
}

// Expired implements core.Registry.
//
// Expired also runs the sweep that frees idle rooms (see freeLocked).
func (s *Store) Expired(_ context.Context, limit int) ([]core.ConnID, error) {
	now := s.o.Now()
	deadline := now.Add(-s.o.LivenessTTL)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	var out []core.ConnID
	for id, c := range s.conns {
		if len(out) >= limit {
			break
		}
		if c.seen.Before(deadline) {
			out = append(out, id)
		}
	}
	return out, nil
}

// Commit implements core.Log.
func (s *Store) Commit(_ context.Context, cm core.Commit) (core.CommitResult, error) {
	r := s.lockRoom(cm.Room, true)
	now := s.o.Now()
	defer r.mu.Unlock()
	if cm.DedupeKey != "" {
		if d, ok := r.dedupe[cm.DedupeKey]; ok && now.Before(d.expires) {
			return core.CommitResult{FirstSeq: d.seq, LastSeq: r.seq, Epoch: r.epoch}, core.ErrDuplicate
		}
	}
	if cm.CheckVersion && cm.ExpectVersion != r.version {
		return core.CommitResult{LastSeq: r.seq}, fmt.Errorf("memory: commit to %s: %w", cm.Room, core.ErrConflict)
	}
	res := core.CommitResult{}
	if len(cm.Ops) > 0 || len(cm.Durable) > 0 {
		r.version++
	}
	s.grow(r, r.applyOps(cm.Namespace, cm.Ops))
	sink := s.sink.Load()
	deliver := sink != nil && r.subscribed.Load()
	for i := range cm.Durable {
		r.seq++
		e := cm.Durable[i]
		e.Seq, e.Epoch = r.seq, r.epoch
		if i == 0 {
			res.FirstSeq = e.Seq
		}
		r.appendHist(e, now)
		s.grow(r, eventBytes(&e))
		if deliver {
			(*sink)(e)
		}
	}
	s.trim(r, now)
	if deliver {
		for _, e := range cm.Ephemeral {
			e.Seq = 0
			(*sink)(e)
		}
	}
	if cm.DedupeKey != "" {
		ttl := cm.DedupeTTL
		if ttl <= 0 {
			ttl = 5 * time.Minute
		}
		if _, ok := r.dedupe[cm.DedupeKey]; !ok {
			s.grow(r, int64(dedupeOverhead+len(cm.DedupeKey)))
		}
		r.dedupe[cm.DedupeKey] = dedupeEntry{seq: res.FirstSeq, expires: now.Add(ttl)}
		if now.After(r.pruneAt) {
			for k, d := range r.dedupe {
				if !now.Before(d.expires) {
					delete(r.dedupe, k)
					s.grow(r, -int64(dedupeOverhead+len(k)))
				}
			}
			r.pruneAt = now.Add(time.Minute)
		}
	}
	res.LastSeq, res.Epoch = r.seq, r.epoch
	return res, nil
}

// applyOps applies ops to namespace ns and returns by how many bytes the
// room's state grew (negative: shrank).
func (r *room) applyOps(ns string, ops []core.StateOp) int64 {
	if len(ops) == 0 {
		return 0
	}
	var d int64
	if l := r.loans[ns]; l != nil {
		if m := r.state[ns]; m != nil && l.n > 0 {
			r.state[ns] = maps.Clone(m)
		}
		// Loans of the old map are settled on the old loan; the map
		// written from here on starts with none.
		delete(r.loans, ns)
	}
	for _, op := range ops {
		m := r.state[ns]
		switch op.Op {
		case core.OpSet:
			if m == nil {
				m = map[string][]byte{}
				if r.state == nil {
					r.state = map[string]map[string][]byte{}
				}
				r.state[ns] = m
			}
			if old, ok := m[op.Key]; ok {
				d -= stateBytes(op.Key, old)
			}
			m[op.Key] = append([]byte(nil), op.Value...)
			d += stateBytes(op.Key, op.Value)
		case core.OpDel:
			if old, ok := m[op.Key]; ok {
				d -= stateBytes(op.Key, old)
				delete(m, op.Key)
			}
		case core.OpClear:
			for k, v := range m {
				d -= stateBytes(k, v)
			}
			delete(r.state, ns)
		}
	}
	return d
}

// stateBytes is what the byte accounting charges for one state entry.
func stateBytes(k string, v []byte) int64 { return int64(entryOverhead + len(k) + len(v)) }

// trim trims r's history (r.mu held), keeping the byte accounting.
func (s *Store) trim(r *room, now time.Time) {
	if d := r.trim(now, s.o.HistoryLimit, s.o.HistoryAge); d != 0 {
		s.grow(r, -d)
	}
}

// appendHist appends e, committed at at, to the log.
func (r *room) appendHist(e core.Event, at time.Time) {
	r.hist, r.histArr = appendReusing(r.hist, r.histArr, e)
	r.histAt, r.histAtArr = appendReusing(r.histAt, r.histAtArr, at)
}

// appendReusing appends v to s, a window of arr (the whole array under
// s; nil at first) that trimming moves forward. When s reaches the end of
// arr but at least a quarter of its length is free before it, s moves to
// the front of arr instead of growing: amortised O(1), and no garbage
// once a room's history is at its limit. It returns s and its array.
func appendReusing[T any](s, arr []T, v T) ([]T, []T) {
	if n := len(s); n == cap(s) && cap(arr)-n >= n/4+1 {
		copy(arr, s)
		clear(arr[n:]) // no references to dropped events
		s = arr[:n]
	}
	if len(s) == cap(s) {
		s = append(s, v) // a new array
		return s, s[:cap(s)]
	}
	return append(s, v), arr
}

// trim drops events beyond the size limit or older than the age limit and
// returns the bytes they were charged (eventBytes).
func (r *room) trim(now time.Time, limit int, age time.Duration) int64 {
	drop := 0
	if len(r.hist) > limit {
		drop = len(r.hist) - limit
	}
	cutoff := now.Add(-age)
	for drop < len(r.hist) && r.histAt[drop].Before(cutoff) {
		drop++
	}
	var n int64
	if drop > 0 {
		for i := range r.hist[:drop] {
			n += eventBytes(&r.hist[i])
		}
		// Re-slice instead of copying: the dropped prefix is released the
		// next time append reallocates, so trimming is amortised O(1).
		clear(r.hist[:drop])
		r.hist = r.hist[drop:]
		r.histAt = r.histAt[drop:]
	}
	return n
}

// History implements core.Log.
func (s *Store) History(_ context.Context, name string, since uint64) ([]core.Event, uint64, bool, error) {
	r := s.lockRoom(name, false)
	if r == nil { // a room never used (or freed): seq 0, nothing kept
		return []core.Event{}, 0, since == 0, nil
	}
	defer r.mu.Unlock()
	s.trim(r, s.o.Now())
	if since >= r.seq {
		return []core.Event{}, r.seq, since == r.seq, nil
	}
	first := r.seq + 1 // nothing kept
	if len(r.hist) > 0 {
		first = r.hist[0].Seq
	}
	if since+1 < first {
		return nil, r.seq, false, nil
	}
	start := int(since + 1 - first)
	out := make([]core.Event, len(r.hist)-start)
	copy(out, r.hist[start:])
	return out, r.seq, true, nil
}

// Snapshot implements core.Log.
func (s *Store) Snapshot(ctx context.Context, name string, namespaces ...string) (core.Snapshot, error) {
	snap, _, _, err := s.SnapshotDedupe(ctx, name, "", namespaces...)
	return snap, err
}

// Dedupe implements core.Log.
func (s *Store) Dedupe(_ context.Context, name, key string) (core.DedupeAnswer, bool, error) {
	r := s.lockRoom(name, false)
	if r == nil {
		return core.DedupeAnswer{}, false, nil
	}
	defer r.mu.Unlock()
	ans, found := r.dedupeAnswer(key, s.o.Now())
	return ans, found, nil
}

// SnapshotDedupe implements core.Log: the snapshot and the dedupe lookup
// under one hold of the room's lock.
func (s *Store) SnapshotDedupe(_ context.Context, name, key string, namespaces ...string) (core.Snapshot, core.DedupeAnswer, bool, error) {
	r := s.lockRoom(name, false)
	if r == nil { // a room never used (or freed)
		return core.Snapshot{State: map[string]map[string][]byte{}}, core.DedupeAnswer{}, false, nil
	}
	defer r.mu.Unlock()
	var ans core.DedupeAnswer
	found := false
	if key != "" {
		ans, found = r.dedupeAnswer(key, s.o.Now())
	}
	snap := core.Snapshot{Seq: r.seq, Version: r.version, Epoch: r.epoch, State: make(map[string]map[string][]byte, len(namespaces))}
	var held []*loan
	for _, ns := range namespaces {
		m := r.state[ns]
		if len(m) == 0 {
			continue // missing namespaces read as empty
		}
		snap.State[ns] = m // not written while held: see room.loans
		l := r.loans[ns]
		if l == nil {
			if r.loans == nil {
				r.loans = map[string]*loan{}
			}
			l = &loan{}
			r.loans[ns] = l
		}
		l.n++
		held = append(held, l)
	}
	if len(held) > 0 {
		released := false
		snap.Release = func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if released {
				return
			}
			released = true
			for _, l := range held {
				l.n--
			}
		}
	}
	return snap, ans, found, nil
}

// SetSink implements core.Bus.
func (s *Store) SetSink(f func(core.Event)) { s.sink.Store(&f) }

// Subscribe implements core.Bus.
func (s *Store) Subscribe(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.roomLocked(name)
	r.subscribed.Store(true)
	s.touchLocked(name, r) // no longer idle
	return nil
}

// Unsubscribe implements core.Bus.
func (s *Store) Unsubscribe(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[name]; r != nil {
		r.subscribed.Store(false)
		if len(r.members) == 0 {
			now := s.o.Now()
			if freed, _ := s.freeLocked(name, r, now); !freed {
				s.queueLocked(name, r, now)
				s.touchLocked(name, r)
			}
		}
	}
	return nil
}

// Ping implements core.Store; memory is always reachable.
func (s *Store) Ping(context.Context) error { return nil }

// Close implements core.Store.
func (s *Store) Close() error { return nil }
