package wsserver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// The output path. Under load the gateway's cost is dominated by what it
// spends per delivered frame, so data frames bypass the WebSocket library
// on the way out:
//
//   - The server frames its own messages (a server's text frame is a 2–10
//     byte header and the payload, unmasked, RFC 6455 §5.2) into one
//     per-connection buffer, and writes the buffer with a single
//     non-blocking write(2) straight from the goroutine that delivers the
//     event. No goroutine is started, no deadline timer is armed and no
//     library lock is taken for a frame the socket can take at once —
//     the common case.
//   - Only when the socket cannot take everything (the client is slow or
//     the kernel buffer is full) does the rest go to a writer goroutine
//     that blocks with a deadline (WriteTimeout → 4008). Frames queued
//     meanwhile are framed behind the unsent bytes, so order is kept.
//   - The library still writes its own control frames (ping, pong, close)
//     through outConn.Write. Those writes never block either: bytes the
//     socket cannot take wait in the same buffer, ahead of anything framed
//     later, and the writer goroutine is started to send them. Once the
//     library has written a close frame, no data frame follows it.
//
// Connections whose net.Conn has no file descriptor (not *net.TCPConn)
// never take the fast path: everything goes through the writer goroutine.

// outConn is the hijacked connection: the library reads from it and writes
// its control frames to it; the server writes its data frames with
// appendText and flush.
type outConn struct {
	net.Conn
	rc syscall.RawConn // nil: no non-blocking writes

	// kick is called, without mu held, when a library write left bytes
	// in buf; it must make sure a writer goroutine sends them.
	kick func()

	mu        sync.Mutex
	buf       []byte  // framed, not yet written
	bufp      *[]byte // buf's pool entry, returned by release
	closeSent bool    // the library wrote a close frame: nothing may follow

	// The non-blocking write, as a method value made once (a closure per
	// write would be an allocation per delivered frame), and its results.
	rawWrite func(fd uintptr) bool
	wn       int
	werr     error

	// pre holds bytes the HTTP server had read past the handshake; Read
	// returns them first. Read is only called by the connection's reader.
	pre []byte
}

func newOutConn(nc net.Conn) *outConn {
	o := &outConn{Conn: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			o.rc = rc
			o.rawWrite = o.writeOnce
		}
	}
	return o
}

// writeOnce is one write(2) attempt of buf; it never waits for the socket.
func (o *outConn) writeOnce(fd uintptr) bool {
	o.wn, o.werr = syscall.Write(int(fd), o.buf)
	return true
}

func (o *outConn) Read(p []byte) (int, error) {
	if len(o.pre) > 0 {
		n := copy(p, o.pre)
		o.pre = o.pre[n:]
		if len(o.pre) == 0 {
			o.pre = nil
		}
		return n, nil
	}
	return o.Conn.Read(p)
}

// Write takes the library's writes: the handshake response and control
// frames, each flushed whole from the library's buffer. It never blocks:
// what the socket cannot take now is left in buf for the writer goroutine.
func (o *outConn) Write(p []byte) (int, error) {
	const opClose = 0x88 // FIN + close opcode: the first byte of a close frame
	o.mu.Lock()
	if len(p) > 0 && p[0] == opClose {
		o.closeSent = true
	}
	o.grow()
	o.buf = append(o.buf, p...)
	done, err := o.tryFlush()
	o.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if !done && o.kick != nil {
		o.kick()
	}
	return len(p), nil
}

var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// grow gives buf a pooled backing array if it has none. mu must be held.
func (o *outConn) grow() {
	if o.buf == nil {
		o.bufp = outBufs.Get().(*[]byte)
		o.buf = (*o.bufp)[:0]
	}
}

// release returns an emptied buf to the pool, so an idle connection holds
// no output buffer. mu must be held.
func (o *outConn) release() {
	if o.buf != nil && len(o.buf) == 0 {
		if cap(o.buf) <= 256<<10 {
			*o.bufp = o.buf
			outBufs.Put(o.bufp)
		}
		o.buf, o.bufp = nil, nil
	}
}

