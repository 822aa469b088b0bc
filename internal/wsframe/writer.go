package wsframe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"
)

// ErrClosed is returned for a frame offered after the close frame: after
// a close frame nothing may follow (§5.5.1), so it was dropped.
var ErrClosed = errors.New("wsframe: close frame already written")

// Writer frames what a server sends into one buffer, in order; its owner
// writes Buffered() to the socket and reports what left with Advance.
// Server frames are never masked (§5.1) and data messages are never
// fragmented. The zero Writer is ready; it is not safe for concurrent use.
//
// An empty Writer holds no buffer: buffers come from a pool when a frame
// is appended and go back once everything left, so an idle connection
// costs none.
type Writer struct {
	buf       []byte
	bufp      *[]byte // buf's pool entry
	closeSent bool
}

// Text appends p as one text message.
func (w *Writer) Text(p []byte) error { return w.data(OpText, p) }

// Binary appends p as one binary message.
func (w *Writer) Binary(p []byte) error { return w.data(OpBinary, p) }

func (w *Writer) data(op Opcode, p []byte) error {
	if w.closeSent {
		return ErrClosed
	}
	w.grow()
	w.buf = AppendHeader(w.buf, true, op, len(p))
	w.buf = append(w.buf, p...)
	return nil
}

// Ping appends a ping frame with payload p (at most 125 bytes).
func (w *Writer) Ping(p []byte) error { return w.control(OpPing, p) }

// Pong appends a pong frame with payload p (at most 125 bytes), the
// answer to a ping with the same payload (§5.5.3).
func (w *Writer) Pong(p []byte) error { return w.control(OpPong, p) }

func (w *Writer) control(op Opcode, p []byte) error {
	if len(p) > MaxControlPayload {
		return fmt.Errorf("wsframe: %s payload of %d bytes, at most %d", op, len(p), MaxControlPayload)
	}
	if w.closeSent {
		return ErrClosed
	}
	w.grow()
	w.buf = AppendHeader(w.buf, true, op, len(p))
	w.buf = append(w.buf, p...)
	return nil
}

// Close appends the close frame: code (ValidCloseCode, or CloseNoStatus
// for a close frame without a payload) and reason, cut to the 123 bytes
// a control frame leaves it, at a character boundary. Nothing can be
// appended after it; a second Close returns ErrClosed. An invalid code
// or a reason that is not UTF-8 is an error and appends nothing.
func (w *Writer) Close(code int, reason string) error {
	if code != CloseNoStatus && !ValidCloseCode(code) {
		return fmt.Errorf("wsframe: close code %d may not be sent", code)
	}
	if !utf8.ValidString(reason) {
		return fmt.Errorf("wsframe: close reason %q is not UTF-8", reason)
	}
	if w.closeSent {
		return ErrClosed
	}
	w.grow()
	if code == CloseNoStatus {
		w.buf = AppendHeader(w.buf, true, OpClose, 0)
	} else {
		reason = cut(reason, MaxControlPayload-2)
		w.buf = AppendHeader(w.buf, true, OpClose, 2+len(reason))
		w.buf = binary.BigEndian.AppendUint16(w.buf, uint16(code))
		w.buf = append(w.buf, reason...)
	}
	w.closeSent = true
	return nil
}

// cut shortens s to at most n bytes without splitting a character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// CloseSent reports whether the close frame was appended.
func (w *Writer) CloseSent() bool { return w.closeSent }

// Buffered returns the bytes waiting to be written, valid until the next
// call of any other method.
func (w *Writer) Buffered() []byte { return w.buf }

// Len returns the number of bytes waiting.
func (w *Writer) Len() int { return len(w.buf) }

// Advance drops the first n bytes, which were written. Once nothing is
// left the buffer goes back to the pool.
func (w *Writer) Advance(n int) {
	if n > 0 {
		w.buf = w.buf[:copy(w.buf, w.buf[n:])]
	}
	if len(w.buf) == 0 {
		w.release()
	}
}

// Sent reports that everything up to and including the close frame was
// written: the owner may close the socket.
func (w *Writer) Sent() bool { return w.closeSent && len(w.buf) == 0 }

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// poolMax is the largest buffer returned to the pool; a larger one (a
// slow client's backlog) is left to the collector.
const poolMax = 256 << 10

func (w *Writer) grow() {
	if w.buf == nil {
		w.bufp = bufs.Get().(*[]byte)
		w.buf = (*w.bufp)[:0]
	}
}

func (w *Writer) release() {
	if w.buf == nil {
		return
	}
	if cap(w.buf) <= poolMax {
		*w.bufp = w.buf[:0]
		bufs.Put(w.bufp)
	}
	w.buf, w.bufp = nil, nil
}
