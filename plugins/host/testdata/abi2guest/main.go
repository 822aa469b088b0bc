// Command abi2guest claims ABI version 2, which the host does not support.
package main

import "unsafe"

//go:wasmexport classgate_abi_version_2
func version() {}

//go:wasmexport cg_alloc
func alloc(n uint32) unsafe.Pointer { return nil }

//go:wasmexport cg_init
func initPlugin(p unsafe.Pointer, n uint32) int32 { return 0 }

//go:wasmexport cg_handle
func handle(p unsafe.Pointer, n uint32) int32 { return 0 }

func main() {}
