// Package assemblyscript holds classgate's second plugin language: the
// AssemblyScript SDK (sdk/, the guest side of plugins/abi/ABI.md) and the
// poll example written with it (poll/), built by build.sh (run by
// plugins/build.sh) to plugins/embedded/wasm/<name>-as.wasm.
//
// The Go package holds only the conformance tests: they build the Go poll
// (plugins/poll) and the AssemblyScript poll from source and hold both to
// the same scenario — through the plugin host, through `classgate-plugin
// check`, and through a real gateway binary with real WebSocket clients —
// and hold the AssemblyScript module to the Go one's exact output on
// tricky and generated inputs. See README.md.
package assemblyscript
