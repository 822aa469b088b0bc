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
//	(join)            → reply chat.history {messages:[{seq,from,text}…]}, the
//	                    last N messages, oldest first
//
// Config (all optional):
//
//	max_length  int  longest text in characters (Unicode code points), default 2000
//	history     int  messages kept for newcomers (N), default 50; 0 disables
//
// State: "n" holds the count of messages ever sent (decimal); "m:<slot>"
// holds message number k in slot k mod N, as the 16 hex digits of its seq
// followed by its JSON. A newcomer's history sorts the slots by seq, so a
// change of N across reloads keeps the last N correct.
package main

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/classgate/classgate/plugins/sdk"
	"github.com/classgate/classgate/plugins/sdk/jsonlite"
)

func init() { sdk.Register(New) }

func main() {}

type chat struct {
	maxLength int
	history   int
}

// New builds the chat handler from its config.
func New(cfg sdk.Config) (sdk.Handler, error) {
	maxLength, err := cfg.Int("max_length", 2000)
	if err != nil {
		return nil, err
	}
	history, err := cfg.Int("history", 50)
	if err != nil {
		return nil, err
	}
	if maxLength < 1 {
		return nil, errors.New("chat: max_length must be at least 1")
	}
	if history < 0 || history > 1000 {
		return nil, errors.New("chat: history must be between 0 and 1000")
	}
	p := &chat{maxLength: maxLength, history: history}
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
	obj, err := c.Object()
	if err != nil {
		return c.Reject("data must be an object {text}")
	}
	text, ok, err := obj.String("text")
	if err != nil || !ok {
		return c.Reject("text must be a string")
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return c.Reject("empty message")
	}
	if utf8.RuneCountInString(text) > p.maxLength {
		return c.Reject("message too long (max " + strconv.Itoa(p.maxLength) + " characters)")
	}
	msg := make([]byte, 0, len(text)+12)
	msg = append(msg, `{"text":`...)
	msg = jsonlite.AppendString(msg, text)
	msg = append(msg, '}')
	if err := c.Broadcast("message", msg); err != nil {
		return err
	}
	if p.history == 0 {
		return nil
	}
	// The broadcast is this call's first durable event, so it gets Seq+1.
	seq := c.Seq + 1
	var n uint64
	if raw, ok := c.Get("n"); ok {
		n, _ = strconv.ParseUint(string(raw), 10, 64)
	}
	entry := make([]byte, 0, 16+len(msg)+96)
	entry = appendHex16(entry, seq)
	entry = append(entry, `{"seq":`...)
	entry = strconv.AppendUint(entry, seq, 10)
	entry = append(entry, `,"from":`...)
	entry = c.Sender.AppendJSON(entry)
	entry = append(entry, `,"text":`...)
	entry = jsonlite.AppendString(entry, text)
	entry = append(entry, '}')
	if err := c.Set("m:"+strconv.FormatUint(n%uint64(p.history), 10), entry); err != nil {
		return err
	}
	return c.Set("n", strconv.AppendUint(nil, n+1, 10))
}

// historyJSON builds {"messages":[…]} from the slots, oldest first.
func (p *chat) historyJSON(c *sdk.Call) []byte {
	es := c.List("m:")
	valid := es[:0]
	for _, e := range es {
		if len(e.Value) > 16 {
			valid = append(valid, e)
		}
	}
	sort.Slice(valid, func(i, j int) bool { return string(valid[i].Value[:16]) < string(valid[j].Value[:16]) })
	if len(valid) > p.history {
		valid = valid[len(valid)-p.history:]
	}
	size := 16
	for _, e := range valid {
		size += len(e.Value) - 15
	}
	out := make([]byte, 0, size)
	out = append(out, `{"messages":[`...)
	for i, e := range valid {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e.Value[16:]...)
	}
	return append(out, "]}"...)
}

func appendHex16(dst []byte, v uint64) []byte {
	const hex = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hex[(v>>uint(shift))&0xf])
	}
	return dst
}
