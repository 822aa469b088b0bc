package wsframe

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestAppendHeader(t *testing.T) {
	tests := []struct {
		fin  bool
		op   Opcode
		n    int
		want string
	}{
		{true, OpText, 0, "8100"},
		{true, OpText, 125, "817d"},
		{true, OpText, 126, "817e007e"},
		{true, OpBinary, 65535, "827effff"},
		{true, OpText, 65536, "817f0000000000010000"},
		{true, OpText, 1 << 20, "817f0000000000100000"},
		{false, OpText, 3, "0103"},
		{true, OpContinuation, 3, "8003"},
		{true, OpClose, 2, "8802"},
		{true, OpPing, 0, "8900"},
		{true, OpPong, 125, "8a7d"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(AppendHeader(nil, tt.fin, tt.op, tt.n)); got != tt.want {
			t.Errorf("header fin=%v %s %d bytes = %s, want %s", tt.fin, tt.op, tt.n, got, tt.want)
		}
	}
}

// TestValidCloseCode walks every range of §7.4 and its edges.
func TestValidCloseCode(t *testing.T) {
	tests := []struct {
		lo, hi int
		valid  bool
		why    string
	}{
		{0, 999, false, "not used"},
		{1000, 1003, true, "defined by RFC 6455"},
		{1004, 1004, false, "reserved"},
		{1005, 1006, false, "reserved: never on the wire"},
		{1007, 1011, true, "defined by RFC 6455"},
		{1012, 1014, true, "registered with IANA"},
		{1015, 1015, false, "reserved: TLS failure, never on the wire"},
		{1016, 2999, false, "reserved for the protocol"},
		{3000, 3999, true, "registered"},
		{4000, 4999, true, "private use"},
		{5000, 65535, false, "undefined"},
	}
	for _, tt := range tests {
		for code := tt.lo; code <= tt.hi; code++ {
			if ValidCloseCode(code) != tt.valid {
				t.Fatalf("ValidCloseCode(%d) = %v, want %v (%s)", code, !tt.valid, tt.valid, tt.why)
			}
		}
	}
}

func TestParseClose(t *testing.T) {
	code := func(c int, reason string) []byte {
		return append(binary.BigEndian.AppendUint16(nil, uint16(c)), reason...)
	}
	tests := []struct {
		name       string
		p          []byte
		wantCode   int
		wantReason string
		errCode    int
	}{
		{"empty: no status", nil, CloseNoStatus, "", 0},
		{"code only", code(1000, ""), 1000, "", 0},
		{"code and reason", code(4008, "slow consumer"), 4008, "slow consumer", 0},
		{"one byte", []byte{0x03}, 0, "", CloseProtocolError},
		{"reserved 1005", code(1005, ""), 0, "", CloseProtocolError},
		{"reserved 1006", code(1006, ""), 0, "", CloseProtocolError},
		{"unassigned 2000", code(2000, ""), 0, "", CloseProtocolError},
		{"above 4999", code(5000, ""), 0, "", CloseProtocolError},
		{"reason not UTF-8", code(1000, "bad \xff"), 0, "", CloseInvalidPayload},
		{"above 125 bytes", code(1000, strings.Repeat("r", 124)), 0, "", CloseProtocolError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, r, err := ParseClose(tt.p)
			if tt.errCode != 0 {
				var pe *ProtocolError
				if !errors.As(err, &pe) || pe.Code != tt.errCode {
					t.Fatalf("ParseClose = %d %q %v, want close %d", c, r, err, tt.errCode)
				}
				return
			}
			if err != nil || c != tt.wantCode || r != tt.wantReason {
				t.Fatalf("ParseClose = %d %q %v, want %d %q", c, r, err, tt.wantCode, tt.wantReason)
			}
		})
	}
}

// serverFrame is a frame as a client sees it.
type serverFrame struct {
	fin     bool
	op      Opcode
	payload []byte
}

