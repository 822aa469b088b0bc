package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// MaxIDLen is the longest client message id the protocol allows.
const MaxIDLen = 64

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

// ParseFrame decodes and validates one client frame. On error it returns
// the client id when it could be recovered, so the error can carry it.
func ParseFrame(b []byte) (Frame, *Error) {
	var f Frame
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return f, Errf(CodeBadRequest, "frame must be a JSON object")
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

// Out is a server-to-client frame. Fields are omitted when empty, so one
// type encodes joined, ack, error, pong, resync and room events.
type Out struct {
	Type         string          `json:"type"`
	Room         string          `json:"room,omitempty"`
	ID           string          `json:"id,omitempty"`
	Seq          uint64          `json:"seq,omitempty"`
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
	buf = strconv.AppendQuote(buf, e.Type)
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
	if len(e.Data) > 0 {
		buf = append(buf, `,"data":`...)
		buf = append(buf, e.Data...)
	}
	return append(buf, '}')
}

func appendJSONString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(buf, b...)
}
