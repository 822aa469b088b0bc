package wsframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// cf builds a client frame: masked with testKey unless unmasked; rsv are
// the reserved bits (0x70 mask) to set; n7 forces the 7-bit length field
// (0: the shortest encoding of len(p)).
type cf struct {
	fin      bool
	op       Opcode
	p        []byte
	unmasked bool
	rsv      byte
	n7       byte
}

func (f cf) bytes() []byte {
	first := byte(f.op) | f.rsv
	if f.fin {
		first |= 0x80
	}
	b := []byte{first}
	mask := byte(0x80)
	if f.unmasked {
		mask = 0
	}
	n := len(f.p)
	switch {
	case f.n7 == 127 || n > 0xffff:
		b = binary.BigEndian.AppendUint64(append(b, mask|127), uint64(n))
	case f.n7 == 126 || n >= 126:
		b = binary.BigEndian.AppendUint16(append(b, mask|126), uint16(n))
	default:
		b = append(b, mask|byte(n))
	}
	p := append([]byte(nil), f.p...)
	if !f.unmasked {
		b = append(b, testKey[:]...)
		Mask(p, testKey, 0)
	}
	return append(b, p...)
}

func frames(fs ...cf) []byte {
	var b []byte
	for _, f := range fs {
		b = append(b, f.bytes()...)
	}
	return b
}

type got struct {
	op Opcode
	p  string
}

