// Package memory is the in-memory core.Store: the default for a gateway on
// one machine and the reference the conformance suite (core/coretest) is
// written against. Everything is lost when the process exits.
package memory
