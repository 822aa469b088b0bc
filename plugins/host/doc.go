// Package host runs classgate plugins — WebAssembly modules that follow
// plugins/abi/ABI.md — in wazero and serves them to the router as
// core.Plugins.
//
// A Host is built from a Config: each namespace ("chat") maps to a plugin
// source (a file or an embedded default), its limits, its configuration
// subtree, the rooms it is enabled in, a failure policy and optionally a
// canary version served to a stable percentage of rooms.
//
// How a call runs: Handler returns a per-namespace core.Handler; its Handle
// picks the room's version (stable or canary, remembered per room until the
// room empties), borrows an instance from that version's pool, writes the
// call record into the guest, calls cg_handle under a deadline, and turns
// what the guest did through the host imports (state ops, emits, replies,
// rejection) into a core.Result. The router commits it atomically with the
// room's seq.
//
// Isolation: each module is compiled once (with an optional on-disk
// compilation cache) and instantiated per pool slot with a memory cap, no
// filesystem, network, environment or arguments, and a per-call deadline
// enforced by closing the module (wazero's WithCloseOnContextDone),
// stretched while the node's scheduler runs late (overload.go), so a call
// that waited for a CPU is not taken for a runaway one. An
// instance that traps, times out, exits or breaks the protocol is discarded
// and replaced; the call fails with an error (the router's plugin_error)
// unless the plugin's policy is "pass".
//
// Rooms: an instance serves one room at a time (ABI.md §2). A call for a
// room with no instance of its own resets another to the module's state
// after cg_init (snapshot.go): on Linux every instance maps that snapshot
// copy-on-write from a sealed memfd and a reset copies back only the pages
// the instance wrote (memory_linux.go); new instances start from the
// snapshot too. A CallObserver gets every call's outcome and time; one
// that is also a MemoryObserver gets what each call did to memory.
//
// Concurrency: all methods are safe for concurrent use. Reload swaps the
// whole configuration atomically; calls in flight finish on the version they
// started with.
package host
