// Command chat is the classgate chat plugin (namespace "chat"), built to
// WebAssembly:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o chat.wasm ./plugins/chat
//
// Frames (PROTOCOL.md, "The three classroom plugins"):
//
//	chat.send {text}  → durable chat.message {text} to the room; the text is
//	                    trimmed, empty or too long texts are rejected
//	chat.typing {}    → ephemeral chat.typing {} to the others
//	(join)            → reply chat.history {messages:[{seq,ts,from,text}…]}, the
//	                    last N messages, oldest first, as many of them as
//	                    fit in max_history_bytes (the oldest are left out)
//
// A history entry's ts is the host's wall clock (milliseconds since the Unix
// epoch, WASI clock_time_get) when the plugin handled the send; the
// broadcast's ts is the gateway's clock when the event was committed, a
// moment later (so the two may differ by a few milliseconds). Entries stored
// before ts was kept have none.
//
// The history is bounded twice: at most N messages of at most max_length
// characters each are kept, and the reply carries the newest of them that
// fit in max_history_bytes, so a newcomer always gets its history.
//
// Config (all optional):
//
//	max_length         int  longest text in characters (Unicode code points), default 2000
//	history            int  messages kept for newcomers (N), default 50, at most 1000; 0 disables
//	max_history_bytes  int  largest chat.history data in bytes, default
//	                        sdk.DefaultJoinStateBytes (960 KiB), at most
//	                        sdk.MaxJoinStateBytes
//
// State: "n" holds the count of messages ever sent (decimal); "m:<slot>"
// holds message number k in slot k mod N, as its seq (8 bytes, big endian)
// followed by its JSON. A newcomer's history sorts the slots by seq, so a
// change of N across reloads keeps the last N correct.
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/classgate/classgate/plugins/abi/jsonlite"
	"github.com/classgate/classgate/plugins/sdk"
)

func init() {
	sdk.Register(New)
	// The standard traffic, run once before the host snapshots a fresh
	// instance, so instances reset to it start warm (sdk.Warmup).
	sdk.Warmup(
		sdk.Sample{Action: "send", Data: `{"text":"warm-up message"}`},
		sdk.Sample{Action: "typing", Data: `{}`},
		sdk.Sample{Hook: sdk.HookJoin},
	)
}

func main() {}

// Defaults of the settings (docs/PROTOCOL.md quotes them; a test checks it
// does).
const (
	defaultMaxLength       = 2000
	defaultHistory         = 50
	defaultMaxHistoryBytes = sdk.DefaultJoinStateBytes
)

// now is the clock of history entries, in Unix milliseconds (a variable
// for tests).
var now = func() int64 { return time.Now().UnixMilli() }

// minHistoryBytes is the smallest max_history_bytes accepted: room for one
// message of a few kilobytes.
const minHistoryBytes = 16 << 10

type chat struct {
	maxLength       int
	history         int
	maxHistoryBytes int
	slotKeys        []string // "m:0" … "m:<history-1>"
	buf             []byte   // reused for every output (the host copies it)
}

// New builds the chat handler from its config.
func New(cfg sdk.Config) (sdk.Handler, error) {
	maxLength, err := cfg.Int("max_length", defaultMaxLength)
	if err != nil {
		return nil, err
	}
	history, err := cfg.Int("history", defaultHistory)
	if err != nil {
		return nil, err
	}
	maxHistoryBytes, err := cfg.Int("max_history_bytes", defaultMaxHistoryBytes)
	if err != nil {
		return nil, err
	}
	if maxHistoryBytes < minHistoryBytes || maxHistoryBytes > sdk.MaxJoinStateBytes {
		return nil, errors.New("chat: max_history_bytes must be between " + strconv.Itoa(minHistoryBytes) + " and " + strconv.Itoa(sdk.MaxJoinStateBytes))
	}
	if maxLength < 1 {
		return nil, errors.New("chat: max_length must be at least 1")
	}
	if history < 0 || history > 1000 {
		return nil, errors.New("chat: history must be between 0 and 1000")
	}
	p := &chat{maxLength: maxLength, history: history, maxHistoryBytes: maxHistoryBytes, slotKeys: make([]string, history)}
	for i := range p.slotKeys {
		p.slotKeys[i] = "m:" + strconv.Itoa(i)
	}
	return p.handle, nil
}

