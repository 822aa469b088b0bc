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
//	presence.lower_hand {user}        → durable presence.update {user, status}:
//	                                    the user (an id) whose status is
//	                                    hand_status gets default_status back;
//	                                    lower_roles only ("forbidden" for
//	                                    others), an ack without event when
//	                                    the hand is already down, rejected
//	                                    for a user not in the room
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
//	hand_status    string    the status of a raised hand, default "hand_raised"
//	lower_roles    []string  roles that may lower another user's hand
//	                         (presence.lower_hand), default ["teacher"]
//
// State: "u:<user id>" → the user's JSON {id,name,role,status}.
package main

import (
	"errors"
	"slices"
	"strings"

	"github.com/classgate/classgate/plugins/abi/jsonlite"
	"github.com/classgate/classgate/plugins/sdk"
)

func init() {
	sdk.Register(New)
	// The standard traffic, run once before the host snapshots a fresh
	// instance, so instances reset to it start warm (sdk.Warmup).
	sdk.Warmup(
		sdk.Sample{Hook: sdk.HookJoin},
		sdk.Sample{Action: "update", Data: `{"status":"hand_raised"}`},
		sdk.Sample{Hook: sdk.HookLeave},
	)
}

func main() {}

// Defaults of the settings (docs/PROTOCOL.md quotes them; a test checks it
// does).
const (
	defaultStatus     = "online"
	defaultHandStatus = "hand_raised"
)

// defaultLowerRoles may lower another user's hand unless lower_roles says
// otherwise.
var defaultLowerRoles = []string{"teacher"}

type presence struct {
	defaultStatus string
	handStatus    string
	lowerRoles    []string
	lowerDenied   string // the forbidden message for other roles
	statuses      []string
	buf           []byte // reused for outputs (the host copies them)
}

// New builds the presence handler from its config.
func New(cfg sdk.Config) (sdk.Handler, error) {
	p := &presence{}
	var err error
	if p.defaultStatus, err = cfg.String("default_status", defaultStatus); err != nil {
		return nil, err
	}
	if p.statuses, err = cfg.Strings("statuses", nil); err != nil {
		return nil, err
	}
	if !validStatus(p.defaultStatus) {
		return nil, errors.New("presence: default_status must be 1–32 characters of a-z, 0-9, '_' or '-'")
	}
	if p.handStatus, err = cfg.String("hand_status", defaultHandStatus); err != nil {
		return nil, err
	}
	if !validStatus(p.handStatus) || p.handStatus == p.defaultStatus {
		return nil, errors.New("presence: hand_status must be 1–32 characters of a-z, 0-9, '_' or '-', other than default_status")
	}
	if p.lowerRoles, err = cfg.Strings("lower_roles", defaultLowerRoles); err != nil {
		return nil, err
	}
	p.lowerDenied = "only " + strings.Join(p.lowerRoles, ", ") + " can lower another user's hand"
	if len(p.lowerRoles) == 0 {
		p.lowerDenied = "nobody can lower another user's hand"
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
	switch c.Action {
	case "update":
	case "lower_hand":
		return p.lowerHand(c)
	default:
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

// lowerHand sets the status of the user named by data.user back to
// default_status when it is hand_status (a teacher answering a question).
func (p *presence) lowerHand(c *sdk.Call) error {
	if !slices.Contains(p.lowerRoles, c.Sender.Role) {
		return c.Forbid(p.lowerDenied)
	}
	if jsonlite.KindOf(c.Data) != jsonlite.Object {
		return c.Reject("data must be an object {user}")
	}
	id, ok, err := jsonlite.LookupString(c.Data, "user")
	if err != nil || !ok || len(id) == 0 {
		return c.Reject("user must be a user id (a non-empty string)")
	}
	rec, known := c.Get("u:" + string(id))
	if !known {
		return c.Reject("that user is not in the room")
	}
	o, err := jsonlite.ParseObject(rec)
	if err != nil {
		return c.Reject("that user's presence record is unreadable")
	}
	if status, _, _ := o.String("status"); status != p.handStatus {
		return nil // already down: nothing to tell anyone
	}
	name, _, _ := o.String("name")
	role, _, _ := o.String("role")
	u := sdk.User{ID: string(id), Name: name, Role: role}
	buf := userJSON(p.buf[:0], u, p.defaultStatus)
	n := len(buf)
	buf = append(buf, `{"user":`...)
	buf = u.AppendJSON(buf)
	buf = append(buf, `,"status":`...)
	buf = jsonlite.AppendString(buf, p.defaultStatus)
	buf = append(buf, '}')
	p.buf = buf
	if err := c.Set("u:"+u.ID, buf[:n]); err != nil {
		return err
	}
	return c.Broadcast("update", buf[n:])
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
