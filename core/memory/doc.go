// Package memory is the in-memory core.Store: the default for a gateway on
// one machine and the reference the conformance suite (core/coretest) is
// written against. Everything is lost when the process exits.
//
// Rooms are freed once nothing about them can be observed any more (no
// members, no subscription, no history inside history.age, no plugin
// state, no dedupe entry inside its window), so memory after any number of
// short-lived rooms stays flat; a freed room's seq restarts at 0, which a
// client can only notice as the resync it would have got anyway (see the
// comment on freeing in memory.go and docs/OPERATIONS.md). Until then,
// idle rooms (no members, no subscription) are capped by number and by
// bytes (Options.MaxIdleRooms, MaxIdleBytes): past either, the least
// recently used is evicted and comes back, if used again, in a new epoch
// (idle.go).
package memory
