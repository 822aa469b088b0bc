package main

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// poller reads the connections attached to it through one epoll instance,
// level-triggered: each readiness gets one read(2) of up to 64 KiB, the
// whole frames in it are handled in place, and a partial frame waits in
// the connection's buffer for the next read.
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
			if c != nil {
				c.readable(scratch)
			}
		}
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
