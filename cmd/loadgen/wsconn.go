package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Loadgen's own WebSocket client (RFC 6455, client side, no extensions).
//
// Loadgen shares the machine with the gateway it measures, so whatever it
// spends per delivered frame is taken from the gateway. With a WebSocket
// library, every frame costs a goroutine wake-up, two read(2) calls (one
// returns EAGAIN) and the library's reader machinery — about 0.9 of a core
// at 60,000 frames/s. Here the handshake and the join run on an ordinary
// net.Conn; then the socket is detached from Go's network poller and read
// by a few poller goroutines through epoll (poller_linux.go): one read(2)
// per readiness, frames parsed in place, no goroutine per connection.
// Writes (a publisher's messages, pongs, the close) go straight to the
// socket under a per-connection lock.

// WebSocket opcodes.
const (
	opCont  = 0x0
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// maxFrame bounds one server frame or message.
const maxFrame = 4 << 20

var errClosed = errors.New("connection closed")

// closeError is the end of a connection: the close code the server sent
// (0 for a transport failure) and what happened.
type closeError struct {
	code int
	err  error
}

func (e *closeError) Error() string {
	if e.code > 0 {
		return fmt.Sprintf("closed by server with %d: %v", e.code, e.err)
	}
	return e.err.Error()
}

// handshake dials rawURL (ws://) and upgrades the connection. The reader
// holds any bytes the server sent after its response.
func handshake(ctx context.Context, rawURL string) (net.Conn, *bufio.Reader, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("parse url: %w", err)
	}
	if u.Scheme != "ws" && u.Scheme != "http" {
		return nil, nil, fmt.Errorf("url %s: loadgen speaks ws:// only", u.Redacted())
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", host, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("send upgrade request: %w", err)
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("read upgrade response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		nc.Close()
		return nil, nil, fmt.Errorf("upgrade refused: HTTP %d: %s", resp.StatusCode, body)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != base64.StdEncoding.EncodeToString(sum[:]) {
		nc.Close()
		return nil, nil, fmt.Errorf("upgrade: bad Sec-WebSocket-Accept %q", got)
	}
	return nc, br, nil
}

// appendClientFrame appends one masked client frame (FIN set).
func appendClientFrame(dst []byte, op byte, payload []byte, key uint32) []byte {
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, 0x80|op, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = binary.BigEndian.AppendUint16(append(dst, 0x80|op, 0x80|126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, 0x80|op, 0x80|127), uint64(n))
	}
	var m [4]byte
	binary.LittleEndian.PutUint32(m[:], key)
	dst = append(dst, m[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= m[i&3]
	}
	return dst
}

// parseHeader parses the server frame header at the start of b: h is the
// header's length, 0 while it is incomplete.
func parseHeader(b []byte) (fin bool, op byte, size uint64, h int, err error) {
	if len(b) < 2 {
		return false, 0, 0, 0, nil
	}
	fin, op = b[0]&0x80 != 0, b[0]&0x0F
	if b[0]&0x70 != 0 {
		return false, 0, 0, 0, fmt.Errorf("frame with reserved bits %#x", b[0])
	}
	if b[1]&0x80 != 0 {
		return false, 0, 0, 0, errors.New("masked frame from the server")
	}
	size, h = uint64(b[1]&0x7F), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return false, 0, 0, 0, nil
		}
		size, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return false, 0, 0, 0, nil
		}
		size, h = binary.BigEndian.Uint64(b[2:]), 10
	}
	if size > maxFrame {
		return false, 0, 0, 0, fmt.Errorf("frame of %d bytes (limit %d)", size, maxFrame)
	}
	return fin, op, size, h, nil
}

// nextFrame parses the server frame at the start of b. n is 0 while the
// frame is incomplete.
func nextFrame(b []byte) (fin bool, op byte, payload []byte, n int, err error) {
	fin, op, size, h, err := parseHeader(b)
	if err != nil || h == 0 || uint64(len(b)-h) < size {
		return false, 0, nil, 0, err
	}
	end := h + int(size)
	return fin, op, b[h:end], end, nil
}

