package awsapigw

import (
	"context"
	"errors"
	"sync"

	"github.com/classgate/classgate/core"
)

// batch is the delivery state of one invocation: a FIFO lane per
// connection, posted by at most Workers goroutines at once.
type batch struct {
	s        *Sender
	ctx      context.Context
	endpoint string
	// caller is the invoking connection: its lane is posted last.
	caller core.ConnID
	// discard drops everything (during $connect nothing can be posted).
	discard bool

	mu      sync.Mutex
	lanes   map[core.ConnID]*lane
	ready   []*lane
	running int
	peak    int // most workers running at once
	wg      sync.WaitGroup
	gone    []core.ConnID
	dropped int
}

// lane is one connection's queue within a batch.
type lane struct {
	id     core.ConnID
	ops    []op
	active bool // queued in ready or being posted
	dead   bool // API Gateway answered 410
}

// op is one frame to post, or a close (DeleteConnection).
type op struct {
	frame  []byte
	close  bool
	code   int
	reason string
}

type batchKey struct{}

func batchFrom(ctx context.Context) *batch {
	b, _ := ctx.Value(batchKey{}).(*batch)
	return b
}

// begin starts the delivery batch of one invocation.
func (s *Sender) begin(ctx context.Context, endpoint string, caller core.ConnID, discard bool) (context.Context, *batch) {
	b := &batch{s: s, ctx: ctx, endpoint: endpoint, caller: caller, discard: discard, lanes: map[core.ConnID]*lane{}}
	return context.WithValue(ctx, batchKey{}, b), b
}

// enqueue adds o to id's lane and starts a worker when one is free.
func (b *batch) enqueue(id core.ConnID, o op) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.discard {
		b.dropped++
		return nil
	}
	l := b.lanes[id]
	if l == nil {
		l = &lane{id: id}
		b.lanes[id] = l
	}
	if l.dead {
		return errGone
	}
	l.ops = append(l.ops, o)
	if !l.active && id != b.caller {
		b.scheduleLocked(l)
	}
	return nil
}

// scheduleLocked queues l and starts a worker if fewer than Workers run.
func (b *batch) scheduleLocked(l *lane) {
	l.active = true
	b.ready = append(b.ready, l)
	if b.running < b.s.o.Workers {
		b.running++
		b.peak = max(b.peak, b.running)
		b.wg.Add(1)
		go b.work()
	}
}

// work posts ready lanes until none is left.
func (b *batch) work() {
	defer b.wg.Done()
	ctx := b.ctx
	b.mu.Lock()
	for len(b.ready) > 0 {
		l := b.ready[0]
		b.ready[0] = nil
		b.ready = b.ready[1:]
		for len(l.ops) > 0 && !l.dead {
			o := l.ops[0]
			l.ops[0] = op{}
			l.ops = l.ops[1:]
			b.mu.Unlock()
			var err error
			if o.close {
				err = b.s.del(ctx, b.endpoint, l.id, o.code, o.reason)
			} else {
				err = b.s.post(ctx, b.endpoint, l.id, o.frame)
			}
			b.mu.Lock()
			if errors.Is(err, errGone) {
				l.dead = true
				l.ops = nil
				b.gone = append(b.gone, l.id)
			} else if err != nil {
				b.s.log.Warn("delivery failed", "conn", l.id, "err", err)
			}
		}
		l.active = false
	}
	b.running--
	b.mu.Unlock()
}

// flush posts everything enqueued so far — every other connection first,
// then the caller's lane — and returns the connections found gone since
// the last flush.
func (b *batch) flush() []core.ConnID {
	b.wg.Wait()
	b.mu.Lock()
	if l := b.lanes[b.caller]; l != nil && len(l.ops) > 0 && !l.active {
		b.scheduleLocked(l)
	}
	b.mu.Unlock()
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	gone := b.gone
	b.gone = nil
	return gone
}
