package host

import (
	"context"
	"fmt"
	"sync"
)

// pool holds up to size instances of one plugin version, each bound to at
// most one room: the isolation contract of ABI.md §2. An instance that has
// served a call for room R serves only R's calls until it is reset or
// discarded. A call for a room with no idle instance of its own takes, in
// order of preference:
//
//   - a fresh idle instance (one that has served no call);
//   - an idle instance whose room has emptied, reset;
//   - with snapshots (snapshot.go), the least recently used idle instance of
//     another room, reset (~0.2 ms), while a new instance is created in the
//     background if the pool is not full, so the call never waits for an
//     instantiation (~5 ms) that a reset can replace;
//   - a new instance, while the pool is not full;
//   - the least recently used idle instance of another room, reset or, when
//     that cannot be done, replaced by a new instance (BenchmarkRoomSwitch);
//
// else it waits for a busy instance to come back. Waiters queue in arrival
// order and a returned instance or freed slot wakes one of them (the one
// waiting for the returned instance's room, if any, else the first): waking
// every waiter on every return put them all on the Go scheduler's run queue
// to find one instance, and under load that herd, not the calls, was the
// plugin path's wait (go tool trace's scheduler-latency profile).
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
	waiters []*waiter // in arrival order; each is woken once (signal)

	bg sync.WaitGroup // background growth (see get)
}

func newPool(size int, create func(ctx context.Context, epoch uint64) (*instance, error)) *pool {
	return &pool{size: size, newInstance: create}
}

// waiter is a call waiting for an instance of the pool for room.
type waiter struct {
	room string
	wake chan struct{} // buffered 1: signal never blocks
}

// get borrows an instance for a call in room: one bound to room, or a fresh
// one. It waits until ctx is done when every instance is busy.
func (p *pool) get(ctx context.Context, room string) (*instance, error) {
	woken := false
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
		victim := -1
		for i, in := range p.idle {
			if in.ended { // its room emptied: the first to reuse
				victim = i
				break
			}
		}
		if victim < 0 && len(p.idle) > 0 && p.reset != nil {
			// Resetting the least recently used room's instance is much
			// cheaper than instantiating; grow in the background instead,
			// so the call does not wait for a new instance.
			victim = 0
			if p.live < p.size {
				p.live++
				p.bg.Add(1)
				go p.grow(epoch)
			}
		}
		if victim < 0 && p.live < p.size {
			p.live++
			p.mu.Unlock()
			return p.create(ctx, epoch)
		}
		if victim < 0 && len(p.idle) > 0 {
			victim = 0 // the least recently used room's
		}
		if victim >= 0 { // reset it, or replace it
			in := p.removeIdle(victim)
			p.mu.Unlock()
			if p.reset != nil && p.reset(in) {
				return in, nil
			}
			in.close()
			return p.create(ctx, epoch)
		}
		w := &waiter{room: room, wake: make(chan struct{}, 1)}
		if woken {
			// Woken but beaten to it by a call that did not wait: keep
			// the place at the head of the queue.
			p.waiters = append([]*waiter{w}, p.waiters...)
		} else {
			p.waiters = append(p.waiters, w)
		}
		p.mu.Unlock()
		select {
		case <-w.wake:
			woken = true
		case <-ctx.Done():
			p.giveUp(w)
			return nil, fmt.Errorf("waiting for a free instance: %w", ctx.Err())
		}
	}
}

// giveUp takes w out of the queue. A waiter woken as it gave up passes the
// wake-up on, or an idle instance would sit unused while others wait.
func (p *pool) giveUp(w *waiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return
		}
	}
	p.signal("")
}

// takeIdle removes and returns the idle instance bound to room, else a
// fresh idle one, else nil; an instance whose room has ended matches none.
// p.mu is held.
func (p *pool) takeIdle(room string) *instance {
	fresh := -1
	for i := len(p.idle) - 1; i >= 0; i-- {
		switch in := p.idle[i]; {
		case in.ended:
		case in.room == room:
			return p.removeIdle(i)
		case in.room == "":
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

// grow creates a fresh idle instance in a slot already counted in p.live,
// in the background.
func (p *pool) grow(epoch uint64) {
	defer p.bg.Done()
	in, err := p.create(context.Background(), epoch)
	if err == nil {
		p.put(in)
	}
}

// create makes a fresh instance in a slot already counted in p.live.
func (p *pool) create(ctx context.Context, epoch uint64) (*instance, error) {
	in, err := p.newInstance(ctx, epoch)
	if err != nil {
		p.mu.Lock()
		p.live--
		p.signal("")
		p.mu.Unlock()
		return nil, err
	}
	return in, nil
}

// signal wakes one waiter: the first waiting for room (whose instance
// was just returned, so it runs without a reset), else the first in the
// queue. p.mu is held.
func (p *pool) signal(room string) {
	if len(p.waiters) == 0 {
		return
	}
	i := 0
	if room != "" {
		for j, w := range p.waiters {
			if w.room == room {
				i = j
				break
			}
		}
	}
	w := p.waiters[i]
	p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
	w.wake <- struct{}{}
}

// wakeAll wakes every waiter (the pool closed). p.mu is held.
func (p *pool) wakeAll() {
	for _, w := range p.waiters {
		w.wake <- struct{}{}
	}
	p.waiters = nil
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
	p.signal(in.room)
	p.mu.Unlock()
}

// discard closes an instance and frees its slot.
func (p *pool) discard(in *instance) {
	in.close()
	p.mu.Lock()
	p.live--
	p.signal("")
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

// close closes idle instances now and busy ones when they are returned,
// after any background growth is done.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.wakeAll()
	p.mu.Unlock()
	p.bg.Wait()
	p.drain()
}

// idleInstances returns the idle instances, for tests and benchmarks.
func (p *pool) idleInstances() []*instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*instance(nil), p.idle...)
}
