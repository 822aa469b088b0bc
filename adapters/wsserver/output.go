package wsserver

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/classgate/classgate/internal/wsframe"
)

// The output path. Every byte the server sends after the 101 response is
// framed by internal/wsframe (a wsframe.Writer per connection); this file
// only moves those bytes to the socket. Under load the gateway's cost is
// dominated by what it spends per delivered frame, so:
//
//   - Frames go into the connection's one buffer, and the buffer is
//     written with a single non-blocking write(2) straight from the
//     goroutine that delivers the event. No goroutine is started, no
//     deadline timer is armed for a frame the socket can take at once —
//     the common case. Room fan-out writes the buffers of a whole batch
//     of members at once (batch.go).
//   - Only when the socket cannot take everything (the client is slow or
//     the kernel buffer is full) does the rest go to a writer goroutine
//     that blocks with a deadline (WriteTimeout → 4008). Frames queued
//     meanwhile are framed behind the unsent bytes, so order is kept.
//   - Control frames (pong, ping, close) are framed into the same buffer
//     by whichever goroutine sends them (the reader answering a ping, the
//     pinger, a close), behind what is waiting; nothing follows a close
//     frame (the Writer refuses it).
//
// Connections whose net.Conn has no file descriptor (not *net.TCPConn)
// never take the fast path: everything goes through the writer goroutine.

// outConn is a connection's output: its frames waiting and the socket.
type outConn struct {
	net.Conn
	rc syscall.RawConn // nil: no non-blocking writes

	mu     sync.Mutex
	w      wsframe.Writer // framed, not yet written
	failed bool           // a write failed: nothing more is written
	// sent is closed once the close frame has been written, dead once a
	// write failed (then it never will be).
	sent, dead         chan struct{}
	sentOnce, deadOnce sync.Once

	// The non-blocking write, as a method value made once (a closure per
	// write would be an allocation per delivered frame), and its results.
	rawWrite func(fd uintptr) bool
	wn       int
	werr     error
}

func newOutConn(nc net.Conn) *outConn {
	o := &outConn{Conn: nc, sent: make(chan struct{}), dead: make(chan struct{})}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			o.rc = rc
			o.rawWrite = o.writeOnce
		}
	}
	return o
}

// writeOnce is one write(2) attempt of the buffer; it never waits for the
// socket.
func (o *outConn) writeOnce(fd uintptr) bool {
	o.wn, o.werr = syscall.Write(int(fd), o.w.Buffered())
	return true
}

// appendText frames payload as one text message behind whatever is
// waiting; after the close frame it is dropped. mu must be held.
func (o *outConn) appendText(payload []byte) {
	_ = o.w.Text(payload) // wsframe.ErrClosed: nothing follows a close frame
}

// pending reports whether bytes wait to be written. mu must be held.
func (o *outConn) pending() bool { return o.w.Len() > 0 && !o.failed }

// tryFlush writes as much of the buffer as the socket takes without
// blocking and keeps the rest. done reports that nothing is left. mu must
// be held.
func (o *outConn) tryFlush() (done bool, err error) {
	if o.w.Len() == 0 {
		o.advance(0)
		return true, nil
	}
	if o.rc == nil || o.failed {
		return false, nil
	}
	if err := o.rc.Write(o.rawWrite); err != nil {
		return false, fmt.Errorf("wsserver: write: %w", err)
	}
	n, werr := o.wn, o.werr
	o.werr = nil
	return o.settle(n, werr)
}

// settle takes the result of one non-blocking write of the buffer (by
// tryFlush, or by a batch): it drops the n bytes written and keeps the
// rest. done reports that nothing is left. mu must be held.
func (o *outConn) settle(n int, werr error) (done bool, err error) {
	if werr != nil && !errors.Is(werr, syscall.EAGAIN) && !errors.Is(werr, syscall.EINTR) {
		o.fail()
		return false, fmt.Errorf("wsserver: write %d bytes: %w", o.w.Len(), werr)
	}
	o.advance(max(n, 0))
	return o.w.Len() == 0, nil
}

// advance drops n written bytes and notes when the close frame left.
func (o *outConn) advance(n int) {
	o.w.Advance(n)
	if o.w.Sent() {
		o.sentOnce.Do(func() { close(o.sent) })
	}
}

// fail notes that a write failed: nothing more is written. mu must be
// held.
func (o *outConn) fail() {
	o.failed = true
	o.deadOnce.Do(func() { close(o.dead) })
}

// flush writes all of the buffer, blocking for at most timeout. mu must
// be held.
func (o *outConn) flush(timeout time.Duration) error {
	if o.w.Len() == 0 || o.failed {
		o.advance(0)
		return nil
	}
	_ = o.Conn.SetWriteDeadline(time.Now().Add(timeout))
	n, err := o.Conn.Write(o.w.Buffered())
	_ = o.Conn.SetWriteDeadline(time.Time{})
	o.advance(n)
	if err != nil {
		o.fail()
		return fmt.Errorf("wsserver: write %d bytes: %w", o.w.Len(), err)
	}
	return nil
}
