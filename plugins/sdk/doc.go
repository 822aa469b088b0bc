// Package sdk is what a Go classgate plugin imports. A plugin is a main
// package that registers a Factory in init and is built with the standard
// toolchain:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o chat.wasm ./plugins/chat
//
//	package main
//
//	import "github.com/classgate/classgate/plugins/sdk"
//
//	func init() { sdk.Register(New) }
//	func main() {}
//
//	func New(cfg sdk.Config) (sdk.Handler, error) {
//		return func(c *sdk.Call) error {
//			return c.Broadcast("echo", c.Data)
//		}, nil
//	}
//
// In a wasip1 build the package exports the ABI functions of
// plugins/abi/ABI.md (cg_alloc, cg_init, cg_handle, cg_warm, the version
// marker) and calls the host through the classgate_v1 imports. In any other build the
// same Call API is backed by an in-memory Harness, so the plugin's logic is
// unit-tested with plain `go test` (see NewHarness).
//
// Refusals: Call.Reject answers the sender "rejected" with a reason;
// Call.Forbid answers "forbidden", for role or token rules (a student
// clearing the board). Both drop everything else the call did.
//
// Bounds: a call's output is capped (ABI §7), so a plugin keeps its room
// state small enough that its join reply fits: at most MaxJoinStateBytes,
// by default DefaultJoinStateBytes. Refuse the write that would cross the
// bound rather than fail the joins that follow.
//
// Warm-up: calls registered with Warmup (typically the plugin's common
// frames and a join) run once, on made-up data for an empty room, before
// the host snapshots a fresh instance. The host resets an instance to
// that snapshot whenever it moves to another room, so with warm-up such a
// call costs what a call on a warm instance costs; test the samples with
// Harness.Warm.
//
// A Handler runs once per frame or hook; within one instance calls never
// overlap, but the host runs several instances, so a plugin must keep room
// data in the room state (Call.Get/Set), never in globals.
//
// Performance: inside WebAssembly with a deadline, every loop iteration and
// non-inlined call costs tens of nanoseconds. Reflection-based
// encoding/json works but costs tens of microseconds per message; the
// sibling package jsonlite does the common work (read an object's fields,
// escape strings) in a single pass.
//
// The package imports the standard library only.
package sdk
