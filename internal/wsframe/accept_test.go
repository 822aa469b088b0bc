package wsframe

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// echoServer accepts with o and echoes each data message back through a
// Writer (answering pings, echoing the close code) until the client's
// close, the way wsserver's loop does.
func echoServer(t *testing.T, o AcceptOptions) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up, err := Accept(w, r, o)
		if err != nil {
			return
		}
		defer up.Conn.Close()
		rd := NewReader(io.MultiReader(bytes.NewReader(up.Buffered), up.Conn), 1<<10)
		var out Writer
		for !out.CloseSent() {
			op, p, err := rd.Next()
			var pe *ProtocolError
			switch {
			case errors.As(err, &pe):
				_ = out.Close(pe.Code, pe.Reason)
			case err != nil:
				return
			case op == OpPing:
				_ = out.Pong(p)
			case op == OpClose:
				code, _, _ := ParseClose(p)
				_ = out.Close(code, "")
			case op == OpText:
				_ = out.Text(p)
			case op == OpBinary:
				_ = out.Binary(p)
			}
			if _, err := up.Conn.Write(out.Buffered()); err != nil {
				return
			}
			out.Advance(out.Len())
		}
	}))
	t.Cleanup(hs.Close)
	return hs
}

const rfcKey = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455 §1.3's example

func TestAcceptKey(t *testing.T) {
	if got := AcceptKey(rfcKey); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("AcceptKey = %s, want RFC 6455's s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", got)
	}
}

// TestAcceptRefuses: every malformed handshake gets the status RFC 6455
// names, and no upgrade.
func TestAcceptRefuses(t *testing.T) {
	hs := echoServer(t, AcceptOptions{OriginPatterns: []string{"*.school.example", "https://app.example"}})
	good := func() http.Header {
		return http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"websocket"},
			"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {rfcKey}}
	}
	tests := []struct {
		name   string
		method string
		edit   func(h http.Header)
		want   int
	}{
		{"well-formed", "GET", func(http.Header) {}, http.StatusSwitchingProtocols},
		{"POST", "POST", func(http.Header) {}, http.StatusMethodNotAllowed},
		{"no Upgrade header", "GET", func(h http.Header) { h.Del("Upgrade") }, http.StatusUpgradeRequired},
		{"no Connection: Upgrade", "GET", func(h http.Header) { h.Set("Connection", "keep-alive") }, http.StatusUpgradeRequired},
		{"version 8", "GET", func(h http.Header) { h.Set("Sec-Websocket-Version", "8") }, http.StatusBadRequest},
		{"no key", "GET", func(h http.Header) { h.Del("Sec-Websocket-Key") }, http.StatusBadRequest},
		{"key of 15 bytes", "GET", func(h http.Header) { h.Set("Sec-Websocket-Key", "AAAAAAAAAAAAAAAAAAAA") }, http.StatusBadRequest},
		{"two keys", "GET", func(h http.Header) { h.Add("Sec-Websocket-Key", rfcKey) }, http.StatusBadRequest},
		{"origin of the same host", "GET", func(h http.Header) { h.Set("Origin", "http://"+hs.Listener.Addr().String()) }, http.StatusSwitchingProtocols},
		{"origin matching a host pattern", "GET", func(h http.Header) { h.Set("Origin", "https://math.school.example") }, http.StatusSwitchingProtocols},
		{"origin matching a scheme pattern", "GET", func(h http.Header) { h.Set("Origin", "https://app.example") }, http.StatusSwitchingProtocols},
		{"origin with the wrong scheme", "GET", func(h http.Header) { h.Set("Origin", "http://app.example") }, http.StatusForbidden},
		{"origin not allowed", "GET", func(h http.Header) { h.Set("Origin", "https://evil.example") }, http.StatusForbidden},
		{"permessage-deflate offered: not taken", "GET", func(h http.Header) {
			h.Set("Sec-Websocket-Extensions", "permessage-deflate; client_max_window_bits")
		}, http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := good()
			tt.edit(h)
			nc, err := net.Dial("tcp", hs.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			req, _ := http.NewRequest(tt.method, hs.URL+"/ws", nil)
			req.Header = h
			if err := req.Write(nc); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(nc), req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want != http.StatusSwitchingProtocols {
				return
			}
			if got := resp.Header.Get("Sec-Websocket-Accept"); got != AcceptKey(rfcKey) {
				t.Fatalf("Sec-WebSocket-Accept %q", got)
			}
			if ext := resp.Header.Get("Sec-Websocket-Extensions"); ext != "" {
				t.Fatalf("extension negotiated: %q", ext)
			}
		})
	}
}

