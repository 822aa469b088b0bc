// Command whiteboard is the classgate whiteboard plugin (namespace
// "whiteboard"), built to WebAssembly:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o whiteboard.wasm ./plugins/whiteboard
//
// Frames (PROTOCOL.md, "The three classroom plugins"):
//
//	whiteboard.draw {element}  → durable whiteboard.draw {element}; element is
//	                             an object with a string "id"; drawing an
//	                             existing id replaces it in place (which
//	                             needs the right to erase it)
//	whiteboard.erase {id}      → durable whiteboard.erase {id}; unknown ids
//	                             are rejected
//	whiteboard.clear {}        → durable whiteboard.clear {}; clear_roles only
//	whiteboard.cursor {x,y}    → ephemeral whiteboard.cursor {x,y} to the others
//	(join)                     → reply whiteboard.snapshot {elements:[…], seq,
//	                             can}, the board as of seq, in draw order;
//	                             can = {clear, erase_any, erase_own}: what
//	                             the joining user's role may do, so a page
//	                             offers only what the configuration allows
//
// Who may erase: the roles in erase_any_roles erase (and redraw) any
// element; everyone else erases and redraws only the elements they drew
// (the owner is the drawing user's id), or none when erase_own is false.
// Role denials (erase, redraw, clear) are refused with sdk.Forbid: the
// sender gets "forbidden".
//
// The board is bounded so that its snapshot always fits the join reply: a
// draw that would make the snapshot's data larger than max_board_bytes is
// rejected ("board too large …"), like a draw past max_elements.
//
// Config (all optional):
//
//	max_element_bytes int       largest element JSON, default 16384
//	max_points        int       most entries in element.points, default 2000
//	max_elements      int       most elements on a board, default 5000
//	max_board_bytes   int       largest snapshot data in bytes, default
//	                            sdk.DefaultJoinStateBytes (960 KiB), at most
//	                            sdk.MaxJoinStateBytes
//	clear_roles       []string  roles allowed to clear, default ["teacher"]
//	erase_any_roles   []string  roles allowed to erase anyone's elements,
//	                            default ["teacher"]
//	erase_own         bool      others may erase their own elements, default true
//
// State: "o:<16 hex order>" → element JSON (so listing "o:" yields draw
// order), "i:<id>" → its order key followed by the owner's user id, "k" →
// "<last order number> <element count> <board bytes>", where board bytes
// is the sum over elements of their length plus one (the snapshot's data
// is at most board bytes + snapshotOverhead). State written before the
// owner and the byte count were kept reads as "owner unknown" (erasable by
// erase_any_roles only) and the byte count is recomputed once.
package main

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/classgate/classgate/plugins/abi/jsonlite"
	"github.com/classgate/classgate/plugins/sdk"
)

func init() {
	sdk.Register(New)
	// The standard traffic, run once before the host snapshots a fresh
	// instance, so instances reset to it start warm (sdk.Warmup).
	sdk.Warmup(
		sdk.Sample{Action: "draw", Data: `{"element":{"id":"cg-warmup","kind":"stroke","points":[[1,2],[4,4],[7,6],[10,8]],"color":"#1e88e5","width":2}}`},
		sdk.Sample{Action: "cursor", Data: `{"x":1.5,"y":2}`},
		sdk.Sample{Hook: sdk.HookJoin},
	)
}

func main() {}

const maxIDLen = 128

// snapshotOverhead is the most the snapshot's data adds to the board
// bytes: {"elements":[ … ],"seq":<up to 20 digits>,"can":{…}}.
const snapshotOverhead = len(`{"elements":[`) + len(`],"seq":`) + 20 + len(canFalse) + len(`}`)

// canFalse is the longest "can" member of a snapshot (every right false).
const canFalse = `,"can":{"clear":false,"erase_any":false,"erase_own":false}`

// Defaults of the integer settings (docs/PROTOCOL.md quotes them; a test
// checks it does).
const (
	defaultMaxElementBytes = 16384
	defaultMaxPoints       = 2000
	defaultMaxElements     = 5000
	defaultMaxBoardBytes   = sdk.DefaultJoinStateBytes
)

