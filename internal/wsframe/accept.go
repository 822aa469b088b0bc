package wsframe

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"strings"
	"time"
)

// AcceptOptions configure Accept.
type AcceptOptions struct {
	// OriginPatterns are origin host patterns (path.Match, case
	// insensitive; with "://" matched against scheme://host) allowed
	// besides the request's own host. "*" allows any origin.
	OriginPatterns []string
	// WriteTimeout bounds writing the 101 response (default 10s).
	WriteTimeout time.Duration
}

// Upgraded is a connection after a successful handshake.
type Upgraded struct {
	// Conn is the hijacked connection, its deadlines cleared.
	Conn net.Conn
	// Buffered are bytes the HTTP server read past the handshake request:
	// the client's first frames, read before Conn.
	Buffered []byte
}

// Accept answers a client's opening handshake (§4.2.1): a request that is
// not a WebSocket upgrade (not GET, no "Connection: Upgrade" and
// "Upgrade: websocket", Sec-WebSocket-Version other than 13, a
// Sec-WebSocket-Key that is not 16 bytes of base64) is refused with the
// HTTP status RFC 6455 names and an error; an origin not allowed with
// 403. Otherwise it hijacks the connection and writes the 101 response
// (no extension, no subprotocol). On error the response was written.
func Accept(w http.ResponseWriter, r *http.Request, o AcceptOptions) (Upgraded, error) {
	key, code, err := checkRequest(w.Header(), r)
	if err == nil {
		code, err = http.StatusForbidden, checkOrigin(r, o.OriginPatterns)
	}
	if err != nil {
		http.Error(w, err.Error(), code)
		return Upgraded{}, err
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, http.StatusText(http.StatusNotImplemented), http.StatusNotImplemented)
		return Upgraded{}, fmt.Errorf("wsframe: %T cannot hijack", w)
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return Upgraded{}, fmt.Errorf("wsframe: hijack: %w", err)
	}
	u := Upgraded{Conn: nc}
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		u.Buffered = append([]byte(nil), b...)
	}
	timeout := o.WriteTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		AcceptKey(key) + "\r\n\r\n"
	_ = nc.SetDeadline(time.Now().Add(timeout))
	_, err = nc.Write([]byte(resp))
	_ = nc.SetDeadline(time.Time{})
	if err != nil {
		nc.Close()
		return Upgraded{}, fmt.Errorf("wsframe: write 101 response: %w", err)
	}
	return u, nil
}

// AcceptKey is the Sec-WebSocket-Accept value for a Sec-WebSocket-Key
// (§4.2.2): base64 of the SHA-1 of the key and the protocol's GUID.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// checkRequest returns the request's key, or the status and error to
// refuse it with (setting the headers RFC 6455 asks for on h).
func checkRequest(h http.Header, r *http.Request) (key string, code int, err error) {
	switch {
	case !r.ProtoAtLeast(1, 1):
		return "", http.StatusUpgradeRequired, fmt.Errorf("wsframe: handshake over %s, need HTTP/1.1", r.Proto)
	case !hasToken(r.Header, "Connection", "upgrade"), !hasToken(r.Header, "Upgrade", "websocket"):
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", "websocket")
		return "", http.StatusUpgradeRequired, errors.New("wsframe: not a WebSocket upgrade (Connection: Upgrade and Upgrade: websocket required)")
	case r.Method != http.MethodGet:
		return "", http.StatusMethodNotAllowed, fmt.Errorf("wsframe: handshake with %s, need GET", r.Method)
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		h.Set("Sec-WebSocket-Version", "13")
		return "", http.StatusBadRequest, fmt.Errorf("wsframe: Sec-WebSocket-Version %q, only 13 is supported", r.Header.Get("Sec-WebSocket-Version"))
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return "", http.StatusBadRequest, fmt.Errorf("wsframe: %d Sec-WebSocket-Key headers, need one", len(keys))
	}
	key = strings.TrimSpace(keys[0])
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
		return "", http.StatusBadRequest, fmt.Errorf("wsframe: Sec-WebSocket-Key %q is not 16 bytes of base64", key)
	}
	return key, 0, nil
}

// hasToken reports whether the comma-separated header key holds token
// (case insensitive).
func hasToken(h http.Header, key, token string) bool {
	for _, v := range h[textproto.CanonicalMIMEHeaderKey(key)] {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// checkOrigin allows a request without Origin (not a browser), one from
// its own host, and one whose origin host matches a pattern.
func checkOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil {
		return fmt.Errorf("wsframe: Origin %q is not a URL: %w", origin, err)
	}
	if strings.EqualFold(r.Host, u.Host) {
		return nil
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		ok, err := path.Match(strings.ToLower(p), strings.ToLower(target))
		if err != nil {
			return fmt.Errorf("wsframe: origin pattern %q: %w", p, err)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("wsframe: Origin %q is not allowed for host %q", origin, r.Host)
}
