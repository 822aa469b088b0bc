// Package admintest is a small client of the operations API for tests
// (end-to-end tests of cmd/gateway and adapters/admin): every call is
// bounded in time and returns decoded answers.
package admintest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/classgate/classgate/adapters/admin"
)

// Client calls one admin listener with a token. The zero Timeout means 10s.
type Client struct {
	// Base is the admin listener's origin, e.g. "http://127.0.0.1:9091".
	Base    string
	Token   string
	Timeout time.Duration
	// HTTP is the client used (default http.DefaultClient).
	HTTP *http.Client
}

// Error is a non-2xx answer.
type Error struct {
	Status int
	Body   string
}

func (e *Error) Error() string { return fmt.Sprintf("admin: HTTP %d: %s", e.Status, e.Body) }

// Do sends one request (body marshalled as JSON when not nil) and decodes
// a 2xx answer into out (when not nil). Non-2xx answers are *Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("admin: %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return fmt.Errorf("admin: %s %s: %w", method, path, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 {
		return &Error{Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("admin: %s %s: decode %q: %w", method, path, b, err)
		}
	}
	return nil
}

// Stats returns GET /admin/stats.
func (c *Client) Stats(ctx context.Context) (admin.StatsResponse, error) {
	var r admin.StatsResponse
	return r, c.Do(ctx, "GET", "/admin/stats", nil, &r)
}

// Rooms returns GET /admin/rooms.
func (c *Client) Rooms(ctx context.Context) ([]admin.RoomInfo, error) {
	var r admin.RoomsResponse
	err := c.Do(ctx, "GET", "/admin/rooms", nil, &r)
	return r.Rooms, err
}

// Presence returns GET /admin/rooms/{room}/presence.
func (c *Client) Presence(ctx context.Context, room string) (admin.PresenceResponse, error) {
	var r admin.PresenceResponse
	return r, c.Do(ctx, "GET", "/admin/rooms/"+url.PathEscape(room)+"/presence", nil, &r)
}

// Kick calls POST /admin/kick and returns how many connections closed.
func (c *Client) Kick(ctx context.Context, user, room string) (int, error) {
	var r admin.KickResponse
	err := c.Do(ctx, "POST", "/admin/kick", admin.KickRequest{User: user, Room: room}, &r)
	return r.Closed, err
}

// KickAll calls POST /admin/kick and returns the whole answer (nodes that
// carried it out, unanswered nodes).
func (c *Client) KickAll(ctx context.Context, user, room string) (admin.KickResponse, error) {
	var r admin.KickResponse
	return r, c.Do(ctx, "POST", "/admin/kick", admin.KickRequest{User: user, Room: room}, &r)
}

// Message calls POST /admin/rooms/{room}/message and returns the seq.
func (c *Client) Message(ctx context.Context, room, typ string, data any) (uint64, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return 0, fmt.Errorf("admin: message data: %w", err)
	}
	var r admin.MessageResponse
	err = c.Do(ctx, "POST", "/admin/rooms/"+url.PathEscape(room)+"/message", admin.MessageRequest{Type: typ, Data: raw}, &r)
	return r.Seq, err
}

// Drain calls POST /admin/drain.
func (c *Client) Drain(ctx context.Context) (admin.DrainResponse, error) {
	var r admin.DrainResponse
	return r, c.Do(ctx, "POST", "/admin/drain", nil, &r)
}

// DrainNode calls POST /admin/drain for node: another node's id, or "*"
// for every node.
func (c *Client) DrainNode(ctx context.Context, node string) (admin.DrainResponse, error) {
	var r admin.DrainResponse
	return r, c.Do(ctx, "POST", "/admin/drain", admin.DrainRequest{Node: node}, &r)
}

// Reload calls POST /admin/reload.
func (c *Client) Reload(ctx context.Context) error {
	return c.Do(ctx, "POST", "/admin/reload", nil, nil)
}

// Metrics returns the text of GET /metrics on the admin listener.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", c.Base+"/metrics", nil)
	if err != nil {
		return "", err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("admin: GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return "", &Error{Status: resp.StatusCode, Body: string(b)}
	}
	return string(b), nil
}
