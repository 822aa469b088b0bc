package main

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/classgate/classgate/internal/uring"
)

// poller reads the connections attached to it through one epoll instance,
// level-triggered: each readiness gets one read of up to 64 KiB (16 KiB
// with io_uring), the whole frames in it are handled in place, and a
// partial frame waits in the connection's buffer for the next read.
// Where io_uring is available, the reads of one epoll round are submitted
// together (one kernel entry for up to 64 sockets instead of one each):
// loadgen shares the machine with the gateway it measures, so its own
// cost is kept small.
type poller struct {
	epfd    int
	stopped atomic.Bool
	done    chan struct{}

	mu    sync.RWMutex
	conns map[int]*wsConn
}

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	p := &poller{epfd: epfd, done: make(chan struct{}), conns: map[int]*wsConn{}}
	go p.run()
	return p, nil
}

// attach hands c (already detached from Go's poller, see detach) to p.
func (p *poller) attach(c *wsConn) error {
	c.mu.Lock()
	fd := c.fd
	c.p = p
	c.mu.Unlock()
	p.mu.Lock()
	p.conns[fd] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.conns, fd)
		p.mu.Unlock()
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	return nil
}

// remove forgets fd; called before it is closed.
func (p *poller) remove(fd int) {
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	p.mu.Lock()
	delete(p.conns, fd)
	p.mu.Unlock()
}

// pollInterval is how long a poller sleeps when it found little to do.
// It never blocks in epoll_wait: a thread waiting there has to be woken
// by every frame the gateway sends, and on a shared machine those wake-ups
// cost the gateway (the sender pays for them) far more than the reads.
// Sleeping batches them; the price is up to about a millisecond (Go's
// timer resolution) added to the measured latency, which only ever makes
// the gateway look slower.
const pollInterval = 500 * time.Microsecond

func (p *poller) run() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	scratch := make([]byte, 64<<10)
	ring, err := uring.New(batchReads)
	if err == nil {
		defer ring.Close()
	}
	b := &readBatch{ring: ring}
	for !p.stopped.Load() {
		n, err := syscall.EpollWait(p.epfd, events, 0)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return
		}
		for i := 0; i < n; i++ {
			p.mu.RLock()
			c := p.conns[int(events[i].Fd)]
			p.mu.RUnlock()
			switch {
			case c == nil:
			case ring == nil || ring.Broken():
				c.readable(scratch)
			default:
				b.add(c)
				if len(b.conns) == batchReads {
					b.run()
				}
			}
		}
		b.run()
		if n < len(events)/4 {
			time.Sleep(pollInterval)
		}
	}
}

// stop ends the poller after the connections have ended.
func (p *poller) stop() {
	p.stopped.Store(true)
	<-p.done
	syscall.Close(p.epfd)
}

// readable reads what the socket has and handles it.
func (c *wsConn) readable(scratch []byte) {
	if c.ended.Load() {
		return
	}
	n, err := syscall.Read(c.fd, scratch)
	c.received(scratch, n, err)
}

// received handles the result of one read of c's socket into scratch.
func (c *wsConn) received(scratch []byte, n int, err error) {
	if c.ended.Load() {
		return
	}
	switch {
	case n > 0:
		data := scratch[:n]
		if len(c.rbuf) > 0 {
			c.rbuf = append(c.rbuf, data...)
			data = c.rbuf
		}
		rest, ok := c.consume(data)
		if !ok {
			return
		}
		c.rbuf = append(c.rbuf[:0], rest...)
	case n == 0 && err == nil:
		c.end(&closeError{err: errors.New("connection closed without a close frame")})
	case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR):
	default:
		c.end(&closeError{err: fmt.Errorf("read: %w", err)})
	}
}

// batchReads is the most reads submitted at once.
const batchReads = 64

// readBatch is one round's reads, submitted together with io_uring.
type readBatch struct {
	ring  *uring.Ring
	conns []*wsConn
	ops   []uring.Op
	bufs  [batchReads][16 << 10]byte
}

func (b *readBatch) add(c *wsConn) {
	if c.ended.Load() {
		return
	}
	i := len(b.conns)
	b.conns = append(b.conns, c)
	b.ops = append(b.ops, uring.Op{FD: c.fd, Buf: b.bufs[i][:], Recv: true})
}

// run submits the reads added and handles what each returned. If the
// ring fails, the connections are read one by one instead.
func (b *readBatch) run() {
	if len(b.conns) == 0 {
		return
	}
	if err := b.ring.Do(b.ops); err != nil {
		for _, c := range b.conns {
			c.readable(b.bufs[0][:])
		}
	} else {
		for i, c := range b.conns {
			c.received(b.ops[i].Buf, b.ops[i].N, b.ops[i].Err)
		}
	}
	clear(b.conns)
	b.conns, b.ops = b.conns[:0], b.ops[:0]
}
