// Package abi holds the constants and the call-record codec of the classgate
// host↔guest WebAssembly ABI, version 1. ABI.md beside this file is the
// normative description; this package is its Go transcription for the host
// (plugins/host) and for tools (cmd/classgate-plugin).
//
// The guest SDK (plugins/sdk) keeps its own private copy of these numbers so
// that it depends on the standard library only; a test in plugins/sdk checks
// that both copies agree.
package abi
