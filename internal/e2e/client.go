package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/classgate/classgate/core/auth"
)

// Msg is a decoded server frame.
type Msg struct {
	Type         string          `json:"type"`
	Room         string          `json:"room"`
	ID           string          `json:"id"`
	Seq          uint64          `json:"seq"`
	TS           int64           `json:"ts"`
	ConnectionID string          `json:"connection_id"`
	User         *User           `json:"user"`
	Features     []string        `json:"features"`
	From         *User           `json:"from"`
	Data         json.RawMessage `json:"data"`
	Code         string          `json:"code"`
	Message      string          `json:"message"`
	Raw          string          `json:"-"`
}

// User is the wire user object.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// Client is a test WebSocket client that reads frames in the background.
type Client struct {
	t    testing.TB
	ws   *websocket.Conn
	in   chan Msg
	mu   sync.Mutex
	err  error
	done chan struct{}
	gate sync.RWMutex // held for writing while paused
	// q feeds pump, which keeps an unbounded backlog so the reader never
	// stops reading the socket unless paused.
	q    chan Msg
	stop chan struct{}
	once sync.Once
	// frameLimit > 0 splits sent messages into frames of at most this size.
	frameLimit int
}

// Release stops the client's background goroutines and closes the socket.
func (c *Client) Release() {
	c.once.Do(func() { close(c.stop) })
	c.ws.CloseNow()
}

// pump moves frames from q to in through an unbounded backlog.
func (c *Client) pump() {
	var backlog []Msg
	q := c.q
	for q != nil || len(backlog) > 0 {
		var out chan Msg
		var head Msg
		if len(backlog) > 0 {
			out, head = c.in, backlog[0]
		}
		select {
		case m, ok := <-q:
			if !ok {
				q = nil
				continue
			}
			backlog = append(backlog, m)
		case out <- head:
			backlog[0] = Msg{}
			backlog = backlog[1:]
		case <-c.stop:
			return
		}
	}
	close(c.in)
}

// Pause stops reading from the socket (to play a slow consumer) until
// Resume.
func (c *Client) Pause() { c.gate.Lock() }

// Resume undoes Pause.
func (c *Client) Resume() { c.gate.Unlock() }

// TryNext returns the next frame, or false when the connection closed or
// nothing came within timeout.
func (c *Client) TryNext(timeout time.Duration) (Msg, bool) {
	select {
	case m, ok := <-c.in:
		return m, ok
	case <-time.After(timeout):
		return Msg{}, false
	}
}

// Token mints an HS256 token for user with the given role and rooms,
// valid for ttl.
func Token(t testing.TB, secret []byte, user, role string, rooms []string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.SignHS256(secret, auth.Claims{Subject: user, Name: "Name " + user, Role: role, Rooms: rooms, Expiry: time.Now().Add(ttl).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Dial connects with token; it fails the test on error.
func Dial(t testing.TB, wsURL, token string) *Client {
	t.Helper()
	c, resp, err := TryDial(wsURL, token)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", wsURL, err, status)
	}
	c.t = t
	t.Cleanup(c.Release)
	return c
}

// TryDial connects and returns the handshake response on failure.
func TryDial(wsURL, token string) (*Client, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := wsURL + "?token=" + url.QueryEscape(token)
	ws, resp, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(8 << 20)
	c := &Client{ws: ws, in: make(chan Msg), done: make(chan struct{}), q: make(chan Msg, 64), stop: make(chan struct{})}
	go c.read()
	go c.pump()
	return c, resp, nil
}

func (c *Client) read() {
	for {
		// Wait here while the test holds the gate (Pause).
		c.gate.RLock()
		//lint:ignore SA2001 the lock is the wait
		c.gate.RUnlock()
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			// done before q: whoever sees the message stream end (q, then
			// in, closed) finds the connection ended.
			close(c.done)
			close(c.q)
			return
		}
		var m Msg
		if err := json.Unmarshal(b, &m); err != nil {
			m = Msg{Type: "!unparseable"}
		}
		m.Raw = string(b)
		c.q <- m
	}
}

// Send writes one frame (any JSON-marshalable value, or raw string/bytes);
// a failed write fails the test.
func (c *Client) Send(v any) {
	c.t.Helper()
	if err := c.TrySend(v); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// TrySend is Send returning the write's error, for a test in which the
// server may close the connection while the client is still sending.
func (c *Client) TrySend(v any) error {
	c.t.Helper()
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.frameLimit > 0 && len(b) > c.frameLimit {
		return c.writeFragmented(ctx, b)
	}
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// writeFragmented sends one text message as frames of at most frameLimit
// bytes (each Write of a message writer is one frame).
func (c *Client) writeFragmented(ctx context.Context, b []byte) error {
	w, err := c.ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		n := min(len(b), c.frameLimit)
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return w.Close()
}

// SendBinary writes a binary frame.
func (c *Client) SendBinary(b []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		c.t.Fatalf("write binary: %v", err)
	}
}

// Next returns the next frame, failing the test after timeout.
func (c *Client) Next(timeout time.Duration) Msg {
	c.t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			c.t.Fatalf("connection closed while waiting for a frame: %v", c.closeErr())
		}
		return m
	case <-time.After(timeout):
		c.t.Fatalf("no frame within %v", timeout)
	}
	return Msg{}
}