// readMessage reads one text message from br for the synchronous part of
// a connection (the join), answering pings through w.
func readMessage(br *bufio.Reader, w *wsConn) ([]byte, error) {
	var msg []byte
	for {
		var hdr [10]byte
		if _, err := io.ReadFull(br, hdr[:2]); err != nil {
			return nil, err
		}
		n := 2
		switch hdr[1] & 0x7F {
		case 126:
			n = 4
		case 127:
			n = 10
		}
		if _, err := io.ReadFull(br, hdr[2:n]); err != nil {
			return nil, err
		}
		fin, op, size, _, err := parseHeader(hdr[:n])
		if err != nil {
			return nil, err
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(br, payload); err != nil {
			return nil, err
		}
		switch op {
		case opPing:
			if err := w.write(opPong, payload); err != nil {
				return nil, err
			}
			continue
		case opPong:
			continue
		case opClose:
			return nil, &closeError{code: closeCode(payload), err: errors.New("closed before joining")}
		}
		msg = append(msg, payload...)
		if fin {
			return msg, nil
		}
	}
}

func closeCode(payload []byte) int {
	if len(payload) < 2 {
		return 1005 // no status
	}
	return int(binary.BigEndian.Uint16(payload))
}

// wsConn is one client connection. Until it is attached to a poller it is
// written through nc; afterwards through its own descriptor.
type wsConn struct {
	mu        sync.Mutex // serialises writes and guards fd, nc
	nc        net.Conn   // before attach
	fd        int        // after attach; -1 once closed
	wbuf      []byte
	closeSent bool

	// Owned by the poller goroutine.
	rbuf   []byte // bytes read that do not make a whole frame yet
	msg    []byte // a fragmented message so far
	onText func([]byte)
	onEnd  func(*closeError)
	ended  atomic.Bool
	p      *poller
}

// write sends one frame, waiting at most 10 s for socket space.
func (c *wsConn) write(op byte, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent {
		return errClosed
	}
	c.wbuf = appendClientFrame(c.wbuf[:0], op, payload, mrand.Uint32())
	if op == opClose {
		c.closeSent = true
	}
	if c.nc != nil {
		_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := c.nc.Write(c.wbuf)
		return err
	}
	return writeFD(c.fd, c.wbuf, time.Now().Add(10*time.Second))
}

// writeText sends one text message.
func (c *wsConn) writeText(p []byte) error { return c.write(opText, p) }

// close starts a normal closure: the close frame goes out and the
// connection ends when the server's answer (or EOF) arrives.
func (c *wsConn) close(code int, reason string) error {
	b := binary.BigEndian.AppendUint16(nil, uint16(code))
	return c.write(opClose, append(b, reason...))
}

// abort shuts the socket down; the poller then sees EOF and ends the
// connection (the descriptor is only ever closed by the poller, so its
// number cannot be reused under a concurrent write).
func (c *wsConn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc != nil {
		c.nc.Close()
		return
	}
	if c.fd >= 0 {
		_ = syscall.Shutdown(c.fd, syscall.SHUT_RDWR)
	}
}

// consume handles every whole frame at the start of b and returns the
// rest. It reports false once the connection has ended.
func (c *wsConn) consume(b []byte) ([]byte, bool) {
	for {
		fin, op, payload, n, err := nextFrame(b)
		if err != nil {
			c.end(&closeError{err: fmt.Errorf("bad frame: %w", err)})
			return nil, false
		}
		if n == 0 {
			return b, true
		}
		b = b[n:]
		switch op {
		case opText, opCont:
			if !fin || len(c.msg) > 0 {
				c.msg = append(c.msg, payload...)
				if len(c.msg) > maxFrame {
					c.end(&closeError{err: fmt.Errorf("message over %d bytes", maxFrame)})
					return nil, false
				}
				if !fin {
					continue
				}
				payload, c.msg = c.msg, c.msg[:0]
			}
			c.onText(payload)
		case opPing:
			_ = c.write(opPong, payload)
		case opPong:
		case opClose:
			code := closeCode(payload)
			_ = c.write(opClose, payload[:min(2, len(payload))]) // echo, if not sent yet
			c.end(&closeError{code: code, err: errors.New("close frame")})
			return nil, false
		default:
			c.end(&closeError{err: fmt.Errorf("unexpected opcode %#x", op)})
			return nil, false
		}
	}
}

// end closes the connection once and reports how it ended.
func (c *wsConn) end(e *closeError) {
	if !c.ended.CompareAndSwap(false, true) {
		return
	}
	c.mu.Lock()
	if c.fd >= 0 {
		if c.p != nil {
			c.p.remove(c.fd)
		}
		_ = syscall.Close(c.fd)
		c.fd = -1
	}
	c.closeSent = true // nothing more may be written
	c.mu.Unlock()
	if c.onEnd != nil {
		c.onEnd(e)
	}
}

// writeFD writes all of b to the non-blocking descriptor fd, retrying
// until deadline while the socket is full.
func writeFD(fd int, b []byte, deadline time.Time) error {
	if fd < 0 {
		return errClosed
	}
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if n > 0 {
			b = b[n:]
		}
		switch {
		case err == nil:
		case errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.EAGAIN):
			if time.Now().After(deadline) {
				return errors.New("write: socket full for 10s")
			}
			time.Sleep(200 * time.Microsecond)
		default:
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

// detach takes nc's socket out of Go's network poller: the descriptor is
// duplicated, nc closed (the socket stays open through the duplicate) and
// the duplicate made non-blocking.
func detach(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no descriptor", nc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(f uintptr) { fd, derr = syscall.Dup(int(f)) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("dup: %w", derr)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("set non-blocking: %w", err)
	}
	_ = nc.Close()
	return fd, nil
}

// statusText is how a close code is reported ("transport" for none).
func statusText(code int) string {
	if code <= 0 {
		return "transport"
	}
	return strconv.Itoa(code)
}
