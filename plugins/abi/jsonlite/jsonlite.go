package jsonlite

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects accepted.
const MaxDepth = 64

// Errors returned by the parsers; they are wrapped with the offset of the
// problem.
var (
	// ErrSyntax reports malformed JSON.
	ErrSyntax = errors.New("jsonlite: invalid JSON")
	// ErrType reports a value of another kind than the one asked for.
	ErrType = errors.New("jsonlite: wrong type")
	// ErrDepth reports nesting deeper than MaxDepth.
	ErrDepth = errors.New("jsonlite: nesting too deep")
)

// Kind is the kind of a JSON value, by its first byte.
type Kind byte

// Kinds.
const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Array
	Object
)

// KindOf returns the kind of the raw value v (leading whitespace allowed).
// It looks at the first byte only; it does not validate v.
func KindOf(v []byte) Kind {
	i := skipSpace(v, 0)
	if i >= len(v) {
		return Invalid
	}
	switch c := v[i]; {
	case c == '{':
		return Object
	case c == '[':
		return Array
	case c == '"':
		return String
	case c == 't' || c == 'f':
		return Bool
	case c == 'n':
		return Null
	case c == '-' || (c >= '0' && c <= '9'):
		return Number
	}
	return Invalid
}

// Member is one member of an object: its unescaped key and its raw value
// (a sub-slice of the parsed input, without surrounding whitespace).
type Member struct {
	Key   string
	Value []byte
}

// Obj is a parsed JSON object: its members in input order. Duplicate keys
// are kept; Get returns the last one, like encoding/json.
type Obj []Member

// ParseObject validates that b is exactly one JSON object (with optional
// surrounding whitespace) and returns its members. Values alias b.
func ParseObject(b []byte) (Obj, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errAt(ErrType, i, "object expected")
	}
	var members Obj
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return nil, errAt(ErrSyntax, i, "member name expected")
			}
			end, esc, err := scanString(b, i)
			if err != nil {
				return nil, err
			}
			var key string
			if esc {
				if key, err = unescape(b[i+1 : end-1]); err != nil {
					return nil, err
				}
			} else {
				key = string(b[i+1 : end-1])
			}
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return nil, errAt(ErrSyntax, i, "':' expected")
			}
			i = skipSpace(b, i+1)
			vend, err := skipValue(b, i, 1)
			if err != nil {
				return nil, err
			}
			members = append(members, Member{Key: key, Value: b[i:vend]})
			i = skipSpace(b, vend)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				i++
				break
			}
			return nil, errAt(ErrSyntax, i, "',' or '}' expected")
		}
	}
	if i = skipSpace(b, i); i != len(b) {
		return nil, errAt(ErrSyntax, i, "trailing data")
	}
	if members == nil {
		members = Obj{}
	}
	return members, nil
}

// Get returns the raw value of key, or ok=false.
func (o Obj) Get(key string) (raw []byte, ok bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if o[i].Key == key {
			return o[i].Value, true
		}
	}
	return nil, false
}

// String returns the string value of key. ok is false when key is absent or
// null; err is ErrType when the value is another kind.
func (o Obj) String(key string) (s string, ok bool, err error) {
	raw, ok := o.Get(key)
	if !ok || KindOf(raw) == Null {
		return "", false, nil
	}
	s, err = Unquote(raw)
	if err != nil {
		return "", false, errKey(key, err)
	}
	return s, true, nil
}

// Number returns the numeric value of key. ok is false when key is absent or
// null; err is ErrType when the value is another kind.
func (o Obj) Number(key string) (f float64, ok bool, err error) {
	raw, ok := o.Get(key)
	if !ok || KindOf(raw) == Null {
		return 0, false, nil
	}
	if KindOf(raw) != Number {
		return 0, false, errKey(key, ErrType)
	}
	f, err = strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return 0, false, errKey(key, ErrSyntax)
	}
	return f, true, nil
}

// Bool returns the boolean value of key. ok is false when key is absent or
// null; err is ErrType when the value is another kind.
func (o Obj) Bool(key string) (v, ok bool, err error) {
	raw, ok := o.Get(key)
	if !ok || KindOf(raw) == Null {
		return false, false, nil
	}
	switch string(raw) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, false, errKey(key, ErrType)
}

// Unquote returns the Go string of the raw JSON string v.
func Unquote(v []byte) (string, error) {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '"' {
		return "", errAt(ErrType, i, "string expected")
	}
	end, esc, err := scanString(v, i)
	if err != nil {
		return "", err
	}
	if skipSpace(v, end) != len(v) {
		return "", errAt(ErrSyntax, end, "trailing data")
	}
	if !esc {
		return string(v[i+1 : end-1]), nil
	}
	return unescape(v[i+1 : end-1])
}