func closeP(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

func TestReader(t *testing.T) {
	big := strings.Repeat("b", 70000)
	tests := []struct {
		name    string
		in      []byte
		limit   int64
		want    []got
		errCode int  // the *ProtocolError ending the stream; 0: plain EOF
		errIO   bool // ended by an I/O error mid-frame
	}{
		{"text", frames(cf{fin: true, op: OpText, p: []byte("hello")}), 0, []got{{OpText, "hello"}}, 0, false},
		{"binary", frames(cf{fin: true, op: OpBinary, p: []byte{0, 1, 2}}), 0, []got{{OpBinary, "\x00\x01\x02"}}, 0, false},
		{"empty text", frames(cf{fin: true, op: OpText}), 0, []got{{OpText, ""}}, 0, false},
		{"16-bit length", frames(cf{fin: true, op: OpText, p: []byte(big[:300])}), 0, []got{{OpText, big[:300]}}, 0, false},
		{"64-bit length", frames(cf{fin: true, op: OpText, p: []byte(big)}), 0, []got{{OpText, big}}, 0, false},
		{"non-minimal length accepted", frames(cf{fin: true, op: OpText, p: []byte("hi"), n7: 127}), 0, []got{{OpText, "hi"}}, 0, false},
		{"fragmented, control frames between fragments", frames(
			cf{op: OpText, p: []byte("He")},
			cf{fin: true, op: OpPing, p: []byte("p1")},
			cf{op: OpContinuation, p: []byte("l")},
			cf{fin: true, op: OpPong, p: []byte("p2")},
			cf{op: OpContinuation},
			cf{fin: true, op: OpContinuation, p: []byte("lo")},
			cf{fin: true, op: OpBinary, p: []byte("next")},
		), 0, []got{{OpPing, "p1"}, {OpPong, "p2"}, {OpText, "Hello"}, {OpBinary, "next"}}, 0, false},
		{"close frames: empty, code, code and reason", frames(
			cf{fin: true, op: OpClose},
			cf{fin: true, op: OpClose, p: closeP(1001, "")},
			cf{fin: true, op: OpClose, p: closeP(4999, "bye")},
		), 0, []got{{OpClose, ""}, {OpClose, "\x03\xe9"}, {OpClose, "\x13\x87bye"}}, 0, false},

		{"unmasked client frame", frames(cf{fin: true, op: OpText, p: []byte("x"), unmasked: true}), 0, nil, CloseProtocolError, false},
		{"RSV1 without permessage-deflate", frames(cf{fin: true, op: OpText, p: []byte("x"), rsv: 0x40}), 0, nil, CloseProtocolError, false},
		{"RSV3", frames(cf{fin: true, op: OpText, rsv: 0x10}), 0, nil, CloseProtocolError, false},
		{"reserved data opcode 0x3", frames(cf{fin: true, op: 0x3}), 0, nil, CloseProtocolError, false},
		{"reserved control opcode 0xB", frames(cf{fin: true, op: 0xB}), 0, nil, CloseProtocolError, false},
		{"continuation without a message", frames(cf{fin: true, op: OpContinuation, p: []byte("x")}), 0, nil, CloseProtocolError, false},
		{"new message inside a fragmented one", frames(cf{op: OpText, p: []byte("a")}, cf{fin: true, op: OpText, p: []byte("b")}), 0, nil, CloseProtocolError, false},
		{"fragmented ping", frames(cf{op: OpPing, p: []byte("a")}), 0, nil, CloseProtocolError, false},
		{"ping of 126 bytes", frames(cf{fin: true, op: OpPing, p: []byte(big[:126])}), 0, nil, CloseProtocolError, false},
		{"close of 1 byte", frames(cf{fin: true, op: OpClose, p: []byte{3}}), 0, nil, CloseProtocolError, false},
		{"close with reserved code 1005", frames(cf{fin: true, op: OpClose, p: closeP(1005, "")}), 0, nil, CloseProtocolError, false},
		{"close with code 999", frames(cf{fin: true, op: OpClose, p: closeP(999, "")}), 0, nil, CloseProtocolError, false},
		{"close with code 5000", frames(cf{fin: true, op: OpClose, p: closeP(5000, "")}), 0, nil, CloseProtocolError, false},
		{"close reason not UTF-8", frames(cf{fin: true, op: OpClose, p: closeP(1000, "\xc3")}), 0, nil, CloseInvalidPayload, false},
		{"64-bit length with the top bit set", []byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1}, 0, nil, CloseProtocolError, false},

		{"message at the limit", frames(cf{fin: true, op: OpText, p: []byte("0123456789")}), 10, []got{{OpText, "0123456789"}}, 0, false},
		{"message above the limit", frames(cf{fin: true, op: OpText, p: []byte("0123456789a")}), 10, nil, CloseMessageTooBig, false},
		{"fragments above the limit together", frames(cf{op: OpText, p: []byte("012345")}, cf{fin: true, op: OpContinuation, p: []byte("67890")}), 10, nil, CloseMessageTooBig, false},
		{"announced length above the limit, payload never sent", []byte{0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}, 1 << 20, nil, CloseMessageTooBig, false},
		{"control frames do not count against the limit", frames(cf{fin: true, op: OpPing, p: []byte(big[:100])}), 10, []got{{OpPing, big[:100]}}, 0, false},

		{"EOF inside a header", []byte{0x81}, 0, nil, 0, true},
		{"EOF inside a payload", frames(cf{fin: true, op: OpText, p: []byte("hello")})[:8], 0, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.in), tt.limit)
			var gotten []got
			var err error
			for {
				var op Opcode
				var p []byte
				op, p, err = r.Next()
				if err != nil {
					break
				}
				if !op.IsControl() && p == nil {
					t.Fatal("data message with a nil payload")
				}
				gotten = append(gotten, got{op, string(p)})
			}
			if len(gotten) != len(tt.want) {
				t.Fatalf("got %d frames %v, want %v (err %v)", len(gotten), gotten, tt.want, err)
			}
			for i := range gotten {
				if gotten[i] != tt.want[i] {
					t.Fatalf("frame %d: got %s %.40q, want %s %.40q", i, gotten[i].op, gotten[i].p, tt.want[i].op, tt.want[i].p)
				}
			}
			var pe *ProtocolError
			switch {
			case tt.errCode != 0:
				if !errors.As(err, &pe) || pe.Code != tt.errCode {
					t.Fatalf("ended with %v, want close %d", err, tt.errCode)
				}
			case tt.errIO:
				if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) || errors.As(err, &pe) {
					t.Fatalf("ended with %v, want an I/O error", err)
				}
			default:
				if !errors.Is(err, io.EOF) {
					t.Fatalf("ended with %v, want EOF", err)
				}
			}
		})
	}
}

