package abi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func sampleFields() [NumFields]string {
	return [NumFields]string{"chat", "chat.send", "room-1", "conn-1", "u1", "Ann é", "teacher", `{"text":"hi"}`}
}

func TestDecodeRecord(t *testing.T) {
	f := sampleFields()
	good := AppendRecord(nil, HookMessage, FlagFirstOfUser, 1<<40+7, &f)
	overlap := bytes.Clone(good)
	binary.LittleEndian.PutUint32(overlap[24:], 0) // field 0 starts inside the header
	for _, tc := range []struct {
		name string
		rec  []byte
		ok   bool
	}{
		{"good", good, true},
		{"empty", nil, false},
		{"short header", good[:RecordHeaderSize-1], false},
		{"truncated body", good[:len(good)-1], false},
		{"wrong version", append([]byte{2}, good[1:]...), false},
		{"field inside the header", overlap, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := DecodeRecord(tc.rec)
			if tc.ok {
				if err != nil || r.Hook != HookMessage || r.Flags != FlagFirstOfUser || r.Seq != 1<<40+7 || string(r.Fields[FieldUserName]) != "Ann é" || r.Size() != len(good) {
					t.Fatalf("%+v %v", r, err)
				}
				return
			}
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("err = %v, want ErrBadRecord", err)
			}
		})
	}
}

// FuzzDecodeRecord feeds arbitrary bytes to the call-record decoder: it
// never panics, every field it returns lies in the record's body, and a
// record it accepts re-encodes (fields laid out in order) to one that
// decodes to the same values.
func FuzzDecodeRecord(f *testing.F) {
	fields := sampleFields()
	f.Add(AppendRecord(nil, HookMessage, 0, 0, &fields))
	f.Add(AppendRecord(nil, HookLeave, FlagLastOfUser|FlagRoomEmpty, 1<<63, &[NumFields]string{}))
	f.Add(make([]byte, RecordHeaderSize))
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) || r != nil {
				t.Fatalf("err = %v with record %v", err, r)
			}
			return
		}
		var strs [NumFields]string
		for i, fb := range r.Fields {
			// Fields alias b: a field's offset follows from the capacities.
			if off := cap(b) - cap(fb); len(fb) > 0 && (off < RecordHeaderSize || off+len(fb) > len(b)) {
				t.Fatalf("field %d at %d+%d is outside the record body", i, off, len(fb))
			}
			strs[i] = string(fb)
		}
		again, err := DecodeRecord(AppendRecord(nil, r.Hook, r.Flags, r.Seq, &strs))
		if err != nil || again.Hook != r.Hook || again.Flags != r.Flags || again.Seq != r.Seq {
			t.Fatalf("re-encoded record: %+v %v", again, err)
		}
		for i := range strs {
			if string(again.Fields[i]) != strs[i] {
				t.Fatalf("field %d: %q after re-encoding, was %q", i, again.Fields[i], strs[i])
			}
		}
	})
}

// FuzzRecordRoundTrip: any call the host encodes decodes to the same call.
func FuzzRecordRoundTrip(f *testing.F) {
	fs := sampleFields()
	f.Add(HookMessage, uint32(0), uint64(0), fs[0], fs[1], fs[2], fs[3], fs[4], fs[5], fs[6], fs[7])
	f.Add(HookJoin, FlagFirstOfUser, uint64(1)<<63, "", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, hook, flags uint32, seq uint64, a, b, c, d, e, g, h, i string) {
		in := [NumFields]string{a, b, c, d, e, g, h, i}
		rec := AppendRecord(nil, hook, flags, seq, &in)
		r, err := DecodeRecord(rec)
		if err != nil || r.Hook != hook || r.Flags != flags || r.Seq != seq || r.Size() != len(rec) {
			t.Fatalf("%+v %v", r, err)
		}
		for k := range in {
			if string(r.Fields[k]) != in[k] {
				t.Fatalf("field %d = %q, want %q", k, r.Fields[k], in[k])
			}
		}
	})
}

