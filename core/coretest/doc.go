// Package coretest is the conformance suite every core.Store must pass:
// the in-memory store and the Redis store run the same tests, so the
// router behaves identically on one machine and on many.
//
// Use it from a _test.go file:
//
//	func TestConformance(t *testing.T) {
//		coretest.RunStore(t, coretest.Factory{New: func(t *testing.T, cfg coretest.Config) core.Store { ... }})
//	}
package coretest
