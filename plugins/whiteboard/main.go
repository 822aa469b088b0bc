// Command whiteboard is the classgate whiteboard plugin (namespace
// "whiteboard"), built to WebAssembly:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o whiteboard.wasm ./plugins/whiteboard
//
// Frames (PROTOCOL.md, "The three classroom plugins"):
//
//	whiteboard.draw {element}  → durable whiteboard.draw {element}; element is
//	                             an object with a string "id"; drawing an
//	                             existing id replaces it in place
//	whiteboard.erase {id}      → durable whiteboard.erase {id}; unknown ids
//	                             are rejected
//	whiteboard.clear {}        → durable whiteboard.clear {}; clear_roles only
//	whiteboard.cursor {x,y}    → ephemeral whiteboard.cursor {x,y} to the others
//	(join)                     → reply whiteboard.snapshot {elements:[…], seq},
//	                             the board as of seq, in draw order
//
// Config (all optional):
//
//	max_element_bytes int       largest element JSON, default 16384
//	max_points        int       most entries in element.points, default 2000
//	max_elements      int       most elements on a board, default 5000
//	clear_roles       []string  roles allowed to clear, default ["teacher"]
//
// State: "o:<16 hex order>" → element JSON (so listing "o:" yields draw
// order), "i:<id>" → its order key, "k" → "<last order number> <element
// count>".
package main

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/classgate/classgate/plugins/sdk"
	"github.com/classgate/classgate/plugins/sdk/jsonlite"
)

func init() { sdk.Register(New) }

func main() {}

const maxIDLen = 128

type board struct {
	maxElementBytes int
	maxPoints       int
	maxElements     int
	clearRoles      []string
	clearDenied     string
	badID           string

	// Buffers reused across calls (calls never overlap in an instance, and
	// the host copies keys, values and event data): every guest allocation
	// costs about a microsecond.
	key, ord, cnt, out []byte
}

// New builds the whiteboard handler from its config.
func New(cfg sdk.Config) (sdk.Handler, error) {
	b := &board{}
	var err error
	if b.maxElementBytes, err = cfg.Int("max_element_bytes", 16384); err != nil {
		return nil, err
	}
	if b.maxPoints, err = cfg.Int("max_points", 2000); err != nil {
		return nil, err
	}
	if b.maxElements, err = cfg.Int("max_elements", 5000); err != nil {
		return nil, err
	}
	if b.clearRoles, err = cfg.Strings("clear_roles", []string{"teacher"}); err != nil {
		return nil, err
	}
	if b.maxElementBytes < 16 || b.maxPoints < 0 || b.maxElements < 1 {
		return nil, errors.New("whiteboard: max_element_bytes must be ≥ 16, max_points ≥ 0, max_elements ≥ 1")
	}
	b.badID = "element.id must be a non-empty string of at most " + strconv.Itoa(maxIDLen) + " bytes"
	b.clearDenied = "only " + strings.Join(b.clearRoles, " or ") + " can clear the board"
	if len(b.clearRoles) == 1 {
		b.clearDenied = "only " + b.clearRoles[0] + "s can clear the board"
	}
	return b.handle, nil
}

func (b *board) handle(c *sdk.Call) error {
	switch c.Hook {
	case sdk.HookJoin:
		return c.Reply("snapshot", snapshot(c))
	case sdk.HookLeave:
		return nil
	}
	if c.Action == "draw" { // the hot path: no allocation while parsing
		return b.draw(c)
	}
	obj, err := c.Object()
	if err != nil {
		return c.Reject("data must be a JSON object")
	}
	switch c.Action {
	case "erase":
		return b.erase(c, obj)
	case "clear":
		if !slices.Contains(b.clearRoles, c.Sender.Role) {
			return c.Reject(b.clearDenied)
		}
		if err := c.Clear(); err != nil {
			return err
		}
		return c.Broadcast("clear", []byte("{}"))
	case "cursor":
		return cursor(c, obj)
	}
	return c.Reject("unknown type " + c.Type)
}