// Expect returns the next frame that satisfies match, skipping others for
// which skip returns true; any other frame fails the test.
func (c *Client) Expect(what string, match func(Msg) bool) Msg {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		m := c.Next(left)
		if match(m) {
			return m
		}
	}
}

// ExpectType waits for a frame of type typ, skipping frames of other types.
func (c *Client) ExpectType(typ string) Msg {
	c.t.Helper()
	return c.Expect(typ, func(m Msg) bool { return m.Type == typ })
}

// ExpectReply waits for the answer to client id (ack, error, joined, pong).
func (c *Client) ExpectReply(id string) Msg {
	c.t.Helper()
	return c.Expect("reply to "+id, func(m Msg) bool { return m.ID == id })
}

// Quiet asserts that no frame of type typ arrives within d.
func (c *Client) Quiet(typ string, d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				return
			}
			if m.Type == typ {
				c.t.Fatalf("unexpected %s: %s", typ, m.Raw)
			}
		case <-deadline:
			return
		}
	}
}

// ExpectClose waits for the server to close the connection and returns
// the close code.
func (c *Client) ExpectClose(timeout time.Duration) websocket.StatusCode {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case _, ok := <-c.in:
			if !ok {
				return websocket.CloseStatus(c.closeErr())
			}
		case <-deadline:
			c.t.Fatalf("connection not closed within %v", timeout)
		}
	}
}

func (c *Client) closeErr() error {
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return errors.New("closed")
	}
	return c.err
}

// Close closes the client normally.
func (c *Client) Close() { _ = c.ws.Close(websocket.StatusNormalClosure, "") }

// Join joins room (with since when >= 0) and returns the joined frame.
func (c *Client) Join(room string, since int64) Msg {
	c.t.Helper()
	f := map[string]any{"type": "join", "room": room, "id": "j-" + room}
	if since >= 0 {
		f["since"] = since
	}
	c.Send(f)
	m := c.ExpectReply("j-" + room)
	if m.Type != "joined" {
		c.t.Fatalf("join %s: %s", room, m.Raw)
	}
	return m
}

// Say sends chat.send with id and returns the ack.
func (c *Client) Say(room, id, text string) Msg {
	c.t.Helper()
	c.Send(map[string]any{"type": "chat.send", "room": room, "id": id, "data": map[string]string{"text": text}})
	m := c.ExpectReply(id)
	if m.Type != "ack" || m.Seq == 0 {
		c.t.Fatalf("chat.send %s: %s", id, m.Raw)
	}
	return m
}

func text(m Msg) string {
	var d struct{ Text string }
	_ = json.Unmarshal(m.Data, &d)
	return d.Text
}

// Ping sends a WebSocket ping and waits for the pong.
func (c *Client) Ping(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.ws.Ping(ctx)
}