// appendText frames payload as one text message behind whatever is
// waiting. After the library sent a close frame it drops the frame and
// reports false. mu must be held.
func (o *outConn) appendText(payload []byte) bool {
	if o.closeSent {
		return false
	}
	o.grow()
	o.buf = appendFrameHeader(o.buf, 0x81, len(payload))
	o.buf = append(o.buf, payload...)
	return true
}

// appendFrameHeader appends an unmasked server frame header (RFC 6455
// §5.2) with the given first byte (FIN, opcode) and payload length.
func appendFrameHeader(b []byte, first byte, n int) []byte {
	switch {
	case n < 126:
		return append(b, first, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(b, first, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, first, 127), uint64(n))
	}
}

// pending reports whether bytes wait to be written. mu must be held.
func (o *outConn) pending() bool { return len(o.buf) > 0 }

// tryFlush writes as much of buf as the socket takes without blocking and
// keeps the rest. done reports that nothing is left. mu must be held.
func (o *outConn) tryFlush() (done bool, err error) {
	if len(o.buf) == 0 {
		o.release()
		return true, nil
	}
	if o.rc == nil {
		return false, nil
	}
	if err := o.rc.Write(o.rawWrite); err != nil {
		return false, fmt.Errorf("wsserver: write: %w", err)
	}
	n, werr := o.wn, o.werr
	o.werr = nil
	return o.settle(n, werr)
}

// settle takes the result of one non-blocking write of buf (by tryFlush,
// or by a batch): it drops the n bytes written and keeps the rest. done
// reports that nothing is left. mu must be held.
func (o *outConn) settle(n int, werr error) (done bool, err error) {
	if werr != nil && !errors.Is(werr, syscall.EAGAIN) && !errors.Is(werr, syscall.EINTR) {
		return false, fmt.Errorf("wsserver: write %d bytes: %w", len(o.buf), werr)
	}
	if n > 0 {
		o.buf = o.buf[:copy(o.buf, o.buf[n:])]
	}
	if len(o.buf) == 0 {
		o.release()
		return true, nil
	}
	return false, nil
}

// flush writes all of buf, blocking for at most timeout. mu must be held.
func (o *outConn) flush(timeout time.Duration) error {
	if len(o.buf) == 0 {
		o.release()
		return nil
	}
	_ = o.Conn.SetWriteDeadline(time.Now().Add(timeout))
	n, err := o.Conn.Write(o.buf)
	_ = o.Conn.SetWriteDeadline(time.Time{})
	if err != nil {
		o.buf = o.buf[:copy(o.buf, o.buf[n:])]
		return fmt.Errorf("wsserver: write %d bytes: %w", len(o.buf), err)
	}
	o.buf = o.buf[:0]
	o.release()
	return nil
}

// hijacker wraps the handshake's ResponseWriter so that the hijacked
// connection the WebSocket library uses is an outConn.
type hijacker struct {
	http.ResponseWriter
	conn *outConn
}

func (w *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("wsserver: %T cannot hijack", w.ResponseWriter)
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = newOutConn(nc)
	// Smaller buffers than the HTTP server's 4 KiB ones: every idle
	// connection keeps them. Bytes the server already buffered are handed
	// over through outConn.Read.
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		w.conn.pre = append([]byte(nil), b...)
	}
	rw := bufio.NewReadWriter(bufio.NewReaderSize(w.conn, readBuf), bufio.NewWriterSize(w.conn, writeBuf))
	return w.conn, rw, nil
}

// Per-connection buffer sizes. Frames larger than the read buffer pass
// through it in pieces. The write buffer only carries the library's
// control frames (at most 2+125 bytes each, so each leaves whole).
const (
	readBuf  = 512
	writeBuf = 256
)
