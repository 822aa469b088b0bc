package wsserver_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/wsserver"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/internal/e2e"
	"github.com/classgate/classgate/internal/wsframe"
)

// rawClient is a WebSocket client written byte by byte, to send what
// library clients never send (fragments with pings between them, unmasked
// frames, odd close frames) and to see every frame the server writes.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRawClient(t *testing.T, g *gw, user string) *rawClient {
	t.Helper()
	addr := strings.TrimPrefix(g.http.URL, "http://")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	tok := e2e.Token(t, secret, user, "student", []string{"*"}, time.Hour)
	fmt.Fprintf(nc, "GET /ws?token=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", tok, addr)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	if br.Buffered() > 0 {
		t.Fatal("the server wrote before the client's first frame")
	}
	return &rawClient{t: t, nc: nc, br: br}
}

// send writes client frames: masked unless unmasked.
func (c *rawClient) send(frames ...rawFrame) {
	c.t.Helper()
	var b []byte
	for _, f := range frames {
		first := byte(f.op) | f.rsv
		if f.fin {
			first |= 0x80
		}
		if f.unmasked {
			b = append(wsframe.AppendHeader(b, f.fin, f.op, len(f.p)), f.p...)
			b[len(b)-len(f.p)-2] = first // AppendHeader's short form: 2 header bytes
			continue
		}
		h := wsframe.AppendHeader(nil, f.fin, f.op, len(f.p))
		h[0], h[1] = first, h[1]|0x80
		key := [4]byte{9, 8, 7, 6}
		p := append([]byte(nil), f.p...)
		wsframe.Mask(p, key, 0)
		b = append(append(append(b, h...), key[:]...), p...)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

type rawFrame struct {
	fin      bool
	op       wsframe.Opcode
	p        []byte
	unmasked bool
	rsv      byte
}

type gotFrame struct {
	op wsframe.Opcode
	p  []byte
}

// next reads one server frame, failing on a masked one.
func (c *rawClient) next() gotFrame {
	c.t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	if h[1]&0x80 != 0 || h[0]&0x70 != 0 || h[0]&0x80 == 0 {
		c.t.Fatalf("server frame header %x: masked, reserved bits or fragmented", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		_, _ = io.ReadFull(c.br, l[:])
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		_, _ = io.ReadFull(c.br, l[:])
		n = binary.BigEndian.Uint64(l[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		c.t.Fatalf("read payload: %v", err)
	}
	return gotFrame{wsframe.Opcode(h[0] & 0x0f), p}
}

// expectClose skips data frames up to the close frame and returns its
// code and reason; the server then closes the socket.
func (c *rawClient) expectClose() (int, string) {
	c.t.Helper()
	for {
		f := c.next()
		if f.op != wsframe.OpClose {
			continue
		}
		if _, err := c.br.ReadByte(); !errors.Is(err, io.EOF) {
			c.t.Fatalf("after the close frame: %v, want EOF", err)
		}
		if len(f.p) == 0 {
			return wsframe.CloseNoStatus, ""
		}
		return int(binary.BigEndian.Uint16(f.p)), string(f.p[2:])
	}
}

func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// TestWire: what the server does with frames RFC 6455 allows but library
// clients rarely send, and with frames it forbids. A violation closes
// that connection with the RFC's code; the server goes on serving.
func TestWire(t *testing.T) {
	g := start(t, cfg{ws: wsserver.Options{ReadLimit: 1 << 10}})
	tests := []struct {
		name       string
		frames     []rawFrame
		wantPong   string // a pong with this payload comes first
		wantReply  string // then a text frame containing this
		wantCode   int
		wantReason string
	}{
		{"fragmented request with a ping between fragments", []rawFrame{
			{op: wsframe.OpText, p: []byte(`{"type":"pi`)},
			{fin: true, op: wsframe.OpPing, p: []byte("between")},
			{fin: true, op: wsframe.OpContinuation, p: []byte(`ng","id":"frag"}`)},
			{fin: true, op: wsframe.OpClose, p: closePayload(1000, "bye")},
		}, "between", `"id":"frag"`, 1000, ""},
		{"close with a private code is echoed", []rawFrame{{fin: true, op: wsframe.OpClose, p: closePayload(4321, "mine")}}, "", "", 4321, ""},
		{"close without a code is echoed empty", []rawFrame{{fin: true, op: wsframe.OpClose}}, "", "", wsframe.CloseNoStatus, ""},
		{"unmasked frame", []rawFrame{{fin: true, op: wsframe.OpText, p: []byte(`{}`), unmasked: true}}, "", "", 1002, "client frame not masked"},
		{"reserved bit (no extension)", []rawFrame{{fin: true, op: wsframe.OpText, p: []byte(`{}`), rsv: 0x40}}, "", "", 1002, "reserved bits set (no extension was negotiated)"},
		{"close with a reserved code", []rawFrame{{fin: true, op: wsframe.OpClose, p: closePayload(1005, "")}}, "", "", 1002, "invalid close code 1005"},
		{"close reason not UTF-8", []rawFrame{{fin: true, op: wsframe.OpClose, p: closePayload(1000, "\xff")}}, "", "", 1007, "close reason is not UTF-8"},
		{"fragments above the read limit together", []rawFrame{
			{op: wsframe.OpText, p: bytes.Repeat([]byte(" "), 600)},
			{fin: true, op: wsframe.OpContinuation, p: bytes.Repeat([]byte(" "), 600)},
		}, "", "", core.CloseTooLarge, "message above the 1024-byte limit"},
		{"ping of 126 bytes", []rawFrame{{fin: true, op: wsframe.OpPing, p: bytes.Repeat([]byte("p"), 126)}}, "", "", 1002, "ping frame above 125 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRawClient(t, g, "raw")
			c.send(tt.frames...)
			if tt.wantPong != "" {
				if f := c.next(); f.op != wsframe.OpPong || string(f.p) != tt.wantPong {
					t.Fatalf("got %s %q, want a pong %q", f.op, f.p, tt.wantPong)
				}
			}
			if tt.wantReply != "" {
				if f := c.next(); f.op != wsframe.OpText || !strings.Contains(string(f.p), tt.wantReply) {
					t.Fatalf("got %s %q, want a reply with %s", f.op, f.p, tt.wantReply)
				}
			}
			code, reason := c.expectClose()
			if code != tt.wantCode || reason != tt.wantReason {
				t.Fatalf("closed with %d %q, want %d %q", code, reason, tt.wantCode, tt.wantReason)
			}
		})
	}
	// The server still serves.
	d := dial(t, g, "after")
	d.Send(`{"type":"ping","id":"ok"}`)
	d.ExpectReply("ok")
}

// TestServerPing: the server pings every PingInterval; a client that
// answers stays, one that does not is closed with 1008 "no pong".
func TestServerPing(t *testing.T) {
	g := start(t, cfg{ws: wsserver.Options{PingInterval: 20 * time.Millisecond, WriteTimeout: 500 * time.Millisecond}})
	answers := dialRawClient(t, g, "answers")
	silent := dialRawClient(t, g, "silent")
	for range 5 {
		f := answers.next()
		if f.op != wsframe.OpPing {
			t.Fatalf("got %s %q, want a ping", f.op, f.p)
		}
		answers.send(rawFrame{fin: true, op: wsframe.OpPong, p: f.p})
	}
	if code, reason := silent.expectClose(); code != core.ClosePolicy || reason != "no pong" {
		t.Fatalf("silent client closed with %d %q, want %d \"no pong\"", code, reason, core.ClosePolicy)
	}
	answers.send(rawFrame{fin: true, op: wsframe.OpText, p: []byte(`{"type":"ping","id":"alive"}`)})
	for {
		f := answers.next()
		if f.op == wsframe.OpPing {
			answers.send(rawFrame{fin: true, op: wsframe.OpPong, p: f.p})
			continue
		}
		if f.op != wsframe.OpText || !strings.Contains(string(f.p), `"alive"`) {
			t.Fatalf("answering client got %s %q", f.op, f.p)
		}
		break
	}
}

// TestCloseCodesAgree: the close codes wsframe sends by itself are the
// ones docs/PROTOCOL.md lists under core's names.
func TestCloseCodesAgree(t *testing.T) {
	if wsframe.CloseMessageTooBig != core.CloseTooLarge || wsframe.CloseNormal != core.CloseNormal {
		t.Fatalf("wsframe's 1009/1000 (%d/%d) differ from core's (%d/%d)",
			wsframe.CloseMessageTooBig, wsframe.CloseNormal, core.CloseTooLarge, core.CloseNormal)
	}
}
