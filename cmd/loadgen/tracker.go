package main

// maxMissing bounds how many missing sequence numbers one tracker
// remembers individually; beyond it, gaps are still counted but a late
// arrival of one of the forgotten numbers counts as a duplicate.
const maxMissing = 4096

// SeqTracker checks the durable events one connection receives in one
// room against the protocol's promise: seq increases by exactly one, the
// same order for every member. It is not safe for concurrent use; each
// connection's read loop owns its tracker.
//
// The zero value expects the first event to be seq 1; call Start with the
// seq from the joined frame to begin after it.
type SeqTracker struct {
	last     uint64
	started  bool
	missing  map[uint64]struct{}
	overflow uint64 // gaps not remembered in missing

	// InOrder counts events that arrived exactly as expected (last+1).
	InOrder uint64
	// Duplicates counts events whose seq was already seen.
	Duplicates uint64
	// Reorders counts events that filled an earlier gap (arrived late).
	Reorders uint64
}

// Start sets the last seq seen before live events, from a joined frame.
func (t *SeqTracker) Start(seq uint64) {
	t.last = seq
	t.started = true
}

// Restart begins again after seq, forgetting the gaps remembered so far:
// after a resync the client starts over from the seq it re-joined at, and
// what it missed before is accounted for by the resync. The counters stay.
func (t *SeqTracker) Restart(seq uint64) {
	t.last = seq
	t.started = true
	t.missing = nil
	t.overflow = 0
}

// Observe records one durable event's seq.
func (t *SeqTracker) Observe(seq uint64) {
	switch {
	case seq == t.last+1:
		t.InOrder++
		t.last = seq
	case seq > t.last:
		for s := t.last + 1; s < seq; s++ {
			if len(t.missing) >= maxMissing {
				t.overflow += seq - s
				break
			}
			if t.missing == nil {
				t.missing = make(map[uint64]struct{})
			}
			t.missing[s] = struct{}{}
		}
		t.last = seq
	default: // seq <= last
		if _, ok := t.missing[seq]; ok {
			delete(t.missing, seq)
			t.Reorders++
			return
		}
		t.Duplicates++
	}
}

// Gaps returns how many sequence numbers between the start and the last
// seq seen have not arrived.
func (t *SeqTracker) Gaps() uint64 { return uint64(len(t.missing)) + t.overflow }

// Last returns the highest seq seen (or the start).
func (t *SeqTracker) Last() uint64 { return t.last }