func (p *chat) handle(c *sdk.Call) error {
	switch c.Hook {
	case sdk.HookJoin:
		return c.Reply("history", p.historyJSON(c))
	case sdk.HookLeave:
		return nil
	}
	switch c.Action {
	case "send":
		return p.send(c)
	case "typing":
		return c.Send(sdk.ToOthers(), "typing", []byte("{}"))
	}
	return c.Reject("unknown type " + c.Type)
}

func (p *chat) send(c *sdk.Call) error {
	if jsonlite.KindOf(c.Data) != jsonlite.Object {
		return c.Reject("data must be an object {text}")
	}
	text, ok, err := jsonlite.LookupString(c.Data, "text")
	if errors.Is(err, jsonlite.ErrType) || (err == nil && !ok) {
		return c.Reject("text must be a string")
	}
	if err != nil {
		return c.Reject("data must be an object {text}")
	}
	text = bytes.TrimSpace(text)
	if len(text) == 0 {
		return c.Reject("empty message")
	}
	if len(text) > p.maxLength && utf8.RuneCount(text) > p.maxLength {
		return c.Reject("message too long (max " + strconv.Itoa(p.maxLength) + " characters)")
	}
	// One buffer: [8-byte seq][history entry JSON][chat.message JSON], so the
	// escaped text is built once and copied.
	seq := c.Seq + 1 // the broadcast is this call's first durable event
	buf := binary.BigEndian.AppendUint64(p.buf[:0], seq)
	buf = append(buf, `{"seq":`...)
	buf = strconv.AppendUint(buf, seq, 10)
	buf = append(buf, `,"ts":`...)
	buf = strconv.AppendInt(buf, now(), 10)
	buf = append(buf, `,"from":`...)
	buf = c.Sender.AppendJSON(buf)
	buf = append(buf, `,"text":`...)
	textStart := len(buf)
	buf = jsonlite.AppendString(buf, text)
	textEnd := len(buf)
	buf = append(buf, '}')
	entryEnd := len(buf)
	buf = append(buf, `{"text":`...)
	buf = append(buf, buf[textStart:textEnd]...)
	buf = append(buf, '}')
	p.buf = buf
	if err := c.Broadcast("message", buf[entryEnd:]); err != nil {
		return err
	}
	if p.history == 0 {
		return nil
	}
	var n uint64
	if raw, ok := c.Get("n"); ok {
		n, _ = strconv.ParseUint(string(raw), 10, 64)
	}
	if err := c.Set(p.slotKeys[n%uint64(p.history)], buf[:entryEnd]); err != nil {
		return err
	}
	return c.Set("n", strconv.AppendUint(buf[entryEnd:entryEnd], n+1, 10))
}

// historyJSON builds {"messages":[…]} from the slots, oldest first: the
// newest messages whose reply fits in maxHistoryBytes (size is exact).
func (p *chat) historyJSON(c *sdk.Call) []byte {
	es := c.List("m:")
	valid := es[:0]
	for _, e := range es {
		if len(e.Value) > 8 {
			valid = append(valid, e)
		}
	}
	sort.Slice(valid, func(i, j int) bool { return string(valid[i].Value[:8]) < string(valid[j].Value[:8]) })
	if len(valid) > p.history {
		valid = valid[len(valid)-p.history:]
	}
	// Newest first, keep what fits: {"messages":[ m , m ]}.
	size := len(`{"messages":[]}`)
	first := len(valid)
	for first > 0 {
		n := len(valid[first-1].Value) - 8
		if first < len(valid) {
			n++ // the comma
		}
		if size+n > p.maxHistoryBytes {
			break
		}
		size += n
		first--
	}
	valid = valid[first:]
	out := make([]byte, 0, size)
	out = append(out, `{"messages":[`...)
	for i, e := range valid {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e.Value[8:]...)
	}
	return append(out, "]}"...)
}