// Elements validates that v is one JSON array and returns its raw elements.
func Elements(v []byte) ([][]byte, error) {
	var out [][]byte
	err := eachElement(v, func(e []byte) { out = append(out, e) })
	if out == nil && err == nil {
		out = [][]byte{}
	}
	return out, err
}

// ArrayLen validates that v is one JSON array and returns its length.
func ArrayLen(v []byte) (int, error) {
	n := 0
	err := eachElement(v, func([]byte) { n++ })
	return n, err
}

func eachElement(v []byte, f func([]byte)) error {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '[' {
		return errAt(ErrType, i, "array expected")
	}
	i = skipSpace(v, i+1)
	if i < len(v) && v[i] == ']' {
		i++
	} else {
		for {
			end, err := skipValue(v, i, 1)
			if err != nil {
				return err
			}
			f(v[i:end])
			i = skipSpace(v, end)
			if i < len(v) && v[i] == ',' {
				i = skipSpace(v, i+1)
				continue
			}
			if i < len(v) && v[i] == ']' {
				i++
				break
			}
			return errAt(ErrSyntax, i, "',' or ']' expected")
		}
	}
	if i = skipSpace(v, i); i != len(v) {
		return errAt(ErrSyntax, i, "trailing data")
	}
	return nil
}

// Valid reports whether b is exactly one valid JSON value.
func Valid(b []byte) bool {
	i := skipSpace(b, 0)
	end, err := skipValue(b, i, 0)
	return err == nil && skipSpace(b, end) == len(b)
}

// AppendString appends s (a string or bytes) to dst as a JSON string, escaping '"', '\\',
// control characters, and U+2028/U+2029. Invalid UTF-8 bytes become U+FFFD.
func AppendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			if x := load8(s, i); !stringStop(x) && x&highs == 0 {
				i += 8
				continue
			}
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			i++
			continue
		}
		if c < 0x80 {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hex = "0123456789abcdef"

// SWAR helpers: test 8 bytes at once. Inside WebAssembly every loop
// iteration costs a deadline check, so skipping plain runs 8 bytes per
// iteration matters more than it would natively.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// load8 reads 8 bytes at b[i:] (the caller checks the bounds).
func load8[S ~string | ~[]byte](b S, i int) uint64 {
	return uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
		uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
}

// stringStop reports whether any of the 8 bytes in x is '"', '\\' or a
// control character (< 0x20).
func stringStop(x uint64) bool {
	q := x ^ (ones * '"')
	bs := x ^ (ones * '\\')
	return ((q-ones)&^q|(bs-ones)&^bs|(x-ones*0x20)&^x)&highs != 0
}

func decodeRune[S ~string | ~[]byte](s S) (rune, int) {
	switch v := any(s).(type) {
	case string:
		return utf8.DecodeRuneInString(v)
	case []byte:
		return utf8.DecodeRune(v)
	}
	return utf8.DecodeRuneInString(string(s))
}

// Lookup returns the raw value of key in the JSON object obj without
// allocating (unless key names are escaped). It validates obj up to the
// member it returns; found is false when obj has no such member.
func Lookup(obj []byte, key string) (raw []byte, found bool, err error) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, false, errAt(ErrType, i, "object expected")
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil, false, nil
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return nil, false, errAt(ErrSyntax, i, "member name expected")
		}
		end, esc, err := scanString(obj, i)
		if err != nil {
			return nil, false, err
		}
		var match bool
		if esc {
			k, err := unescape(obj[i+1 : end-1])
			if err != nil {
				return nil, false, err
			}
			match = k == key
		} else {
			match = string(obj[i+1:end-1]) == key
		}
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return nil, false, errAt(ErrSyntax, i, "':' expected")
		}
		i = skipSpace(obj, i+1)
		vend, err := skipValue(obj, i, 1)
		if err != nil {
			return nil, false, err
		}
		if match {
			return obj[i:vend], true, nil
		}
		i = skipSpace(obj, vend)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
			continue
		}
		if i < len(obj) && obj[i] == '}' {
			return nil, false, nil
		}
		return nil, false, errAt(ErrSyntax, i, "',' or '}' expected")
	}
}

