// Command presence is the classgate presence plugin (namespace "presence"),
// built to WebAssembly:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o presence.wasm ./plugins/presence
//
// Presence is per user, not per connection (PROTOCOL.md):
//
//	(a user's first connection joins) → durable presence.join {user}
//	(a user's last connection leaves) → durable presence.leave {user}
//	presence.update {status}          → durable presence.update {user, status}
//	(every join)                      → reply presence.state {users:[…]}, each
//	                                    user once with id, name, role, status,
//	                                    the joining user included, by user id
//
// user is {id, name, role} (plus status in presence.join and the state).
//
// Config (all optional):
//
//	default_status string    status of a user who just joined, default "online"
//	statuses       []string  allowed statuses; default: any of 1–32 characters
//	                         from a-z, 0-9, '_' and '-'
//
// State: "u:<user id>" → the user's JSON {id,name,role,status}.
package main

import (
	"errors"
	"slices"

	"github.com/classgate/classgate/plugins/abi/jsonlite"
	"github.com/classgate/classgate/plugins/sdk"
)

func init() { sdk.Register(New) }

func main() {}

type presence struct {
	defaultStatus string
	statuses      []string
	buf           []byte // reused for outputs (the host copies them)
}

// New builds the presence handler from its config.
func New(cfg sdk.Config) (sdk.Handler, error) {
	p := &presence{}
	var err error
	if p.defaultStatus, err = cfg.String("default_status", "online"); err != nil {
		return nil, err
	}
	if p.statuses, err = cfg.Strings("statuses", nil); err != nil {
		return nil, err
	}
	if !validStatus(p.defaultStatus) {
		return nil, errors.New("presence: default_status must be 1–32 characters of a-z, 0-9, '_' or '-'")
	}
	return p.handle, nil
}

func (p *presence) handle(c *sdk.Call) error {
	switch c.Hook {
	case sdk.HookJoin:
		return p.join(c)
	case sdk.HookLeave:
		return p.leave(c)
	}
	if c.Action != "update" {
		return c.Reject("unknown type " + c.Type)
	}
	if jsonlite.KindOf(c.Data) != jsonlite.Object {
		return c.Reject("data must be an object {status}")
	}
	raw, ok, err := jsonlite.LookupString(c.Data, "status")
	if err != nil && !errors.Is(err, jsonlite.ErrType) {
		return c.Reject("data must be an object {status}")
	}
	status := string(raw)
	if err != nil || !ok || !validStatus(status) {
		return c.Reject("status must be 1–32 characters of a-z, 0-9, '_' or '-'")
	}
	if len(p.statuses) > 0 && !slices.Contains(p.statuses, status) {
		return c.Reject("unknown status " + status)
	}
	buf := userJSON(p.buf[:0], c.Sender, status)
	rec := len(buf)
	buf = append(buf, `{"user":`...)
	buf = c.Sender.AppendJSON(buf)
	buf = append(buf, `,"status":`...)
	buf = jsonlite.AppendString(buf, status)
	buf = append(buf, '}')
	p.buf = buf
	if err := c.Set("u:"+c.Sender.ID, buf[:rec]); err != nil {
		return err
	}
	return c.Broadcast("update", buf[rec:])
}

func (p *presence) join(c *sdk.Call) error {
	key := "u:" + c.Sender.ID
	_, known := c.Get(key)
	if c.FirstOfUser || !known {
		rec := userJSON(nil, c.Sender, p.defaultStatus)
		if err := c.Set(key, rec); err != nil {
			return err
		}
		if c.FirstOfUser {
			out := append([]byte(`{"user":`), rec...)
			if err := c.Broadcast("join", append(out, '}')); err != nil {
				return err
			}
		}
	}
	users := c.List("u:")
	size := 16
	for _, u := range users {
		size += len(u.Value) + 1
	}
	out := make([]byte, 0, size)
	out = append(out, `{"users":[`...)
	for i, u := range users {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, u.Value...)
	}
	return c.Reply("state", append(out, "]}"...))
}

func (p *presence) leave(c *sdk.Call) error {
	if c.LastOfUser {
		if err := c.Del("u:" + c.Sender.ID); err != nil {
			return err
		}
		out := append([]byte(`{"user":`), c.Sender.AppendJSON(nil)...)
		if err := c.Broadcast("leave", append(out, '}')); err != nil {
			return err
		}
	}
	if c.RoomEmpty {
		return c.Clear()
	}
	return nil
}

// userJSON appends {"id":…,"name":…,"role":…,"status":…}.
func userJSON(dst []byte, u sdk.User, status string) []byte {
	dst = u.AppendJSON(dst)
	dst = append(dst[:len(dst)-1], `,"status":`...)
	dst = jsonlite.AppendString(dst, status)
	return append(dst, '}')
}

func validStatus(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}
