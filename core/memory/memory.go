package memory

import (
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
}

// Store is an in-memory core.Store. It is safe for concurrent use.
type Store struct {
	o Options

	mu    sync.Mutex
	conns map[core.ConnID]*conn
	rooms map[string]*room

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

	subscribed atomic.Bool

	mu      sync.Mutex // log, state, dedupe
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
	return &Store{o: o, conns: map[core.ConnID]*conn{}, rooms: map[string]*room{}}
}

// roomLocked returns the room, creating it. Store.mu must be held.
func (s *Store) roomLocked(name string) *room {
	r := s.rooms[name]
	if r == nil {
		r = &room{members: map[core.ConnID]core.User{}, users: map[string]int{}, epoch: core.NewEpoch(),
			state: map[string]map[string][]byte{}, dedupe: map[string]dedupeEntry{}}
		s.rooms[name] = r
	}
	return r
}

func (s *Store) room(name string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.roomLocked(name)
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
	return core.Departure{Room: name, User: c.info.User, LastOfUser: last, RoomEmpty: len(r.members) == 0}
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
func (s *Store) Expired(_ context.Context, limit int) ([]core.ConnID, error) {
	deadline := s.o.Now().Add(-s.o.LivenessTTL)
	s.mu.Lock()
	defer s.mu.Unlock()
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
	r := s.room(cm.Room)
	now := s.o.Now()
	r.mu.Lock()
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
	r.applyOps(cm.Namespace, cm.Ops)
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
		if deliver {
			(*sink)(e)
		}
	}
	r.trim(now, s.o.HistoryLimit, s.o.HistoryAge)
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
		r.dedupe[cm.DedupeKey] = dedupeEntry{seq: res.FirstSeq, expires: now.Add(ttl)}
		if now.After(r.pruneAt) {
			for k, d := range r.dedupe {
				if !now.Before(d.expires) {
					delete(r.dedupe, k)
				}
			}
			r.pruneAt = now.Add(time.Minute)
		}
	}
	res.LastSeq, res.Epoch = r.seq, r.epoch
	return res, nil
}

func (r *room) applyOps(ns string, ops []core.StateOp) {
	if len(ops) == 0 {
		return
	}
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
			m[op.Key] = append([]byte(nil), op.Value...)
		case core.OpDel:
			delete(m, op.Key)
		case core.OpClear:
			delete(r.state, ns)
		}
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

// trim drops events beyond the size limit or older than the age limit.
func (r *room) trim(now time.Time, limit int, age time.Duration) {
	drop := 0
	if len(r.hist) > limit {
		drop = len(r.hist) - limit
	}
	cutoff := now.Add(-age)
	for drop < len(r.hist) && r.histAt[drop].Before(cutoff) {
		drop++
	}
	if drop > 0 {
		// Re-slice instead of copying: the dropped prefix is released the
		// next time append reallocates, so trimming is amortised O(1).
		clear(r.hist[:drop])
		r.hist = r.hist[drop:]
		r.histAt = r.histAt[drop:]
	}
}

// History implements core.Log.
func (s *Store) History(_ context.Context, name string, since uint64) ([]core.Event, uint64, bool, error) {
	r := s.room(name)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trim(s.o.Now(), s.o.HistoryLimit, s.o.HistoryAge)
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
func (s *Store) Snapshot(_ context.Context, name string, namespaces ...string) (core.Snapshot, error) {
	r := s.room(name)
	r.mu.Lock()
	defer r.mu.Unlock()
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
	return snap, nil
}

// SetSink implements core.Bus.
func (s *Store) SetSink(f func(core.Event)) { s.sink.Store(&f) }

// Subscribe implements core.Bus.
func (s *Store) Subscribe(_ context.Context, name string) error {
	s.room(name).subscribed.Store(true)
	return nil
}

// Unsubscribe implements core.Bus.
func (s *Store) Unsubscribe(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[name]; r != nil {
		r.subscribed.Store(false)
	}
	return nil
}

// Ping implements core.Store; memory is always reachable.
func (s *Store) Ping(context.Context) error { return nil }

// Close implements core.Store.
func (s *Store) Close() error { return nil }
