package main

import (
	"bytes"
	"errors"
	"strconv"
)

// inFrame is the part of a server frame loadgen looks at. Byte slices
// alias the frame buffer and are only valid until it is reused.
type inFrame struct {
	Type []byte // the type string, unquoted (raw, escapes left as-is)
	Room []byte
	ID   []byte
	Code []byte
	Msg  []byte // error message, raw string contents
	Seq  uint64
	TS   int64  // the gateway's stamp, unix milliseconds (0 if absent)
	Data []byte // raw JSON value of data
	// Epoch is the room's seq epoch on joined and resync (PROTOCOL 1.1),
	// unquoted; empty when the gateway sends none.
	Epoch []byte
}

var errFrame = errors.New("malformed frame")

// parseFrame extracts the top-level fields loadgen needs from one server
// frame without decoding the whole object: at 60,000 deliveries a second
// on a machine the server shares, encoding/json's reflection would cost
// the load generator a good part of a core. It walks the top-level object
// and skips nested values by matching brackets outside strings.
func parseFrame(b []byte) (inFrame, error) {
	var f inFrame
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return f, errFrame
	}
	i++
	for {
		i = skipWS(b, i)
		if i < len(b) && b[i] == '}' {
			return f, nil
		}
		if i >= len(b) || b[i] != '"' {
			return f, errFrame
		}
		kEnd := stringEnd(b, i)
		if kEnd < 0 {
			return f, errFrame
		}
		key := b[i+1 : kEnd-1]
		i = skipWS(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return f, errFrame
		}
		i = skipWS(b, i+1)
		vEnd := valueEnd(b, i)
		if vEnd < 0 {
			return f, errFrame
		}
		v := b[i:vEnd]
		switch string(key) {
		case "type":
			f.Type = unquote(v)
		case "room":
			f.Room = unquote(v)
		case "id":
			f.ID = unquote(v)
		case "code":
			f.Code = unquote(v)
		case "message":
			f.Msg = unquote(v)
		case "data":
			f.Data = v
		case "epoch":
			f.Epoch = unquote(v)
		case "seq":
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				return f, errFrame
			}
			f.Seq = n
		case "ts":
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return f, errFrame
			}
			f.TS = n
		}
		i = skipWS(b, vEnd)
		if i < len(b) && b[i] == ',' {
			i++
			continue
		}
		if i < len(b) && b[i] == '}' {
			return f, nil
		}
		return f, errFrame
	}
}

func unquote(v []byte) []byte {
	if len(v) >= 2 && v[0] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string starting at b[i] == '"',
// or -1.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the index just past the JSON value starting at b[i], or
// -1. Scalars end at the next delimiter; objects and arrays at their
// matching bracket.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := stringEnd(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\r' && b[j] != '\t' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

// markerPrefix starts the marker loadgen embeds in every payload:
// "lg:<scheduled unix nanos>:<publisher>:<n>".
var markerPrefix = []byte(`"lg:`)

// findMarker finds loadgen's marker in a raw data value and returns the
// scheduled send time in unix nanoseconds it carries.
func findMarker(data []byte) (sched int64, ok bool) {
	i := bytes.Index(data, markerPrefix)
	if i < 0 {
		return 0, false
	}
	i += len(markerPrefix)
	j := i
	for j < len(data) && data[j] >= '0' && data[j] <= '9' {
		j++
	}
	if j == i || j >= len(data) || data[j] != ':' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(data[i:j]), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// parseMarker finds loadgen's marker in a raw data value and returns all
// it carries: the scheduled send time, the publishing client's index and
// the publisher's message counter.
func parseMarker(data []byte) (sched int64, pub int, n uint64, ok bool) {
	i := bytes.Index(data, markerPrefix)
	if i < 0 {
		return 0, 0, 0, false
	}
	var fields [3]uint64
	j := i + len(markerPrefix)
	for f := range fields {
		k := j
		for k < len(data) && data[k] >= '0' && data[k] <= '9' {
			k++
		}
		if k == j || k >= len(data) || (f < 2 && data[k] != ':') {
			return 0, 0, 0, false
		}
		v, err := strconv.ParseUint(string(data[j:k]), 10, 63)
		if err != nil {
			return 0, 0, 0, false
		}
		fields[f] = v
		j = k + 1
	}
	return int64(fields[0]), int(fields[1]), fields[2], true
}