// orderKeyLen is the length of an order key, "o:" + 16 hex digits.
const orderKeyLen = 18

type board struct {
	maxElementBytes int
	maxPoints       int
	maxElements     int
	maxBoardBytes   int
	clearRoles      []string
	eraseAnyRoles   []string
	eraseOwn        bool
	clearDenied     string
	eraseDenied     string
	badID           string
	tooLarge        string

	// Buffers reused across calls (calls never overlap in an instance, and
	// the host copies keys, values and event data): every guest allocation
	// costs about a microsecond.
	key, ord, ref, cnt, out []byte
}

// New builds the whiteboard handler from its config.
func New(cfg sdk.Config) (sdk.Handler, error) {
	b := &board{}
	var err error
	if b.maxElementBytes, err = cfg.Int("max_element_bytes", defaultMaxElementBytes); err != nil {
		return nil, err
	}
	if b.maxPoints, err = cfg.Int("max_points", defaultMaxPoints); err != nil {
		return nil, err
	}
	if b.maxElements, err = cfg.Int("max_elements", defaultMaxElements); err != nil {
		return nil, err
	}
	if b.maxBoardBytes, err = cfg.Int("max_board_bytes", defaultMaxBoardBytes); err != nil {
		return nil, err
	}
	if b.clearRoles, err = cfg.Strings("clear_roles", []string{"teacher"}); err != nil {
		return nil, err
	}
	if b.eraseAnyRoles, err = cfg.Strings("erase_any_roles", []string{"teacher"}); err != nil {
		return nil, err
	}
	if b.eraseOwn, err = cfg.Bool("erase_own", true); err != nil {
		return nil, err
	}
	if b.maxElementBytes < 16 || b.maxPoints < 0 || b.maxElements < 1 {
		return nil, errors.New("whiteboard: max_element_bytes must be ≥ 16, max_points ≥ 0, max_elements ≥ 1")
	}
	if minBoard := snapshotOverhead + b.maxElementBytes + 1; b.maxBoardBytes < minBoard || b.maxBoardBytes > sdk.MaxJoinStateBytes {
		return nil, errors.New("whiteboard: max_board_bytes must be between " + strconv.Itoa(minBoard) +
			" (one element of max_element_bytes) and " + strconv.Itoa(sdk.MaxJoinStateBytes) + " (what a join reply can carry)")
	}
	b.badID = "element.id must be a non-empty string of at most " + strconv.Itoa(maxIDLen) + " bytes"
	b.tooLarge = "board too large (max " + strconv.Itoa(b.maxBoardBytes) + " bytes): erase or clear first"
	b.clearDenied = only(b.clearRoles) + " can clear the board"
	b.eraseDenied = only(b.eraseAnyRoles) + " can erase or redraw other users' elements"
	if !b.eraseOwn {
		b.eraseDenied = only(b.eraseAnyRoles) + " can erase or redraw elements"
	}
	return b.handle, nil
}

// only names who may do something, for a denial: "only teachers", "only
// teacher or assistant", "nobody".
func only(rs []string) string {
	switch len(rs) {
	case 0:
		return "nobody"
	case 1:
		return "only " + rs[0] + "s"
	}
	return "only " + strings.Join(rs, " or ")
}

// mayErase reports whether the sender may erase (or redraw) an element
// whose "i:" value is ref: its order key followed by its owner's id.
func (b *board) mayErase(c *sdk.Call, ref []byte) bool {
	if slices.Contains(b.eraseAnyRoles, c.Sender.Role) {
		return true
	}
	return b.eraseOwn && len(ref) > orderKeyLen && string(ref[orderKeyLen:]) == c.Sender.ID
}

