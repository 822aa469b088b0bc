package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// RecordVersion is the layout version stored in the first word of a call
// record.
const RecordVersion = 1

// Field indexes of the string table of a call record.
const (
	FieldNamespace = iota
	FieldType
	FieldRoom
	FieldConn
	FieldUserID
	FieldUserName
	FieldUserRole
	FieldData
	NumFields
)

// RecordHeaderSize is the size of the fixed part of a call record: version,
// hook, flags, reserved, seq, then NumFields (offset, length) pairs.
const RecordHeaderSize = 24 + 8*NumFields

// Record is the decoded form of a call record. Fields are indexed by the
// Field constants.
type Record struct {
	Hook   uint32
	Flags  uint32
	Seq    uint64
	Fields [NumFields][]byte
}

// Size returns the encoded size of r.
func (r *Record) Size() int {
	n := RecordHeaderSize
	for _, f := range r.Fields {
		n += len(f)
	}
	return n
}

// AppendRecord appends the encoding of a call to dst. The strings are laid
// out after the header in field order.
func AppendRecord(dst []byte, hook, flags uint32, seq uint64, fields *[NumFields]string) []byte {
	var hdr [RecordHeaderSize]byte
	binary.LittleEndian.PutUint32(hdr[0:], RecordVersion)
	binary.LittleEndian.PutUint32(hdr[4:], hook)
	binary.LittleEndian.PutUint32(hdr[8:], flags)
	binary.LittleEndian.PutUint64(hdr[16:], seq)
	off := RecordHeaderSize
	for i, f := range fields {
		binary.LittleEndian.PutUint32(hdr[24+8*i:], uint32(off))
		binary.LittleEndian.PutUint32(hdr[28+8*i:], uint32(len(f)))
		off += len(f)
	}
	dst = append(dst, hdr[:]...)
	for _, f := range fields {
		dst = append(dst, f...)
	}
	return dst
}

// ErrBadRecord reports a malformed call record.
var ErrBadRecord = errors.New("abi: malformed call record")

// DecodeRecord parses a call record. The returned fields alias b; each lies
// within the record's body (after the header), as the SDK's decoder also
// requires.
func DecodeRecord(b []byte) (*Record, error) {
	if len(b) < RecordHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, header needs %d", ErrBadRecord, len(b), RecordHeaderSize)
	}
	if v := binary.LittleEndian.Uint32(b); v != RecordVersion {
		return nil, fmt.Errorf("%w: layout version %d", ErrBadRecord, v)
	}
	r := &Record{
		Hook:  binary.LittleEndian.Uint32(b[4:]),
		Flags: binary.LittleEndian.Uint32(b[8:]),
		Seq:   binary.LittleEndian.Uint64(b[16:]),
	}
	for i := range r.Fields {
		off := uint64(binary.LittleEndian.Uint32(b[24+8*i:]))
		n := uint64(binary.LittleEndian.Uint32(b[28+8*i:]))
		if off < RecordHeaderSize || off+n > uint64(len(b)) {
			return nil, fmt.Errorf("%w: field %d out of range", ErrBadRecord, i)
		}
		r.Fields[i] = b[off : off+n]
	}
	return r, nil
}

// AppendEntry appends one state_list entry (u32 key length, key, u32 value
// length, value) to dst.
func AppendEntry(dst []byte, key string, value []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(key)))
	dst = append(dst, key...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(value)))
	return append(dst, value...)
}
