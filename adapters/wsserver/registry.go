package wsserver

import (
	"sync"

	"github.com/classgate/classgate/core"
)

// registry maps connection ids to connections. It is read on every
// delivery, so it is split into shards, each a plain map under its own
// read-write lock, picked by the last byte of the id (ids are random, see
// NewConnID). A sync.Map costs several times more per lookup here:
// interface hashing and a deep trie walk on every delivered frame.
type registry struct {
	shards [64]struct {
		mu sync.RWMutex
		m  map[core.ConnID]*conn
	}
}

func (r *registry) shard(id core.ConnID) int {
	if id == "" {
		return 0
	}
	return int(id[len(id)-1]) % len(r.shards)
}

func (r *registry) get(id core.ConnID) *conn {
	sh := &r.shards[r.shard(id)]
	sh.mu.RLock()
	c := sh.m[id]
	sh.mu.RUnlock()
	return c
}

func (r *registry) put(c *conn) {
	sh := &r.shards[r.shard(c.id)]
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[core.ConnID]*conn)
	}
	sh.m[c.id] = c
	sh.mu.Unlock()
}

// remove deletes c, unless its id now names another connection.
func (r *registry) remove(c *conn) {
	sh := &r.shards[r.shard(c.id)]
	sh.mu.Lock()
	if sh.m[c.id] == c {
		delete(sh.m, c.id)
	}
	sh.mu.Unlock()
}

// all returns a snapshot of every connection.
func (r *registry) all() []*conn {
	var out []*conn
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for _, c := range sh.m {
			out = append(out, c)
		}
		sh.mu.RUnlock()
	}
	return out
}
