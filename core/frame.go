package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/classgate/classgate/core/eventtype"
)

// Limits of the wire format (PROTOCOL v1.1). They are part of the
// contract, not configuration; docs/PROTOCOL.md quotes them.
const (
	// MaxIDLen is the longest client message id the protocol allows.
	MaxIDLen = 64
	// MaxRoomLen is the longest room id, in bytes of UTF-8.
	MaxRoomLen = 256
	// MaxTypeLen is the longest event type, in bytes.
	MaxTypeLen = eventtype.MaxLen
)

// MaxEpochLen is the longest epoch a client may send on join (the stores
// make epochs of 16 characters).
const MaxEpochLen = 64

// Frame is one client-to-server frame of PROTOCOL v1.
type Frame struct {
	Type  string          `json:"type"`
	Room  string          `json:"room,omitempty"`
	ID    string          `json:"id,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
	Since *uint64         `json:"since,omitempty"`
	// Epoch is the room's epoch the client's since belongs to (from its
	// last joined or resync), on join only.
	Epoch string `json:"epoch,omitempty"`
}

// ParseFrame decodes and validates one client frame: the whole frame must
// be valid UTF-8 JSON, the room id and the type must follow ValidRoom and
// the type grammar. On error it returns the client id when it could be
// recovered, so the error can carry it.
func ParseFrame(b []byte) (Frame, *Error) {
	var f Frame
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return f, Errf(CodeBadRequest, "frame must be a JSON object")
	}
	if !utf8.Valid(b) {
		// encoding/json would accept it: it copies raw bytes into data
		// and replaces them in strings. Nothing of it may be relayed.
		return Frame{ID: FrameID(b)}, Errf(CodeBadRequest, "frame is not valid UTF-8")
	}
	if err := json.Unmarshal(b, &f); err != nil {
		// Recover the id if it is there, so the client can correlate.
		f = Frame{ID: FrameID(b)}
		return f, Errf(CodeBadRequest, "invalid frame: %s", jsonErr(err))
	}
	if len(f.ID) > MaxIDLen {
		f.ID = ""
		return f, Errf(CodeBadRequest, "id longer than %d characters", MaxIDLen)
	}
	if f.Type == "" {
		return f, Errf(CodeBadRequest, "type is required")
	}
	if !validFrameType(f.Type) {
		return f, Errf(CodeBadRequest, "type must be join, leave, ping or <namespace>.<action> of a-z, 0-9, _ and -, at most %d bytes", MaxTypeLen)
	}
	if f.Room != "" && !ValidRoom(f.Room) {
		return f, Errf(CodeBadRequest, "room must be 1-%d bytes of UTF-8 without control characters", MaxRoomLen)
	}
	if f.Since != nil && f.Type != "join" {
		return f, Errf(CodeBadRequest, "since is only allowed on join")
	}
	if f.Epoch != "" && f.Type != "join" {
		return f, Errf(CodeBadRequest, "epoch is only allowed on join")
	}
	if len(f.Epoch) > MaxEpochLen {
		return f, Errf(CodeBadRequest, "epoch longer than %d characters", MaxEpochLen)
	}
	return f, nil
}

// ValidRoom reports whether room is a valid room id: 1 to MaxRoomLen bytes
// of UTF-8 with no control characters.
func ValidRoom(room string) bool {
	if room == "" || len(room) > MaxRoomLen || !utf8.ValidString(room) {
		return false
	}
	for _, r := range room {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// ValidType reports whether t is a valid event type "<namespace>.<action>":
// both parts non-empty, of lower-case ASCII letters, digits, '_' and '-',
// at most MaxTypeLen bytes in all. It is the one rule for client frames,
// plugin emits and replies, and system messages (Router.Broadcast).
func ValidType(t string) bool { return eventtype.Valid(t) }

// validFrameType accepts what a client may send as a type: a valid event
// type, or a single word of the same alphabet (join, leave, ping, or an
// unknown control type, which is answered unknown_type).
func validFrameType(t string) bool {
	if ValidType(t) {
		return true
	}
	if len(t) > MaxTypeLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidJSON reports whether b is one valid JSON value in valid UTF-8
// (json.Valid alone accepts invalid UTF-8 inside strings).
func ValidJSON(b []byte) bool {
	return utf8.Valid(b) && json.Valid(b)
}

// FrameID returns the client id of a frame that is refused before it is
// parsed (rate limited, too large), so every id still gets its answer. It
// returns "" when the frame has no valid id.
func FrameID(b []byte) string {
	var probe struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(b, &probe) != nil || len(probe.ID) > MaxIDLen {
		return ""
	}
	return probe.ID
}

func jsonErr(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Sprintf("field %q must be %s", te.Field, kindName(te.Type.Kind().String()))
	}
	return err.Error()
}

func kindName(k string) string {
	switch k {
	case "ptr", "uint64":
		return "a non-negative integer"
	}
	return "a " + k
}

// Out is a server-to-client control frame: joined, ack, error, pong or
// resync. Optional fields are omitted when empty; Seq is a pointer so that
// a seq of 0 is still sent where the contract requires one (joined,
// resync) and left out where there is none (an ack of an ephemeral frame).
type Out struct {
	Type         string          `json:"type"`
	Room         string          `json:"room,omitempty"`
	ID           string          `json:"id,omitempty"`
	Seq          *uint64         `json:"seq,omitempty"`
	TS           int64           `json:"ts,omitempty"`
	ConnectionID ConnID          `json:"connection_id,omitempty"`
	User         *User           `json:"user,omitempty"`
	Features     []string        `json:"features,omitempty"`
	From         *User           `json:"from,omitempty"`
	Data         json.RawMessage `json:"data,omitempty"`
	Code         Code            `json:"code,omitempty"`
	Message      string          `json:"message,omitempty"`
	// Epoch is the room's epoch on joined and resync.
	Epoch string `json:"epoch,omitempty"`
}

// SeqOf returns a pointer to seq, for Out.Seq.
func SeqOf(seq uint64) *uint64 { return &seq }

// Encode marshals o. Out contains only marshalable fields; Data must be
// valid JSON, which the router guarantees.
func (o *Out) Encode() []byte {
	b, err := json.Marshal(o)
	if err != nil {
		// Data was not valid JSON: never send a broken frame.
		o.Data = nil
		b, _ = json.Marshal(o)
	}
	return b
}

// EncodeEvent is the wire form of a room event.
func EncodeEvent(e *Event) []byte {
	// Hand-rolled: this runs once per event per node on the hot path.
	buf := make([]byte, 0, 96+len(e.Data)+len(e.Room)+len(e.Type))
	buf = append(buf, `{"type":`...)
	buf = appendJSONString(buf, e.Type)
	buf = append(buf, `,"room":`...)
	buf = appendJSONString(buf, e.Room)
	if e.Seq > 0 {
		buf = append(buf, `,"seq":`...)
		buf = strconv.AppendUint(buf, e.Seq, 10)
	}
	buf = append(buf, `,"ts":`...)
	buf = strconv.AppendInt(buf, e.TS, 10)
	if e.From != nil {
		fb, _ := json.Marshal(e.From)
		buf = append(buf, `,"from":`...)
		buf = append(buf, fb...)
	}
	// data is always there: an emit without data is sent as {}, so a
	// client can read event.data.x without checking for it first.
	buf = append(buf, `,"data":`...)
	if len(e.Data) > 0 {
		buf = append(buf, e.Data...)
	} else {
		buf = append(buf, "{}"...)
	}
	return append(buf, '}')
}

// appendJSONString appends s as a JSON string. It is the gateway's one
// string encoder for hand-built frames: printable ASCII without quotes or
// backslashes is copied as is, anything else goes through encoding/json
// (which escapes control characters and replaces invalid UTF-8).
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}
