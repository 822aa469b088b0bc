package wsserver

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Write batching. coder/websocket flushes every message to the socket, one
// write(2) per frame. Under load that syscall dominates the gateway's CPU.
// The server therefore hands the library a net.Conn it can "cork": while
// the writer goroutine drains a connection's queue, frames accumulate in
// memory and leave in one write when the queue is empty. An idle or lightly
// loaded connection still gets each frame at once (a batch of one); a busy
// one gets fewer, larger writes — batching grows exactly when it is needed.

// corkConn is a net.Conn whose writes can be held back and sent together.
// All writes, corked or not, are serialised by mu, so bytes leave in the
// order the library produced them.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
	// pre holds bytes the HTTP server had read past the handshake; Read
	// returns them first. Read is only called by the connection's reader.
	pre []byte
}

func (c *corkConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		if len(c.pre) == 0 {
			c.pre = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// cork starts holding writes back.
func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	if c.buf == nil {
		c.buf = (*corkBufs.Get().(*[]byte))[:0]
	}
	c.mu.Unlock()
}

// uncork sends what was held back in one write, bounded by timeout, and
// stops holding writes back.
func (c *corkConn) uncork(timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	buf := c.buf
	c.buf = nil
	if buf == nil {
		return nil
	}
	defer func() {
		if cap(buf) <= 256<<10 {
			buf = buf[:0]
			corkBufs.Put(&buf)
		}
	}()
	if len(buf) == 0 {
		return nil
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.Conn.Write(buf)
	_ = c.Conn.SetWriteDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("wsserver: write batch of %d bytes: %w", len(buf), err)
	}
	return nil
}

// corkWriter wraps the handshake's ResponseWriter so that the hijacked
// connection the WebSocket library writes to is a corkConn.
type corkWriter struct {
	http.ResponseWriter
	conn *corkConn
}

func (w *corkWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("wsserver: %T cannot hijack", w.ResponseWriter)
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &corkConn{Conn: nc}
	// Smaller buffers than the HTTP server's 4 KiB ones: every idle
	// connection keeps them. Bytes the server already buffered are handed
	// over through corkConn.Read.
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		w.conn.pre = append([]byte(nil), b...)
	}
	rw := bufio.NewReadWriter(bufio.NewReaderSize(w.conn, readBuf), bufio.NewWriterSize(w.conn, writeBuf))
	return w.conn, rw, nil
}

// Per-connection buffer sizes. Frames larger than a buffer pass through
// it in pieces; outbound bytes go to the cork buffer anyway.
const (
	readBuf  = 1024
	writeBuf = 512
)
