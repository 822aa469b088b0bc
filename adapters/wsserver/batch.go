package wsserver

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/internal/uring"
)

// Room fan-out. The router hands the server one frame for all of a room's
// members on this node (core.BatchSender). Members whose output is free
// get it in one io_uring submission, the same non-blocking write each as
// Send's fast path but one kernel entry for the lot; the others take
// Send's path (queued behind a write in progress, or written alone when
// no ring is free). Everything after the write (unsent bytes, failures)
// is handled as for Send.
//
// A descriptor is only valid while Go's poller cannot close it, so each
// member's write runs inside its own RawConn.Write callback, nested: the
// innermost callback submits the batch while every descriptor in it is
// held. Members whose connection closed meanwhile are left out.

// batchMax bounds one submission (and the nesting depth); larger rooms
// are sent in several.
const batchMax = 64

var _ core.BatchSender = (*Server)(nil)

// SendBatch implements core.BatchSender.
func (s *Server) SendBatch(ctx context.Context, ids []core.ConnID, frame []byte) {
	for len(ids) > 0 {
		n := min(len(ids), batchMax)
		s.sendBatch(ctx, ids[:n], frame)
		ids = ids[n:]
	}
}

func (s *Server) sendBatch(ctx context.Context, ids []core.ConnID, frame []byte) {
	ring := s.rings.get()
	if ring == nil {
		for _, id := range ids {
			s.sendLogged(ctx, id, frame)
		}
		return
	}
	b := batches.Get().(*batch)
	b.ring = ring
	for _, id := range ids {
		c := s.get(id)
		if c == nil || c.out.rc == nil || c.isDone() {
			s.sendLogged(ctx, id, frame)
			continue
		}
		own, err := s.claim(c, frame)
		if err != nil {
			s.log.Debug("send failed", "conn", id, "err", err)
		}
		if !own {
			continue
		}
		c.out.mu.Lock() // held until the write is settled
		c.out.appendText(frame)
		b.conns = append(b.conns, c)
		b.ops = append(b.ops, uring.Op{FD: -1, Buf: c.out.buf})
		b.errs = append(b.errs, nil)
	}
	if len(b.conns) > 0 {
		b.from(0)
	}
	s.rings.put(b.ring)
	for i, c := range b.conns {
		err := b.errs[i]
		if err == nil {
			op := b.ops[i]
			_, err = c.out.settle(op.N, op.Err)
		}
		c.out.mu.Unlock()
		s.wrote(c, err)
	}
	b.reset()
	batches.Put(b)
}

// sendLogged is Send for a fan-out, where errors are only worth a debug
// line (as the router does for its own sends).
func (s *Server) sendLogged(ctx context.Context, id core.ConnID, frame []byte) {
	if err := s.Send(ctx, id, frame); err != nil && !errors.Is(err, core.ErrNotFound) {
		s.log.Debug("send failed", "conn", id, "err", err)
	}
}

// batch is one submission being assembled; batches are pooled.
type batch struct {
	ring  *uring.Ring
	conns []*conn
	ops   []uring.Op
	errs  []error // a member's RawConn refused (closed): not written
	cur   int
	step  func(fd uintptr) bool // b.hold, made once
}

var batches = sync.Pool{New: func() any {
	b := &batch{}
	b.step = b.hold
	return b
}}

// from holds the descriptors of members i… and submits the batch once
// all are held (or refused).
func (b *batch) from(i int) {
	for ; i < len(b.conns); i++ {
		b.cur = i
		err := b.conns[i].out.rc.Write(b.step)
		if err == nil {
			return // hold ran the rest, and the submission
		}
		b.errs[i] = fmt.Errorf("wsserver: write: %w", err)
	}
	b.submit()
}

// hold is member cur's RawConn.Write callback: with its descriptor held,
// it goes on to the next member.
func (b *batch) hold(fd uintptr) bool {
	i := b.cur
	b.ops[i].FD = int(fd)
	b.from(i + 1)
	return true
}

func (b *batch) submit() {
	if err := b.ring.Do(b.ops); err != nil {
		// The ring failed (not a socket): every op without a result
		// carries that error, and put drops the ring.
		for i := range b.ops {
			if b.errs[i] == nil && b.ops[i].Err == err {
				b.errs[i] = err
			}
		}
	}
}

func (b *batch) reset() {
	clear(b.conns)
	clear(b.ops)
	clear(b.errs)
	b.conns, b.ops, b.errs, b.ring = b.conns[:0], b.ops[:0], b.errs[:0], nil
}

// ringPool lends io_uring rings to concurrent fan-outs. It starts with a
// few and makes more when all are lent (a goroutine the OS preempts keeps
// its ring meanwhile), up to a bound; a fan-out that finds none free and
// the bound reached writes its members one by one instead of waiting.
type ringPool struct {
	free    chan *uring.Ring
	mu      sync.Mutex
	closed  bool
	created int
}

// ringsMax bounds the rings of one server (each is a descriptor and
// about 12 KiB of kernel-shared memory).
const ringsMax = 64

// newRingPool makes n rings; it returns nil, and the reason, when
// io_uring cannot be used here.
func newRingPool(n int) (*ringPool, error) {
	p := &ringPool{free: make(chan *uring.Ring, ringsMax)}
	for range n {
		r, err := uring.New(batchMax)
		if err != nil {
			p.close()
			return nil, err
		}
		p.created++
		p.free <- r
	}
	return p, nil
}

func (p *ringPool) get() *uring.Ring {
	if p == nil {
		return nil
	}
	select {
	case r := <-p.free:
		return r
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.created >= ringsMax {
		return nil
	}
	r, err := uring.New(batchMax)
	if err != nil {
		return nil
	}
	p.created++
	return r
}

func (p *ringPool) put(r *uring.Ring) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || r.Broken() {
		r.Close()
		p.created--
		return
	}
	p.free <- r
}

// close releases the idle rings; rings in use are released when put back.
func (p *ringPool) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for {
		select {
		case r := <-p.free:
			r.Close()
		default:
			return
		}
	}
}
