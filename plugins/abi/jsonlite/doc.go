// Package jsonlite is a small, allocation-frugal JSON toolkit for plugins:
// split an object into its members, read strings and numbers, count array
// elements, and append escaped strings when building output.
//
// It exists because inside a WebAssembly plugin every loop iteration and
// every non-inlined call is expensive (the host checks for a deadline at each
// loop header), so reflection-based encoding/json costs tens of
// microseconds per message. jsonlite walks the input once with tight loops
// and returns sub-slices of it instead of building values.
//
// It lives beside the ABI, not in the guest SDK, because both sides read
// the ABI's JSON documents with it: guests (through plugins/sdk) and the
// plugin host (plugins/host), which imports no guest package.
//
// It imports only the standard library and works the same natively and in
// wasip1 builds. It validates the JSON grammar it walks (strings, numbers,
// literals, nesting up to MaxDepth) but not the UTF-8 of strings.
package jsonlite
