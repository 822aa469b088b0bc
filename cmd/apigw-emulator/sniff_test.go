package main

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// clientFrame encodes a masked client frame with a payload of n bytes.
func clientFrame(fin bool, opcode byte, n int) []byte {
	var b bytes.Buffer
	h0 := opcode
	if fin {
		h0 |= 0x80
	}
	b.WriteByte(h0)
	switch {
	case n < 126:
		b.WriteByte(0x80 | byte(n))
	case n <= 0xffff:
		b.WriteByte(0x80 | 126)
		_ = binary.Write(&b, binary.BigEndian, uint16(n))
	default:
		b.WriteByte(0x80 | 127)
		_ = binary.Write(&b, binary.BigEndian, uint64(n))
	}
	b.Write([]byte{1, 2, 3, 4})
	b.Write(bytes.Repeat([]byte{0x55}, n))
	return b.Bytes()
}

func TestFrameSniffer(t *testing.T) {
	const limit = 32 << 10
	tests := []struct {
		name   string
		frames [][]byte
		over   bool
	}{
		{"small frames", [][]byte{clientFrame(true, 1, 10), clientFrame(true, 9, 0), clientFrame(true, 1, 125)}, false},
		{"16-bit lengths at the limit", [][]byte{clientFrame(false, 1, limit), clientFrame(true, 0, limit)}, false},
		{"one byte above", [][]byte{clientFrame(true, 1, 10), clientFrame(true, 1, limit+1)}, true},
		{"64-bit length", [][]byte{clientFrame(true, 2, 70000)}, true},
		{"empty final frame after fragments", [][]byte{clientFrame(false, 1, 30000), clientFrame(true, 0, 0), clientFrame(true, 1, 5)}, false},
	}
	for _, tt := range tests {
		stream := bytes.Join(tt.frames, nil)
		// Every way of cutting the stream in two, and byte by byte.
		for _, cut := range []int{0, 1, 2, 3, 7, len(stream) / 2, len(stream) - 1} {
			s := &frameSniffer{limit: limit}
			s.scan(stream[:cut])
			s.scan(stream[cut:])
			if s.oversize() != tt.over {
				t.Errorf("%s, cut at %d: oversize = %v, want %v", tt.name, cut, s.oversize(), tt.over)
			}
		}
		s := &frameSniffer{limit: limit}
		for i := range stream {
			s.scan(stream[i : i+1])
		}
		if s.oversize() != tt.over || s.remain != 0 || s.hn != 0 {
			t.Errorf("%s, byte by byte: oversize = %v (remain %d, hn %d)", tt.name, s.oversize(), s.remain, s.hn)
		}
	}
}

func TestMatchesAny(t *testing.T) {
	arn := "arn:aws:execute-api:eu-west-1:000000000000:abc/local/$connect"
	tests := []struct {
		patterns []string
		want     bool
	}{
		{[]string{arn}, true},
		{[]string{"*"}, true},
		{[]string{"arn:aws:execute-api:eu-west-1:000000000000:abc/*"}, true}, // IAM wildcards cross "/"
		{[]string{"arn:aws:execute-api:eu-west-1:000000000000:abc/local/*"}, true},
		{[]string{"arn:aws:execute-api:eu-west-1:000000000000:other/local/$connect"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := matchesAny(tt.patterns, arn); got != tt.want {
			t.Errorf("matchesAny(%q) = %v, want %v", tt.patterns, got, tt.want)
		}
	}
}