func (b *board) draw(c *sdk.Call) error {
	// The element is found and measured by the host (sdk.FindJSON):
	// walking a stroke's points in the guest costs ~10× more than the rest
	// of the call.
	el, _, ok, err := sdk.FindJSON(c.Data, "element")
	if err != nil || jsonlite.KindOf(c.Data) != jsonlite.Object {
		return c.Reject("data must be a JSON object")
	}
	if !ok || jsonlite.KindOf(el) != jsonlite.Object {
		return c.Reject("element must be an object")
	}
	if len(el) > b.maxElementBytes {
		return c.Reject("element too large (max " + strconv.Itoa(b.maxElementBytes) + " bytes)")
	}
	idRaw, _, ok, err := sdk.FindJSON(el, "id")
	if err != nil || !ok || jsonlite.KindOf(idRaw) != jsonlite.String {
		return c.Reject(b.badID)
	}
	idBytes, err := jsonlite.UnquoteBytes(idRaw)
	if err != nil || len(idBytes) == 0 || len(idBytes) > maxIDLen {
		return c.Reject(b.badID)
	}
	if pts, n, ok, err := sdk.FindJSON(el, "points"); err == nil && ok && jsonlite.KindOf(pts) != jsonlite.Null {
		if jsonlite.KindOf(pts) != jsonlite.Array {
			return c.Reject("element.points must be an array")
		}
		if n > b.maxPoints {
			return c.Reject("too many points (max " + strconv.Itoa(b.maxPoints) + ")")
		}
	}
	b.key = append(append(b.key[:0], "i:"...), idBytes...)
	ikey := string(b.key)
	orderKey, exists := c.Get(ikey)
	if !exists {
		last, count := b.counters(c)
		if count >= uint64(b.maxElements) {
			return c.Reject("board full (max " + strconv.Itoa(b.maxElements) + " elements)")
		}
		n := last + 1
		b.ord = appendHex16(append(b.ord[:0], "o:"...), n)
		orderKey = b.ord
		if err := b.setCounters(c, n, count+1); err != nil {
			return err
		}
		if err := c.Set(ikey, orderKey); err != nil {
			return err
		}
	}
	if err := c.Set(string(orderKey), el); err != nil {
		return err
	}
	b.out = append(append(append(b.out[:0], `{"element":`...), el...), '}')
	return c.Broadcast("draw", b.out)
}

func (b *board) erase(c *sdk.Call, obj jsonlite.Obj) error {
	id, ok, err := obj.String("id")
	if err != nil || !ok || id == "" {
		return c.Reject("id must be a non-empty string")
	}
	orderKey, exists := c.Get("i:" + id)
	if !exists {
		return c.Reject("unknown element " + strconv.Quote(id))
	}
	if err := c.Del(string(orderKey)); err != nil {
		return err
	}
	if err := c.Del("i:" + id); err != nil {
		return err
	}
	if last, count := b.counters(c); count > 0 {
		if err := b.setCounters(c, last, count-1); err != nil {
			return err
		}
	}
	out := append([]byte(`{"id":`), jsonlite.AppendString(nil, id)...)
	return c.Broadcast("erase", append(out, '}'))
}

func cursor(c *sdk.Call, obj jsonlite.Obj) error {
	x, okx := obj.Get("x")
	y, oky := obj.Get("y")
	if !okx || !oky || jsonlite.KindOf(x) != jsonlite.Number || jsonlite.KindOf(y) != jsonlite.Number {
		return c.Reject("cursor needs numbers x and y")
	}
	out := make([]byte, 0, len(x)+len(y)+14)
	out = append(out, `{"x":`...)
	out = append(out, x...)
	out = append(out, `,"y":`...)
	out = append(out, y...)
	return c.Send(sdk.ToOthers(), "cursor", append(out, '}'))
}

// snapshot builds {"elements":[…],"seq":N} in draw order.
func snapshot(c *sdk.Call) []byte {
	es := c.List("o:")
	size := 32
	for _, e := range es {
		size += len(e.Value) + 1
	}
	out := make([]byte, 0, size)
	out = append(out, `{"elements":[`...)
	for i, e := range es {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e.Value...)
	}
	out = append(out, `],"seq":`...)
	out = strconv.AppendUint(out, c.Seq, 10)
	return append(out, '}')
}

// counters reads "k": the last order number and the element count, as
// "<last> <count>" (one key, so a draw costs one read and one write).
func (b *board) counters(c *sdk.Call) (last, count uint64) {
	raw, ok := c.Get("k")
	if !ok {
		return 0, 0
	}
	i := 0
	for ; i < len(raw) && raw[i] != ' '; i++ {
		last = last*10 + uint64(raw[i]-'0')
	}
	for i++; i < len(raw); i++ {
		count = count*10 + uint64(raw[i]-'0')
	}
	return last, count
}

func (b *board) setCounters(c *sdk.Call, last, count uint64) error {
	b.cnt = strconv.AppendUint(append(strconv.AppendUint(b.cnt[:0], last, 10), ' '), count, 10)
	return c.Set("k", b.cnt)
}

func appendHex16(dst []byte, v uint64) []byte {
	const hex = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hex[(v>>uint(shift))&0xf])
	}
	return dst
}
