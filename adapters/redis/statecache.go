package redis

import (
	"maps"
	"sync"

	"github.com/classgate/classgate/core"
)

// stateCache keeps, for the rooms this node subscribes to, the plugin
// state of each namespace as of the room's state version, so a snapshot
// transfers the state only when the version moved on another node (or
// here without this node seeing the commit): the snapshot script is told
// the version (and epoch) the node holds and answers "unchanged" instead
// of HGETALL. Reading a chat room's whole state (its 50-message history)
// for every message was the largest part of a chat message's cost in
// Redis.
//
// The state at a version is exactly what the commits up to that version
// wrote (the version moves with every commit that has ops or durable
// events, and nothing else writes state), so an entry is only ever
// updated from a commit whose version before matches it, and replaced
// when a snapshot shows another version or epoch. The maps handed out are
// read-only (core.Snapshot); a commit copies before applying its ops.
// Everything is dropped when Redis fails (a failover to a replica that
// lagged may take the version back and reach it again with other
// content) and a room's entry when its subscription ends.
//
// For a frame with an id the cache also answers the snapshot itself, with
// no round trip (current; core.Snapshot.Cached), when the room's entry is
// at least as new as every event the node's subscription has seen: the
// entry's seq is the room's seq as of its version, and a durable event
// of another node that this node has seen but not read moves the
// subscription's position past it. What the cache cannot see — another
// node's commit with state ops and no durable event, or one whose event
// is still on its way — makes the commit a version conflict (the router
// checks the version of every commit decided on a cached snapshot): the
// entry is dropped and the retry reads Redis. A room's commits are
// serialised on a node, so half of a chat message's round trips — the
// snapshot before the plugin — go, and with them half of the time a
// room is held per message.
type stateCache struct {
	mu    sync.Mutex
	rooms map[string]*roomState
}

// roomState is one room's cached state: namespace → key → value, valid at
// version ver of epoch.
type roomState struct {
	epoch string
	ver   uint64
	seq   uint64 // the room's seq as of ver
	ns    map[string]map[string][]byte
}

func newStateCache() *stateCache { return &stateCache{rooms: map[string]*roomState{}} }

// lookup returns the version and epoch the cache holds room at and which
// of namespaces it has (nil when it has none).
func (c *stateCache) lookup(room string, namespaces []string) (ver uint64, epoch string, have []map[string][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := c.rooms[room]
	if rs == nil {
		return 0, "", nil
	}
	have = make([]map[string][]byte, len(namespaces))
	for i, ns := range namespaces {
		have[i] = rs.ns[ns]
	}
	return rs.ver, rs.epoch, have
}

// fill records namespace ns of room as read at version ver (seq seq) of
// epoch; an entry of another version or epoch is replaced.
func (c *stateCache) fill(room, epoch string, ver, seq uint64, ns string, m map[string][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := c.rooms[room]
	if rs == nil || rs.ver != ver || rs.epoch != epoch {
		rs = &roomState{epoch: epoch, ver: ver, ns: map[string]map[string][]byte{}}
		c.rooms[room] = rs
	}
	rs.seq = max(rs.seq, seq)
	rs.ns[ns] = m
}

// current returns room's snapshot from the cache (Cached) when the entry
// holds every namespace and is as new as what the room's subscription has
// seen (busSeq of busEpoch).
func (c *stateCache) current(room string, namespaces []string, busSeq uint64, busEpoch string) (core.Snapshot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := c.rooms[room]
	if rs == nil || rs.epoch == "" || rs.epoch != busEpoch || busSeq > rs.seq {
		return core.Snapshot{}, false
	}
	snap := core.Snapshot{Seq: rs.seq, Version: rs.ver, Epoch: rs.epoch, Cached: true,
		State: make(map[string]map[string][]byte, len(namespaces))}
	for _, ns := range namespaces {
		m, ok := rs.ns[ns]
		if !ok {
			return core.Snapshot{}, false
		}
		snap.State[ns] = m
	}
	return snap, true
}

// committed moves room's entry along a commit that found the room at
// version before of epoch and left it at after, with seq seq, applying
// ops to ns; an entry at another version is dropped.
func (c *stateCache) committed(room, epoch string, before, after, seq uint64, ns string, ops []core.StateOp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := c.rooms[room]
	if rs == nil {
		return
	}
	if rs.ver != before || rs.epoch != epoch {
		delete(c.rooms, room)
		return
	}
	rs.ver, rs.seq = after, seq
	if len(ops) == 0 {
		return
	}
	old, ok := rs.ns[ns]
	if !ok {
		return // not cached: nothing to update
	}
	m := maps.Clone(old) // the old map may still be read by a snapshot
	if m == nil {
		m = map[string][]byte{}
	}
	for _, op := range ops {
		switch op.Op {
		case core.OpSet:
			m[op.Key] = append([]byte(nil), op.Value...)
		case core.OpDel:
			delete(m, op.Key)
		case core.OpClear:
			clear(m)
		}
	}
	rs.ns[ns] = m
}

// drop forgets room.
func (c *stateCache) drop(room string) {
	c.mu.Lock()
	delete(c.rooms, room)
	c.mu.Unlock()
}

// reset forgets every room.
func (c *stateCache) reset() {
	c.mu.Lock()
	clear(c.rooms)
	c.mu.Unlock()
}
