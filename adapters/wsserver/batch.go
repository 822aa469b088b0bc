package wsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/internal/uring"
)

// Room fan-out. The router hands the server one frame for all of a room's
// members on this node (core.BatchSender). Members whose output is free
// get it in one batch of non-blocking writes run by a uring.Batcher: an
// io_uring ring (one kernel entry for the lot) where one is free, else
// uring.Syscalls (one write(2) each, as Send's fast path). The others
// are queued behind the write in progress. Everything after the write
// (unsent bytes, failures) is handled as for Send.
//
// A descriptor is only valid while Go's poller cannot close it, so each
// member's write runs inside its own RawConn.Write callback, nested: the
// innermost callback submits the batch while every descriptor in it is
// held. Members whose connection closed meanwhile are left out.
//
// The ring never costs a healthy client its connection. A send's result
// that is the socket's own (bytes taken, EAGAIN, the peer gone: see
// socketResult) is handled exactly as write(2)'s. Anything else — the
// submission failed (a seccomp profile, a kernel short of resources) or a
// send completed with an error that is not the socket's (EINVAL, ENOMEM,
// ECANCELED…) — is a ring fault: that member's bytes are written with a
// plain write(2) instead, still in the same order, and the ring is
// dropped if it failed. After ringFaultLimit batches in a row with a
// fault, io_uring is switched off for the server with one log line, and
// fan-out writes one socket at a time from then on.

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
	b := batches.Get().(*batch)
	b.w = uring.Syscalls{}
	if ring := s.rings.get(); ring != nil {
		b.ring = ringBatcher{ring: ring, do: s.ringDo}
		b.w = &b.ring
	}
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
		if !c.out.pending() { // closed meanwhile: nothing to write
			c.out.mu.Unlock()
			s.wrote(c, nil)
			continue
		}
		b.conns = append(b.conns, c)
		b.ops = append(b.ops, uring.Op{FD: -1, Buf: c.out.w.Buffered()})
		b.errs = append(b.errs, nil)
	}
	if len(b.conns) > 0 {
		b.from(0)
	}
	ring := b.ring.ring
	if ring != nil {
		s.rings.put(ring)
	}
	var fault error
	for i, c := range b.conns {
		err := b.errs[i]
		if err == nil {
			op := b.ops[i]
			if ring == nil || socketResult(op.Err) {
				_, err = c.out.settle(op.N, op.Err)
			} else {
				// Not the socket's doing: nothing was written (a send
				// completes whole or fails whole), so buf is intact and
				// goes out with write(2) as Send's fast path would.
				if fault == nil {
					fault = fmt.Errorf("conn %s: %w", c.id, op.Err)
				}
				_, err = c.out.tryFlush()
			}
		}
		c.out.mu.Unlock()
		s.wrote(c, err)
	}
	if fault != nil {
		s.log.Debug("io_uring fault: members written with write(2)", "err", fault)
	}
	if ring != nil && len(b.conns) > 0 {
		s.rings.result(fault)
	}
	b.reset()
	batches.Put(b)
}

// socketResult reports whether err, a send's result, is the socket's own
// — what a non-blocking write(2) on it could have returned: none, a full
// buffer, or the connection gone — rather than a fault of the ring.
func socketResult(err error) bool {
	if err == nil {
		return true
	}
	for _, e := range []error{syscall.EAGAIN, syscall.EINTR, syscall.EPIPE, syscall.ECONNRESET, syscall.ENOTCONN,
		syscall.ECONNABORTED, syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN, syscall.ESHUTDOWN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
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
	w     uring.Batcher // &ring, or uring.Syscalls
	ring  ringBatcher
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

// submit runs the batch. When the ring fails (not a socket), every op
// without a result carries the ring's error, which socketResult does not
// take for the socket's: those members are written with write(2), and put
// drops the broken ring.
func (b *batch) submit() {
	_ = b.w.Do(b.ops)
}

func (b *batch) reset() {
	clear(b.conns)
	clear(b.ops)
	clear(b.errs)
	b.conns, b.ops, b.errs, b.ring, b.w = b.conns[:0], b.ops[:0], b.errs[:0], ringBatcher{}, nil
}

// ringBatcher is a ring as a uring.Batcher, through the server's ringDo
// ((*uring.Ring).Do, or a test's failing stand-in).
type ringBatcher struct {
	ring *uring.Ring
	do   func(*uring.Ring, []uring.Op) error
}

func (r *ringBatcher) Do(ops []uring.Op) error { return r.do(r.ring, ops) }

// ringPool lends io_uring rings to concurrent fan-outs. It starts with a
// few and makes more when all are lent (a goroutine the OS preempts keeps
// its ring meanwhile), up to a bound; a fan-out that finds none free and
// the bound reached writes its members one by one instead of waiting.
type ringPool struct {
	free    chan *uring.Ring
	log     *slog.Logger
	mu      sync.Mutex
	closed  bool
	created int
	faults  int // batches in a row with a ring fault

	disabled atomic.Bool // switched off after ringFaultLimit faults
}

// ringFaultLimit is how many batches in a row may hit a ring fault (each
// one still delivered with write(2)) before io_uring is switched off.
const ringFaultLimit = 3

// ringsMax bounds the rings of one server (each is a descriptor and
// about 12 KiB of kernel-shared memory).
const ringsMax = 64

// newRingPool makes n rings; it returns nil, and the reason, when
// io_uring cannot be used here.
func newRingPool(n int, log *slog.Logger) (*ringPool, error) {
	p := &ringPool{free: make(chan *uring.Ring, ringsMax), log: log}
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
	if !p.enabled() {
		return nil
	}
	select {
	case r := <-p.free:
		return r
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.disabled.Load() || p.created >= ringsMax {
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
	if p.closed || p.disabled.Load() || r.Broken() {
		r.Close()
		p.created--
		return
	}
	p.free <- r
}

// enabled reports whether fan-out may use the pool's rings.
func (p *ringPool) enabled() bool { return p != nil && !p.disabled.Load() }

// result records whether a batch hit a ring fault (nil: it did not). The
// ringFaultLimit-th fault in a row switches io_uring off, with one log
// line, and releases the idle rings.
func (p *ringPool) result(fault error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if fault == nil {
		p.faults = 0
		return
	}
	p.faults++
	if p.faults < ringFaultLimit || p.disabled.Load() {
		return
	}
	p.disabled.Store(true)
	p.log.Warn("io_uring disabled after repeated failures: room fan-out writes one socket at a time",
		"failures", p.faults, "err", fault)
	p.releaseIdle()
}

// close releases the idle rings; rings in use are released when put back.
func (p *ringPool) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.releaseIdle()
}

// releaseIdle closes the rings not lent. mu must be held.
func (p *ringPool) releaseIdle() {
	for {
		select {
		case r := <-p.free:
			r.Close()
			p.created--
		default:
			return
		}
	}
}
