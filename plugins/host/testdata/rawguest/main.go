// Command rawguest implements the classgate ABI by hand, without the SDK,
// and misbehaves on purpose according to its config: {"mode":"status"}
// returns an unknown status, {"mode":"oob"} passes an out-of-range pointer,
// {"mode":"namespace"} emits into another namespace, {"mode":"ok"} emits a
// well-formed event.
package main

import (
	"strings"
	"unsafe"
)

//go:wasmimport classgate_v1 emit
func emit(flags, kind uint32, tp unsafe.Pointer, tn uint32, yp unsafe.Pointer, yn uint32, dp unsafe.Pointer, dn uint32) int32

// emitRaw is the same import with plain offsets, to pass a bad pointer.
//
//go:wasmimport classgate_v1 emit
func emitRaw(flags, kind, tp, tn, yp, yn, dp, dn uint32) int32

//go:wasmexport classgate_abi_version_1
func version() {}

var (
	buf  []byte
	mode string
)

//go:wasmexport cg_alloc
func alloc(n uint32) unsafe.Pointer {
	buf = make([]byte, n)
	return unsafe.Pointer(&buf[0])
}

//go:wasmexport cg_init
func initPlugin(p unsafe.Pointer, n uint32) int32 {
	cfg := string(unsafe.Slice((*byte)(p), n))
	for _, m := range []string{"status", "oob", "namespace", "ok"} {
		if strings.Contains(cfg, `"`+m+`"`) {
			mode = m
		}
	}
	return 0
}

//go:wasmexport cg_handle
func handle(p unsafe.Pointer, n uint32) int32 {
	typ := "raw.event"
	data := "{}"
	switch mode {
	case "status":
		return 77
	case "oob":
		emitRaw(0, 0, 0, 0, 0xfffffff0, 64, 0, 0)
		return 0
	case "namespace":
		typ = "chat.message"
	}
	emit(1, 0, nil, 0, unsafe.Pointer(unsafe.StringData(typ)), uint32(len(typ)), unsafe.Pointer(unsafe.StringData(data)), uint32(len(data)))
	return 0
}

func main() {}
