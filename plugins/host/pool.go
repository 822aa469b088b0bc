package host

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// growAfter is how long a call waits for a busy instance before the pool
// grows. Calls take tens to hundreds of microseconds while a new instance
// costs ~10 ms of CPU and megabytes of linear memory for the rest of the
// process's life, so a burst of short calls (a classroom of joins) is
// served by the instances there are; the pool grows only when calls stay
// busy (slow or stuck plugins).
const growAfter = 2 * time.Millisecond

// pool holds up to size instances of one plugin version. Instances are
// created on demand; an instance whose epoch is older than the pool's is
// closed instead of reused (see renew).
type pool struct {
	newInstance func(ctx context.Context, epoch uint64) (*instance, error)
	idle        chan *instance
	tokens      chan struct{} // one per live (or being created) instance

	mu     sync.Mutex
	epoch  uint64
	closed bool
}

func newPool(size int, create func(ctx context.Context, epoch uint64) (*instance, error)) *pool {
	return &pool{newInstance: create, idle: make(chan *instance, size), tokens: make(chan struct{}, size)}
}

func (p *pool) current() (epoch uint64, closed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch, p.closed
}

// get borrows an instance, creating one when none is idle and the pool is
// not full, or waiting for one until ctx is done.
func (p *pool) get(ctx context.Context) (*instance, error) {
	for {
		epoch, closed := p.current()
		if closed {
			return nil, ErrClosed
		}
		in, err := p.take(ctx, epoch)
		if err != nil {
			return nil, err
		}
		if in.epoch != epoch {
			p.discard(in)
			continue
		}
		return in, nil
	}
}

// take returns an idle instance (of any epoch), or a new one of epoch when
// the pool may grow: at once while it has no instance, otherwise only after
// waiting growAfter for a busy one.
func (p *pool) take(ctx context.Context, epoch uint64) (*instance, error) {
	select {
	case in := <-p.idle:
		return in, nil
	default:
	}
	if len(p.tokens) > 0 { // every instance is busy: wait a moment
		if in, err := p.wait(ctx); in != nil || err != nil {
			return in, err
		}
	}
	select {
	case in := <-p.idle:
		return in, nil
	case p.tokens <- struct{}{}:
		in, err := p.newInstance(ctx, epoch)
		if err != nil {
			<-p.tokens
			return nil, err
		}
		return in, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a free instance: %w", ctx.Err())
	}
}

// wait waits up to growAfter for an idle instance; nil means none came.
func (p *pool) wait(ctx context.Context) (*instance, error) {
	t := time.NewTimer(growAfter)
	defer t.Stop()
	select {
	case in := <-p.idle:
		return in, nil
	case <-t.C:
		return nil, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a free instance: %w", ctx.Err())
	}
}

// put returns a healthy instance.
func (p *pool) put(in *instance) {
	epoch, closed := p.current()
	if closed || in.epoch != epoch {
		p.discard(in)
		return
	}
	p.idle <- in
}

// discard closes an instance and frees its slot.
func (p *pool) discard(in *instance) {
	in.close()
	<-p.tokens
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
	for {
		select {
		case in := <-p.idle:
			p.discard(in)
		default:
			return
		}
	}
}

// close closes idle instances now and busy ones when they are returned.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.drain()
}