// Next reads the payload of a large frame in pieces: a header announcing
// a large frame does not allocate its size before the bytes arrive.
func TestReaderGrowsWithData(t *testing.T) {
	hdr := []byte{0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4} // 1 MiB announced
	r := NewReader(io.MultiReader(bytes.NewReader(hdr), bytes.NewReader(make([]byte, 100))), 1<<20)
	_, _, err := r.Next()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Next = %v, want unexpected EOF", err)
	}
	if c := cap(r.msg); c > 2*readChunk {
		t.Fatalf("%d bytes allocated for 100 received", c)
	}
}

// FuzzReader feeds arbitrary bytes: Next never panics, every data message
// is within the limit, every control payload within 125 bytes, every close
// payload valid, and every error either a protocol error with a close code
// the server may send or an I/O error of the input.
func FuzzReader(f *testing.F) {
	f.Add(frames(cf{fin: true, op: OpText, p: []byte("hello")}))
	f.Add(frames(cf{op: OpText, p: []byte("He")}, cf{fin: true, op: OpPing, p: []byte("p")}, cf{fin: true, op: OpContinuation, p: []byte("llo")}))
	f.Add(frames(cf{fin: true, op: OpClose, p: closeP(1000, "bye")}))
	f.Add([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1})
	f.Add(frames(cf{fin: true, op: OpBinary, p: bytes.Repeat([]byte{7}, 300)}))
	const limit = 1 << 12
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), limit)
		for {
			op, p, err := r.Next()
			if err != nil {
				var pe *ProtocolError
				if errors.As(err, &pe) {
					if !ValidCloseCode(pe.Code) {
						t.Fatalf("protocol error with close code %d", pe.Code)
					}
				} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			switch op {
			case OpText, OpBinary:
				if len(p) > limit {
					t.Fatalf("%d-byte message above the limit", len(p))
				}
			case OpPing, OpPong:
				if len(p) > MaxControlPayload {
					t.Fatalf("%d-byte %s", len(p), op)
				}
			case OpClose:
				if _, _, err := ParseClose(p); err != nil {
					t.Fatalf("invalid close payload returned: %v", err)
				}
			default:
				t.Fatalf("Next returned %s", op)
			}
		}
	})
}

// FuzzRoundTrip: a message a client fragments anyhow, with a ping between
// each fragment, reaches the server whole; what the server's Writer sends
// back is one unmasked frame with the same payload.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint8(2), true)
	f.Add(bytes.Repeat([]byte("x"), 3000), uint8(200), false)
	f.Add([]byte{}, uint8(0), true)
	f.Fuzz(func(t *testing.T, msg []byte, pieces uint8, text bool) {
		op := OpBinary
		if text {
			op = OpText
		}
		var in []byte
		n := int(pieces) + 1
		size := (len(msg) + n - 1) / n
		rest := msg
		for i := 0; ; i++ {
			k := min(size, len(rest))
			fop := OpContinuation
			if i == 0 {
				fop = op
			}
			in = append(in, cf{fin: k == len(rest), op: fop, p: rest[:k]}.bytes()...)
			rest = rest[k:]
			if len(rest) == 0 {
				break
			}
			in = append(in, cf{fin: true, op: OpPing, p: []byte{byte(i)}}.bytes()...)
		}
		r := NewReader(bytes.NewReader(in), int64(len(msg)))
		var p []byte
		for {
			gotOp, gp, err := r.Next()
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if gotOp == OpPing {
				continue
			}
			if gotOp != op {
				t.Fatalf("got %s, want %s", gotOp, op)
			}
			p = gp
			break
		}
		if !bytes.Equal(p, msg) {
			t.Fatalf("reassembled %d bytes, sent %d", len(p), len(msg))
		}
		var w Writer
		if err := w.data(op, p); err != nil {
			t.Fatal(err)
		}
		fs := parseServer(t, w.Buffered())
		if len(fs) != 1 || !fs[0].fin || fs[0].op != op || !bytes.Equal(fs[0].payload, msg) {
			t.Fatalf("server frame %+v does not carry the message", fs)
		}
	})
}
