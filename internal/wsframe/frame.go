package wsframe

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Opcode is a frame's opcode (RFC 6455 §5.2).
type Opcode byte

// The opcodes of RFC 6455; the others are reserved.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether op is a control opcode (close, ping, pong and
// the reserved 0xB–0xF).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

func (op Opcode) known() bool {
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return true
	}
	return false
}

func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("reserved opcode 0x%x", byte(op))
}

// MaxControlPayload is the largest payload of a control frame (§5.5);
// a close frame's reason gets what its 2-byte code leaves.
const MaxControlPayload = 125

// Close codes this package sends by itself (§7.4.1). Codes an
// application closes with are the application's (core.Close*).
const (
	CloseNormal         = 1000 // the close handshake of a connection that ends normally
	CloseProtocolError  = 1002 // the peer broke RFC 6455
	CloseNoStatus       = 1005 // never on the wire: a close frame without a code (Writer.Close writes one for it)
	CloseInvalidPayload = 1007 // a close reason that is not UTF-8
	CloseMessageTooBig  = 1009 // a message above the Reader's limit
)

// ValidCloseCode reports whether code may be carried by a close frame
// (§7.4): 1000–1003, 1007–1014 (1012–1014 registered with IANA after the
// RFC) and the ranges 3000–3999 (registered) and 4000–4999 (private).
// 1004, 1005, 1006 and 1015 are reserved and never sent; everything else
// below 5000 is unassigned, and nothing is valid above.
func ValidCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// AppendHeader appends the header of an unmasked server frame (§5.2):
// FIN when fin, opcode op, a payload of n bytes in the shortest length
// encoding (7 bits below 126, 16 bits up to 65535, 64 bits above).
func AppendHeader(b []byte, fin bool, op Opcode, n int) []byte {
	first := byte(op) & 0x0f
	if fin {
		first |= 0x80
	}
	switch {
	case n < 126:
		return append(b, first, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(b, first, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, first, 127), uint64(n))
	}
}

// ParseClose reads a close frame's payload (§5.5.1): empty (no code,
// reported as CloseNoStatus), or a valid 2-byte code and a UTF-8 reason.
// Anything else is a *ProtocolError (1002; 1007 for the reason).
func ParseClose(p []byte) (code int, reason string, err error) {
	switch {
	case len(p) == 0:
		return CloseNoStatus, "", nil
	case len(p) == 1:
		return 0, "", protocolError(CloseProtocolError, "close frame with a 1-byte payload")
	case len(p) > MaxControlPayload:
		return 0, "", protocolError(CloseProtocolError, "close frame above 125 bytes")
	}
	code = int(binary.BigEndian.Uint16(p))
	if !ValidCloseCode(code) {
		return 0, "", protocolError(CloseProtocolError, fmt.Sprintf("invalid close code %d", code))
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", protocolError(CloseInvalidPayload, "close reason is not UTF-8")
	}
	return code, string(p[2:]), nil
}

// ProtocolError is a violation of RFC 6455 by the peer (or a message
// above the limit); Code is the close code to fail the connection with.
type ProtocolError struct {
	Code   int
	Reason string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("wsframe: %s (close %d)", e.Reason, e.Code)
}

func protocolError(code int, reason string) *ProtocolError {
	return &ProtocolError{Code: code, Reason: reason}
}
