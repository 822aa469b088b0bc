package sdk

import (
	"encoding/binary"
	"runtime"
)

// Sample is a made-up call that warms a fresh instance up (Warmup).
type Sample struct {
	// Hook is HookMessage (the zero value), HookJoin or HookLeave.
	Hook Hook
	// Action is the frame's action ("send" for "chat.send"), HookMessage
	// only.
	Action string
	// Data is the frame's JSON data, HookMessage only; may be empty.
	Data string
	// Sender is who calls; the zero User stands for WarmupSender.
	Sender User
}

// WarmupSender is the sender of a Sample that names none.
var WarmupSender = User{ID: "cg-warmup", Name: "warm-up", Role: "teacher"}

var samples []Sample

// Warmup registers made-up calls the host may run through the plugin's
// Handler once, before it snapshots a fresh instance (ABI.md §4a). Every
// instance then starts from a runtime that has already served such calls
// — grown stacks, allocator caches, buffers sized — so a call on an
// instance just reset costs what it costs on a warm one (about half, for
// chat.send; plugins/README.md "Warm-up").
//
// The calls are for room "" with an empty state and nobody in it, and
// everything they emit, reject or write is dropped. They run before any
// real call, so the snapshot holds nothing of any room. A Handler must
// not count them as real (the ABI's rule that globals are only a cache
// covers it). Call Warmup from an init function, next to Register. A
// sample whose call fails (an error, a panic, a host error) makes the
// host log a warning and start instances cold; Harness.Warm shows it in
// a test.
func Warmup(s ...Sample) { samples = append(samples, s...) }

// warmRounds is how many times the samples run before the guest's
// collector does, and once more after it (which refills the allocator
// caches a collection empties).
const warmRounds = 2

// warmUp runs every registered sample warmRounds times, collects garbage
// (so calls after a reset do not start near the next collection), and runs
// them once more. It returns the first status other than statusOK.
func warmUp(h Handler, c *Call, namespace string, e env) int32 {
	recs := make([][]byte, len(samples))
	for i, s := range samples {
		recs[i] = s.record(namespace)
	}
	for round := 0; round <= warmRounds; round++ {
		if round == warmRounds {
			runtime.GC()
		}
		for _, rec := range recs {
			if st := dispatch(h, c, rec, e); st != statusOK {
				return st
			}
		}
	}
	return statusOK
}

// record encodes s as the host would encode such a call.
func (s Sample) record(namespace string) []byte {
	u := s.Sender
	if u == (User{}) {
		u = WarmupSender
	}
	typ := ""
	var flags uint32
	switch s.Hook {
	case HookMessage:
		typ = namespace + "." + s.Action
	case HookJoin:
		flags = flagFirstOfUser
	case HookLeave:
		flags = flagLastOfUser
	}
	fields := [numFields]string{namespace, typ, "", "cg-warmup", u.ID, u.Name, u.Role, s.Data}
	return encodeRecord(uint32(s.Hook), flags, 0, &fields)
}

// encodeRecord encodes a call record (ABI.md §5).
func encodeRecord(hook, flags uint32, seq uint64, fields *[numFields]string) []byte {
	b := make([]byte, recordHeaderSize)
	binary.LittleEndian.PutUint32(b[0:], recordVersion)
	binary.LittleEndian.PutUint32(b[4:], hook)
	binary.LittleEndian.PutUint32(b[8:], flags)
	binary.LittleEndian.PutUint64(b[16:], seq)
	off := recordHeaderSize
	for i, f := range fields {
		binary.LittleEndian.PutUint32(b[24+8*i:], uint32(off))
		binary.LittleEndian.PutUint32(b[28+8*i:], uint32(len(f)))
		off += len(f)
	}
	for _, f := range fields {
		b = append(b, f...)
	}
	return b
}