// LookupString returns the unquoted string value of key in obj as bytes (a
// sub-slice of obj when it has no escapes). ok is false when key is absent
// or null; err is ErrType when the value is not a string.
func LookupString(obj []byte, key string) (s []byte, ok bool, err error) {
	raw, found, err := Lookup(obj, key)
	if err != nil || !found || (len(raw) > 0 && raw[0] == 'n') {
		return nil, false, err
	}
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false, errKey(key, ErrType)
	}
	inner := raw[1 : len(raw)-1]
	j := 0
	for j+8 <= len(inner) && !stringStop(load8(inner, j)) {
		j += 8
	}
	for ; j < len(inner); j++ {
		if inner[j] == '\\' {
			u, err := unescape(inner)
			return []byte(u), true, err
		}
	}
	return inner, true, nil
}

// UnquoteBytes is Unquote returning bytes: a sub-slice of v when the string
// has no escapes (no allocation), a new slice otherwise.
func UnquoteBytes(v []byte) ([]byte, error) {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '"' {
		return nil, errAt(ErrType, i, "string expected")
	}
	end, esc, err := scanString(v, i)
	if err != nil {
		return nil, err
	}
	if skipSpace(v, end) != len(v) {
		return nil, errAt(ErrSyntax, end, "trailing data")
	}
	if !esc {
		return v[i+1 : end-1], nil
	}
	s, err := unescape(v[i+1 : end-1])
	return []byte(s), err
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString scans the string starting at b[i] == '"'; end is the index
// after the closing quote.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	j := i + 1
	for j+8 <= len(b) && !stringStop(load8(b, j)) {
		j += 8
	}
	for ; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, escaped, nil
		case c == '\\':
			escaped = true
			j++
			if j >= len(b) {
				return 0, false, errAt(ErrSyntax, j, "unterminated escape")
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) || !isHex(b[j+1]) || !isHex(b[j+2]) || !isHex(b[j+3]) || !isHex(b[j+4]) {
					return 0, false, errAt(ErrSyntax, j, "bad \\u escape")
				}
				j += 4
			default:
				return 0, false, errAt(ErrSyntax, j, "bad escape")
			}
		case c < 0x20:
			return 0, false, errAt(ErrSyntax, j, "control character in string")
		}
	}
	return 0, false, errAt(ErrSyntax, len(b), "unterminated string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errAt(ErrSyntax, i, "value expected")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{' || c == '[':
		if depth >= MaxDepth {
			return 0, errAt(ErrDepth, i, "")
		}
		closeC := byte('}')
		if c == '[' {
			closeC = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closeC {
			return i + 1, nil
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return 0, errAt(ErrSyntax, i, "member name expected")
				}
				end, _, err := scanString(b, i)
				if err != nil {
					return 0, err
				}
				i = skipSpace(b, end)
				if i >= len(b) || b[i] != ':' {
					return 0, errAt(ErrSyntax, i, "':' expected")
				}
				i = skipSpace(b, i+1)
			}
			end, err := skipValue(b, i, depth+1)
			if err != nil {
				return 0, err
			}
			i = skipSpace(b, end)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == closeC {
				return i + 1, nil
			}
			return 0, errAt(ErrSyntax, i, "',' or closing bracket expected")
		}
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(b, i)
	}
	return 0, errAt(ErrSyntax, i, "unexpected character")
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errAt(ErrSyntax, i, "bad literal")
	}
	return i + len(lit), nil
}

func scanNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0, errAt(ErrSyntax, start, "bad number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, errAt(ErrSyntax, start, "bad number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, errAt(ErrSyntax, start, "bad number")
		}
	}
	return i, nil
}

// unescape decodes the inside of a JSON string that has escapes.
func unescape(s []byte) (string, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(s[i+1 : i+5])
			i += 4
			if r >= 0xD800 && r < 0xDC00 && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				r2 := hex4(s[i+3 : i+7])
				if r2 >= 0xDC00 && r2 < 0xE000 {
					r = (r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000
					i += 6
				}
			}
			out = utf8.AppendRune(out, r)
		}
	}
	return string(out), nil
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// SyntaxError is a parse error with its byte offset.
type SyntaxError struct {
	Err    error // ErrSyntax, ErrType or ErrDepth
	Offset int
	Msg    string
	Key    string // set by Obj accessors
}

func (e *SyntaxError) Error() string {
	s := e.Err.Error()
	if e.Key != "" {
		s += " for key " + strconv.Quote(e.Key)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns the sentinel.
func (e *SyntaxError) Unwrap() error { return e.Err }

func errAt(err error, off int, msg string) error {
	return &SyntaxError{Err: err, Offset: off, Msg: msg}
}

func errKey(key string, err error) error {
	var se *SyntaxError
	if errors.As(err, &se) {
		c := *se
		c.Key = key
		return &c
	}
	return &SyntaxError{Err: err, Key: key}
}
