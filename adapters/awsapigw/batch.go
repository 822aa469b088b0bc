package awsapigw

import (
	"context"
	"errors"
	"sync"

	"github.com/classgate/classgate/core"
)

// batch is the delivery state of one invocation: its frames in stages
// (see stage), posted stage after stage, each stage's connections in
// parallel by at most Workers goroutines, each connection's frames in
// order.
type batch struct {
	s        *Sender
	ctx      context.Context
	endpoint string
	// discard drops everything (during $connect nothing can be posted).
	discard bool

	mu      sync.Mutex
	stages  []*stage
	posted  int      // stages[:posted] are done
	open    []*stage // windows opened by the Sequencer calls, innermost last
	dead    map[core.ConnID]bool
	ready   []*lane
	running int
	peak    int // most workers running at once
	wg      sync.WaitGroup
	gone    []core.ConnID
	dropped int
}

// stage is one delivery of a room that must keep its place in the room's
// order (a join's own frames, a commit's fan-out), or plain frames (room
// ""): everything the router sent outside such a window follows the
// stage before it.
type stage struct {
	kind  stageKind
	room  string
	first uint64 // publish: the commit's durable events first..last
	last  uint64
	epoch string
	// joiner and joinSeq: the joining connection and its joined seq.
	joiner  core.ConnID
	joinSeq uint64
	// held is the room's turn, taken by JoinBegin (a join) or at flush
	// (a publish).
	held *turn

	lanes map[core.ConnID]*lane
	order []*lane // lanes in the order they were opened
	// count is, per connection, how many durable frames of this publish
	// it was sent so far: its k-th is the event first+k.
	count map[core.ConnID]uint64
}

type stageKind int

const (
	plainStage stageKind = iota
	joinStage
	publishStage
)

// lane is one connection's queue within a stage.
type lane struct {
	st  *stage
	id  core.ConnID
	ops []op
}

// op is one frame to post, or a close (DeleteConnection).
type op struct {
	frame  []byte
	seq    uint64 // the durable event's seq (publish stages), else 0
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
	b := &batch{s: s, ctx: ctx, endpoint: endpoint, discard: discard, dead: map[core.ConnID]bool{}}
	return context.WithValue(ctx, batchKey{}, b), b
}

func newStage(kind stageKind, room string) *stage {
	return &stage{kind: kind, room: room, lanes: map[core.ConnID]*lane{}, count: map[core.ConnID]uint64{}}
}

// current is the stage a frame sent now belongs to: the innermost open
// window, else the last stage (a new plain one if it was posted already).
func (b *batch) currentLocked() *stage {
	if n := len(b.open); n > 0 {
		return b.open[n-1]
	}
	if n := len(b.stages); n > b.posted {
		return b.stages[n-1]
	}
	st := newStage(plainStage, "")
	b.stages = append(b.stages, st)
	return st
}

// enqueue adds o to id's lane in the current stage.
func (b *batch) enqueue(id core.ConnID, o op) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.discard {
		b.dropped++
		return nil
	}
	if b.dead[id] {
		return errGone
	}
	st := b.currentLocked()
	if st.kind == publishStage && !o.close {
		if k := st.count[id]; st.first+k <= st.last {
			o.seq = st.first + k
			st.count[id] = k + 1
		}
	}
	l := st.lanes[id]
	if l == nil {
		l = &lane{st: st, id: id}
		st.lanes[id] = l
		st.order = append(st.order, l)
	}
	l.ops = append(l.ops, o)
	return nil
}

// openStage starts a window (a Sequencer Begin).
func (b *batch) openStage(st *stage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stages = append(b.stages, st)
	b.open = append(b.open, st)
}

// closeStage ends the innermost window of kind in room (a Sequencer End)
// and returns it.
func (b *batch) closeStage(kind stageKind, room string) *stage {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.open) - 1; i >= 0; i-- {
		if st := b.open[i]; st.kind == kind && st.room == room {
			b.open = append(b.open[:i], b.open[i+1:]...)
			return st
		}
	}
	return nil
}

// post posts one stage: its lanes in parallel, Workers at most, and
// waits for them. skip(id, seq) drops a durable frame a connection must
// not get (it joined at or after seq).
func (b *batch) post(st *stage, skip func(core.ConnID, uint64) bool) {
	b.mu.Lock()
	b.ready = b.ready[:0]
	for _, l := range st.order {
		if len(l.ops) > 0 {
			b.ready = append(b.ready, l)
		}
	}
	for b.running < b.s.o.Workers && b.running < len(b.ready) {
		b.running++
		b.peak = max(b.peak, b.running)
		b.wg.Add(1)
		go b.work(skip)
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// work posts ready lanes until none is left.
func (b *batch) work(skip func(core.ConnID, uint64) bool) {
	defer b.wg.Done()
	ctx := b.ctx
	b.mu.Lock()
	for len(b.ready) > 0 {
		l := b.ready[0]
		b.ready[0] = nil
		b.ready = b.ready[1:]
		for len(l.ops) > 0 && !b.dead[l.id] {
			o := l.ops[0]
			l.ops[0] = op{}
			l.ops = l.ops[1:]
			if o.seq != 0 && skip != nil && skip(l.id, o.seq) {
				continue
			}
			b.mu.Unlock()
			var err error
			if o.close {
				err = b.s.del(ctx, b.endpoint, l.id, o.code, o.reason)
			} else {
				err = b.s.post(ctx, b.endpoint, l.id, o.frame)
			}
			if errors.Is(err, errSlow) {
				// A member that cannot take a frame within PostTimeout is
				// closed as a slow consumer (the standalone server's 4008):
				// it re-joins with since and catches up from the history,
				// and the room's next deliveries do not wait for it.
				_ = b.s.del(ctx, b.endpoint, l.id, core.CloseSlowConsumer, "slow consumer")
			}
			b.mu.Lock()
			if errors.Is(err, errGone) || errors.Is(err, errSlow) {
				b.dead[l.id] = true
				l.ops = nil
				b.gone = append(b.gone, l.id)
			} else if err != nil {
				b.s.log.Warn("delivery failed", "conn", l.id, "err", err)
			}
		}
	}
	b.running--
	b.mu.Unlock()
}

// flush posts every stage enqueued so far, in order — a room's stages
// when it is their turn in the room (Sender.order) — and returns the
// connections found gone (or closed as slow) since the last flush.
func (b *batch) flush() []core.ConnID {
	for {
		b.mu.Lock()
		if b.posted >= len(b.stages) || (len(b.open) > 0 && b.stages[b.posted] == b.open[0]) {
			// Everything posted, or the next stage is a window still
			// open (only at a panic's unwinding): stop.
			gone := b.gone
			b.gone = nil
			b.mu.Unlock()
			return gone
		}
		st := b.stages[b.posted]
		b.posted++
		b.mu.Unlock()
		b.s.postStage(b, st)
	}
}