func (b *board) handle(c *sdk.Call) error {
	switch c.Hook {
	case sdk.HookJoin:
		return c.Reply("snapshot", b.snapshot(c))
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
			return c.Forbid(b.clearDenied)
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
	last, count, size := b.counters(c)
	ref, exists := c.Get(ikey)
	var orderKey []byte
	if exists {
		if len(ref) < orderKeyLen {
			return errors.New("whiteboard: corrupt state: " + ikey)
		}
		if !b.mayErase(c, ref) {
			return c.Forbid(b.eraseDenied)
		}
		orderKey = ref[:orderKeyLen]
		if old, ok := c.Get(string(orderKey)); ok {
			size -= min(size, uint64(len(old))+1)
		}
		size += uint64(len(el)) + 1
	} else {
		if count >= uint64(b.maxElements) {
			return c.Reject("board full (max " + strconv.Itoa(b.maxElements) + " elements)")
		}
		last++
		count++
		size += uint64(len(el)) + 1
		b.ord = appendHex16(append(b.ord[:0], "o:"...), last)
		orderKey = b.ord
		b.ref = append(append(b.ref[:0], b.ord...), c.Sender.ID...)
		if err := c.Set(ikey, b.ref); err != nil {
			return err
		}
	}
	if size+uint64(snapshotOverhead) > uint64(b.maxBoardBytes) {
		return c.Reject(b.tooLarge)
	}
	if err := b.setCounters(c, last, count, size); err != nil {
		return err
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
	ref, exists := c.Get("i:" + id)
	if !exists {
		return c.Reject("unknown element " + strconv.Quote(id))
	}
	if len(ref) < orderKeyLen {
		return errors.New("whiteboard: corrupt state: i:" + id)
	}
	if !b.mayErase(c, ref) {
		return c.Forbid(b.eraseDenied)
	}
	orderKey := string(ref[:orderKeyLen])
	last, count, size := b.counters(c)
	if old, ok := c.Get(orderKey); ok {
		size -= min(size, uint64(len(old))+1)
	}
	if err := c.Del(orderKey); err != nil {
		return err
	}
	if err := c.Del("i:" + id); err != nil {
		return err
	}
	if count > 0 {
		count--
	}
	if err := b.setCounters(c, last, count, size); err != nil {
		return err
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
func (b *board) snapshot(c *sdk.Call) []byte {
	es := c.List("o:")
	size := snapshotOverhead
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
	anyRole := slices.Contains(b.eraseAnyRoles, c.Sender.Role)
	out = append(out, `,"can":{"clear":`...)
	out = strconv.AppendBool(out, slices.Contains(b.clearRoles, c.Sender.Role))
	out = append(out, `,"erase_any":`...)
	out = strconv.AppendBool(out, anyRole)
	out = append(out, `,"erase_own":`...)
	out = strconv.AppendBool(out, anyRole || b.eraseOwn)
	return append(out, "}}"...)
}

// counters reads "k": the last order number, the element count and the
// board bytes, as "<last> <count> <bytes>" (one key, so a draw costs one
// read and one write). State from before the byte count was kept has two
// fields; its byte count is computed from the elements.
func (b *board) counters(c *sdk.Call) (last, count, size uint64) {
	raw, ok := c.Get("k")
	if !ok {
		return 0, 0, 0
	}
	var f [3]uint64
	n := 0
	for i := 0; i < len(raw) && n < len(f); i++ {
		if raw[i] == ' ' {
			n++
			continue
		}
		f[n] = f[n]*10 + uint64(raw[i]-'0')
	}
	if n < 2 {
		for _, e := range c.List("o:") {
			f[2] += uint64(len(e.Value)) + 1
		}
	}
	return f[0], f[1], f[2]
}

func (b *board) setCounters(c *sdk.Call, last, count, size uint64) error {
	b.cnt = strconv.AppendUint(append(strconv.AppendUint(append(strconv.AppendUint(b.cnt[:0], last, 10), ' '), count, 10), ' '), size, 10)
	return c.Set("k", b.cnt)
}

func appendHex16(dst []byte, v uint64) []byte {
	const hex = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hex[(v>>uint(shift))&0xf])
	}
	return dst
}
