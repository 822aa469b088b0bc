package host

import (
	"context"
	"fmt"
	"sync"
)

// pool holds up to size instances of one plugin version, each bound to at
// most one room: the isolation contract of ABI.md §2. An instance that has
// served a call for room R serves only R's calls until it is discarded; a
// call for a room with no idle instance of its own takes a fresh instance
// (one that has served no call), else creates one while the pool is not
// full, else resets the least recently used idle instance of another room
// to its state after cg_init (snapshot.go; when it cannot, it is replaced by
// a new instance: see BenchmarkRoomSwitch), else waits for a busy instance
// to come back.
//
// Instances are created on demand; an instance whose epoch is older than
// the pool's is closed instead of reused (see renew).
type pool struct {
	size        int
	newInstance func(ctx context.Context, epoch uint64) (*instance, error)
	// reset, when set, turns an idle instance of another room into a
	// fresh one in place (false: it cannot, the instance is replaced).
	reset func(*instance) bool

	mu      sync.Mutex
	idle    []*instance // least recently used first
	live    int         // instances alive or being created
	epoch   uint64
	closed  bool
	waiters int
	wake    chan struct{} // closed (and replaced) when an instance or slot frees up
}

func newPool(size int, create func(ctx context.Context, epoch uint64) (*instance, error)) *pool {
	return &pool{size: size, newInstance: create, wake: make(chan struct{})}
}

// get borrows an instance for a call in room: one bound to room, or a fresh
// one. It waits until ctx is done when every instance is busy.
func (p *pool) get(ctx context.Context, room string) (*instance, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if in := p.takeIdle(room); in != nil {
			p.mu.Unlock()
			return in, nil
		}
		epoch := p.epoch
		if p.live < p.size {
			p.live++
			p.mu.Unlock()
			return p.create(ctx, epoch)
		}
		if len(p.idle) > 0 { // reset another room's instance, or replace it
			victim := p.idle[0]
			p.idle = p.idle[1:]
			p.mu.Unlock()
			if p.reset != nil && p.reset(victim) {
				return victim, nil
			}
			victim.close()
			return p.create(ctx, epoch)
		}
		wake := p.wake
		p.waiters++
		p.mu.Unlock()
		select {
		case <-wake:
			p.mu.Lock()
			p.waiters--
			p.mu.Unlock()
		case <-ctx.Done():
			p.mu.Lock()
			p.waiters--
			p.mu.Unlock()
			return nil, fmt.Errorf("waiting for a free instance: %w", ctx.Err())
		}
	}
}

// takeIdle removes and returns the idle instance bound to room, else a
// fresh idle one, else nil. p.mu is held.
func (p *pool) takeIdle(room string) *instance {
	fresh := -1
	for i := len(p.idle) - 1; i >= 0; i-- {
		switch p.idle[i].room {
		case room:
			return p.removeIdle(i)
		case "":
			if fresh < 0 {
				fresh = i
			}
		}
	}
	if fresh >= 0 {
		return p.removeIdle(fresh)
	}
	return nil
}

func (p *pool) removeIdle(i int) *instance {
	in := p.idle[i]
	p.idle = append(p.idle[:i], p.idle[i+1:]...)
	return in
}

// create makes a fresh instance in a slot already counted in p.live.
func (p *pool) create(ctx context.Context, epoch uint64) (*instance, error) {
	in, err := p.newInstance(ctx, epoch)
	if err != nil {
		p.mu.Lock()
		p.live--
		p.signal()
		p.mu.Unlock()
		return nil, err
	}
	return in, nil
}

// signal wakes the waiters. p.mu is held.
func (p *pool) signal() {
	if p.waiters > 0 {
		close(p.wake)
		p.wake = make(chan struct{})
	}
}

// put returns a healthy instance, still bound to the room it served.
func (p *pool) put(in *instance) {
	p.mu.Lock()
	if p.closed || in.epoch != p.epoch {
		p.mu.Unlock()
		p.discard(in)
		return
	}
	p.idle = append(p.idle, in)
	p.signal()
	p.mu.Unlock()
}

// discard closes an instance and frees its slot.
func (p *pool) discard(in *instance) {
	in.close()
	p.mu.Lock()
	p.live--
	p.signal()
	p.mu.Unlock()
}

// renew makes every current instance stale: idle ones are closed now, busy
// ones when returned.
func (p *pool) renew() {
	p.mu.Lock()
	p.epoch++
	p.mu.Unlock()
	p.drain()
}

func (p *pool) drain() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, in := range idle {
		p.discard(in)
	}
}

// close closes idle instances now and busy ones when they are returned.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.drain()
}

// idleInstances returns the idle instances, for tests and benchmarks.
func (p *pool) idleInstances() []*instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*instance(nil), p.idle...)
}