// dialRaw performs the handshake by hand and sends first with the request
// (in the same write, so the server reads it with the request).
func dialRaw(t *testing.T, hs *httptest.Server, first []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + rfcKey + "\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), first...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return nc, br
}

// readServer reads n server frames.
func readServer(t *testing.T, br *bufio.Reader, n int) []serverFrame {
	t.Helper()
	var raw []byte
	for {
		if fs := tryParse(raw); len(fs) >= n {
			return parseServer(t, raw)
		}
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("reading server frames: %v (have %x)", err, raw)
		}
		raw = append(raw, b)
	}
}

// tryParse returns the complete frames at the start of b.
func tryParse(b []byte) []serverFrame {
	var out []serverFrame
	for len(b) >= 2 {
		n, h := int(b[1]&0x7f), 2
		switch {
		case n == 126 && len(b) >= 4:
			n, h = int(b[2])<<8|int(b[3]), 4
		case n == 126 || n == 127:
			return out // long lengths are not used here
		}
		if len(b) < h+n {
			return out
		}
		out = append(out, serverFrame{})
		b = b[h+n:]
	}
	return out
}

// TestCloseHandshake runs the conversation over loopback: frames sent
// with the handshake request are read (the HTTP server's buffer is handed
// over), a ping is answered with its payload, a fragmented message
// arrives whole, the client's close is echoed with its code, and a
// protocol violation is answered with a 1002 close.
func TestCloseHandshake(t *testing.T) {
	hs := echoServer(t, AcceptOptions{})
	t.Run("echo", func(t *testing.T) {
		nc, br := dialRaw(t, hs, frames(cf{fin: true, op: OpText, p: []byte("early")}))
		if _, err := nc.Write(frames(
			cf{fin: true, op: OpPing, p: []byte("pp")},
			cf{op: OpBinary, p: []byte("fr")},
			cf{fin: true, op: OpPing, p: []byte("mid")},
			cf{fin: true, op: OpContinuation, p: []byte("ag")},
			cf{fin: true, op: OpClose, p: closeP(4000, "done")},
		)); err != nil {
			t.Fatal(err)
		}
		want := []serverFrame{
			{true, OpText, []byte("early")},
			{true, OpPong, []byte("pp")},
			{true, OpPong, []byte("mid")},
			{true, OpBinary, []byte("frag")},
			{true, OpClose, closeP(4000, "")},
		}
		fs := readServer(t, br, len(want))
		for i := range want {
			if fs[i].op != want[i].op || !bytes.Equal(fs[i].payload, want[i].payload) {
				t.Fatalf("frame %d: %s %q, want %s %q", i, fs[i].op, fs[i].payload, want[i].op, want[i].payload)
			}
		}
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the close handshake: %v, want the server's EOF", err)
		}
	})
	t.Run("violation", func(t *testing.T) {
		_, br := dialRaw(t, hs, frames(cf{fin: true, op: OpText, p: []byte("x"), unmasked: true}))
		fs := readServer(t, br, 1)
		if fs[0].op != OpClose || !bytes.HasPrefix(fs[0].payload, closeP(CloseProtocolError, "")) ||
			!strings.Contains(string(fs[0].payload), "not masked") {
			t.Fatalf("answer %s %q, want close 1002", fs[0].op, fs[0].payload)
		}
	})
}
