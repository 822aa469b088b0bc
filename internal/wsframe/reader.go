package wsframe

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// ReadBuffer is the size of a Reader's buffer: it holds frame headers and
// small frames; larger payloads are read through it in pieces. Every idle
// connection keeps one, so it is small.
const ReadBuffer = 512

// Reader reads a client's frames (§5): Next returns each data message
// whole, however it was fragmented, and each control frame as it comes,
// also between the fragments of a message. It is not safe for concurrent
// use.
type Reader struct {
	br    *bufio.Reader
	limit int64

	msgOp Opcode // the fragmented message under way (0: none)
	msg   []byte // its payload so far
	ctrl  [MaxControlPayload]byte
	hdr   [8]byte
}

// NewReader reads frames from r. A data message above limit bytes (all
// its fragments together) fails the connection with CloseMessageTooBig,
// before its payload is read; limit <= 0 takes math.MaxInt32.
func NewReader(r io.Reader, limit int64) *Reader {
	if limit <= 0 {
		limit = math.MaxInt32
	}
	return &Reader{br: bufio.NewReaderSize(r, ReadBuffer), limit: limit}
}

// Next returns the next data message (OpText or OpBinary, its payload
// reassembled; the caller owns it) or control frame (OpPing, OpPong or
// OpClose; its payload is valid until the next call, and a close frame's
// has passed ParseClose). A frame that breaks RFC 6455 or the limit is a
// *ProtocolError: the connection must be failed with its Code, and Next
// not called again. Errors of the underlying reader are returned wrapped.
func (r *Reader) Next() (Opcode, []byte, error) {
	for {
		fin, op, n, key, err := r.header()
		if err != nil {
			return 0, nil, err
		}
		if op.IsControl() {
			p := r.ctrl[:n]
			if err := r.payload(p, key, 0); err != nil {
				return 0, nil, err
			}
			if op == OpClose {
				if _, _, err := ParseClose(p); err != nil {
					return 0, nil, err
				}
			}
			return op, p, nil
		}
		switch {
		case op == OpContinuation && r.msgOp == 0:
			return 0, nil, protocolError(CloseProtocolError, "continuation frame without a message to continue")
		case op != OpContinuation && r.msgOp != 0:
			return 0, nil, protocolError(CloseProtocolError, fmt.Sprintf("%s frame inside a fragmented message", op))
		}
		if n > uint64(r.limit)-uint64(len(r.msg)) {
			return 0, nil, protocolError(CloseMessageTooBig, fmt.Sprintf("message above the %d-byte limit", r.limit))
		}
		if op != OpContinuation {
			r.msgOp = op
		}
		// The payload is read in pieces, so memory follows the bytes that
		// arrived, not the length a header announced.
		for pos := 0; uint64(pos) < n; {
			k := int(min(n-uint64(pos), readChunk))
			start := len(r.msg)
			r.msg = append(r.msg, make([]byte, k)...)
			if err := r.payload(r.msg[start:], key, pos); err != nil {
				return 0, nil, err
			}
			pos += k
		}
		if fin {
			op, p := r.msgOp, r.msg
			r.msgOp, r.msg = 0, nil
			if p == nil {
				p = []byte{}
			}
			return op, p, nil
		}
	}
}

// header reads one frame header and checks it.
func (r *Reader) header() (fin bool, op Opcode, n uint64, key [4]byte, err error) {
	b := r.hdr[:2]
	if _, err = io.ReadFull(r.br, b); err != nil {
		return false, 0, 0, key, fmt.Errorf("wsframe: read frame header: %w", err)
	}
	fin, op = b[0]&0x80 != 0, Opcode(b[0]&0x0f)
	masked, n7 := b[1]&0x80 != 0, b[1]&0x7f
	switch {
	case b[0]&0x70 != 0:
		return false, 0, 0, key, protocolError(CloseProtocolError, "reserved bits set (no extension was negotiated)")
	case !op.known():
		return false, 0, 0, key, protocolError(CloseProtocolError, op.String())
	case !masked:
		return false, 0, 0, key, protocolError(CloseProtocolError, "client frame not masked")
	case op.IsControl() && !fin:
		return false, 0, 0, key, protocolError(CloseProtocolError, fmt.Sprintf("fragmented %s frame", op))
	case op.IsControl() && n7 > MaxControlPayload:
		return false, 0, 0, key, protocolError(CloseProtocolError, fmt.Sprintf("%s frame above 125 bytes", op))
	}
	switch n7 {
	case 126:
		if _, err = io.ReadFull(r.br, r.hdr[:2]); err != nil {
			return false, 0, 0, key, fmt.Errorf("wsframe: read frame length: %w", err)
		}
		n = uint64(binary.BigEndian.Uint16(r.hdr[:2]))
	case 127:
		if _, err = io.ReadFull(r.br, r.hdr[:8]); err != nil {
			return false, 0, 0, key, fmt.Errorf("wsframe: read frame length: %w", err)
		}
		n = binary.BigEndian.Uint64(r.hdr[:8])
		if n>>63 != 0 {
			return false, 0, 0, key, protocolError(CloseProtocolError, "64-bit frame length with the most significant bit set")
		}
	default:
		n = uint64(n7)
	}
	if _, err = io.ReadFull(r.br, key[:]); err != nil {
		return false, 0, 0, key, fmt.Errorf("wsframe: read masking key: %w", err)
	}
	return fin, op, n, key, nil
}

// readChunk is the most a data frame's payload grows the message by
// before those bytes arrived.
const readChunk = 32 << 10

// payload reads len(p) bytes into p and unmasks them (§5.3); pos is
// their offset in the frame's payload.
func (r *Reader) payload(p []byte, key [4]byte, pos int) error {
	if _, err := io.ReadFull(r.br, p); err != nil {
		return fmt.Errorf("wsframe: read payload: %w", err)
	}
	Mask(p, key, pos)
	return nil
}

// Mask XORs p with the masking key (§5.3), starting at byte pos of the
// payload; masking and unmasking are the same operation.
func Mask(p []byte, key [4]byte, pos int) {
	for i := range p {
		p[i] ^= key[(pos+i)&3]
	}
}
