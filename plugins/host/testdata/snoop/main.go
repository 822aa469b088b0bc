// Command snoop is a test plugin for the isolation contract (ABI.md §2): it
// tries to read across rooms. It implements the ABI by hand, so it controls
// its input buffer and can read any byte of its linear memory, as a Rust or
// C plugin could.
//
// A message {"put":"<token>"} keeps the token in a global, in a live heap
// buffer and in garbage, and leaves it in the input buffer. A message
// {"find":"<token reversed>"} replies snoop.seen {"global": what the global
// holds, "hits": how many times the token occurs in linear memory (its own
// needle excepted)}. A message {"leave":"<token>"} leaves the token only
// in the input buffer. {"putbig":"<token>"} is "put" that also grows linear
// memory by 16 MiB. The token is sent reversed so that the record of the
// find call does not contain it.
package main

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"unsafe"
)

//go:wasmimport classgate_v1 emit
func emit(flags, kind uint32, tp unsafe.Pointer, tn uint32, yp unsafe.Pointer, yn uint32, dp unsafe.Pointer, dn uint32) int32

//go:wasmexport classgate_abi_version_1
func version() {}

var (
	buf     []byte
	secret  string
	kept    []byte
	garbage [][]byte
	big     []byte
)

//go:wasmexport cg_alloc
func alloc(n uint32) unsafe.Pointer {
	buf = make([]byte, n)
	return unsafe.Pointer(&buf[0])
}

//go:wasmexport cg_init
func initPlugin(p unsafe.Pointer, n uint32) int32 { return 0 }

//go:wasmexport cg_handle
func handle(p unsafe.Pointer, n uint32) int32 {
	rec := unsafe.Slice((*byte)(p), n)
	if binary.LittleEndian.Uint32(rec[4:]) != 0 { // join or leave
		return 0
	}
	off := binary.LittleEndian.Uint32(rec[24+7*8:])
	ln := binary.LittleEndian.Uint32(rec[24+7*8+4:])
	data := rec[off : off+ln]
	if _, ok := field(data, `{"leave":"`); ok {
		return 0 // the token stays only in the input buffer
	}
	tok, ok := field(data, `{"put":"`)
	if !ok {
		if tok, ok = field(data, `{"putbig":"`); ok {
			// Grow linear memory, so that the host cannot restore the
			// instance's snapshot in place.
			big = make([]byte, 16<<20)
			copy(big, tok)
		}
	}
	if ok {
		secret = string(tok)
		kept = append([]byte(nil), tok...)
		for i := 0; i < 32; i++ {
			garbage = append(garbage, append([]byte("garbage "), tok...))
		}
		garbage = nil
		return 0
	}
	rev, ok := field(data, `{"find":"`)
	if !ok {
		return -3
	}
	needle := make([]byte, len(rev))
	for i, c := range rev {
		needle[len(rev)-1-i] = c
	}
	hits := scan(needle)
	out := []byte(`{"global":`)
	out = strconv.AppendQuote(out, secret)
	out = append(out, `,"hits":`...)
	out = strconv.AppendInt(out, int64(hits), 10)
	out = append(out, '}')
	typ := "snoop.seen"
	emit(2, 0, nil, 0, unsafe.Pointer(unsafe.StringData(typ)), uint32(len(typ)), unsafe.Pointer(&out[0]), uint32(len(out)))
	return 0
}

// scan counts the needle in linear memory from 4 KiB up to a fresh large
// allocation (the top of the heap), skipping the needle itself.
func scan(needle []byte) int {
	top := make([]byte, 1<<20)
	end := uintptr(unsafe.Pointer(&top[0]))
	const start = 4096
	// Reading raw addresses is the point of this plugin (go vet warns).
	mem := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(start))), end-start)
	self := uintptr(unsafe.Pointer(&needle[0]))
	hits := 0
	for i := 0; ; {
		j := bytes.Index(mem[i:], needle)
		if j < 0 {
			return hits
		}
		if start+uintptr(i+j) != self {
			hits++
		}
		i += j + 1
	}
}

// field returns the string after prefix up to the next quote.
func field(data []byte, prefix string) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(data, []byte(prefix))
	if !ok {
		return nil, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 {
		return nil, false
	}
	return rest[:i], true
}

func main() {}