// parseServer splits server output into frames, failing the test on any
// frame a client must refuse: masked (§5.1), reserved bits, a control
// frame fragmented or above 125 bytes, a length not in its shortest form.
func parseServer(t *testing.T, b []byte) []serverFrame {
	t.Helper()
	var out []serverFrame
	for len(b) > 0 {
		if len(b) < 2 {
			t.Fatalf("truncated header %x", b)
		}
		f := serverFrame{fin: b[0]&0x80 != 0, op: Opcode(b[0] & 0x0f)}
		if b[0]&0x70 != 0 {
			t.Fatalf("reserved bits set: %x", b[0])
		}
		if b[1]&0x80 != 0 {
			t.Fatal("server frame masked")
		}
		n, h := int(b[1]&0x7f), 2
		switch n {
		case 126:
			n, h = int(binary.BigEndian.Uint16(b[2:])), 4
			if n < 126 {
				t.Fatalf("16-bit length %d fits 7 bits", n)
			}
		case 127:
			n, h = int(binary.BigEndian.Uint64(b[2:])), 10
			if n <= 0xffff {
				t.Fatalf("64-bit length %d fits 16 bits", n)
			}
		}
		if f.op.IsControl() && (!f.fin || n > MaxControlPayload) {
			t.Fatalf("bad control frame: fin=%v %d bytes", f.fin, n)
		}
		if len(b) < h+n {
			t.Fatalf("truncated payload: %d of %d bytes", len(b)-h, n)
		}
		f.payload, b = b[h:h+n], b[h+n:]
		out = append(out, f)
	}
	return out
}

func TestWriter(t *testing.T) {
	var w Writer
	big := bytes.Repeat([]byte("x"), 70000)
	steps := []struct {
		name    string
		do      func() error
		want    *serverFrame // nil: nothing appended
		wantErr bool
	}{
		{"text", func() error { return w.Text([]byte("hello")) }, &serverFrame{true, OpText, []byte("hello")}, false},
		{"empty text", func() error { return w.Text(nil) }, &serverFrame{true, OpText, []byte{}}, false},
		{"binary, 64-bit length", func() error { return w.Binary(big) }, &serverFrame{true, OpBinary, big}, false},
		{"ping", func() error { return w.Ping([]byte("p")) }, &serverFrame{true, OpPing, []byte("p")}, false},
		{"pong of 125 bytes", func() error { return w.Pong(big[:125]) }, &serverFrame{true, OpPong, big[:125]}, false},
		{"ping of 126 bytes", func() error { return w.Ping(big[:126]) }, nil, true},
		{"close with a code that may not be sent", func() error { return w.Close(1006, "") }, nil, true},
		{"close with a reason that is not UTF-8", func() error { return w.Close(1000, "\xff") }, nil, true},
		{"close, reason cut at a character", func() error { return w.Close(4008, strings.Repeat("é", 70)) },
			&serverFrame{true, OpClose, append([]byte{0x0f, 0xa8}, strings.Repeat("é", 61)...)}, false},
		{"text after close", func() error { return w.Text([]byte("late")) }, nil, true},
		{"pong after close", func() error { return w.Pong(nil) }, nil, true},
		{"second close", func() error { return w.Close(1000, "") }, nil, true},
	}
	for _, st := range steps {
		before := w.Len()
		err := st.do()
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: err = %v, want error %v", st.name, err, st.wantErr)
		}
		added := w.Buffered()[before:]
		if st.want == nil {
			if len(added) != 0 {
				t.Fatalf("%s: appended %x", st.name, added)
			}
			continue
		}
		fs := parseServer(t, added)
		if len(fs) != 1 || fs[0].fin != st.want.fin || fs[0].op != st.want.op || !bytes.Equal(fs[0].payload, st.want.payload) {
			t.Fatalf("%s: appended %+v, want %+v", st.name, fs, *st.want)
		}
	}
	if !w.CloseSent() || w.Sent() {
		t.Fatalf("CloseSent=%v Sent=%v before anything was written", w.CloseSent(), w.Sent())
	}
	// The owner writes the buffer in pieces.
	total := w.Len()
	w.Advance(10)
	if w.Len() != total-10 {
		t.Fatalf("Len after Advance(10) = %d, want %d", w.Len(), total-10)
	}
	w.Advance(w.Len())
	if !w.Sent() || w.Buffered() != nil {
		t.Fatalf("Sent=%v, buffer %d bytes after everything was written", w.Sent(), len(w.Buffered()))
	}
}

// A close frame without a status (answering one) is an empty close frame.
func TestWriterCloseNoStatus(t *testing.T) {
	var w Writer
	if err := w.Close(CloseNoStatus, "ignored"); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(w.Buffered()); got != "8800" {
		t.Fatalf("close without status = %s, want 8800", got)
	}
}
