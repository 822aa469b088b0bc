package wsserver

import "time"

// backlog tracks how long a connection's inbound queue has gone without
// emptying, as its reader sees it (Options.ShedAfter). The reader handles
// one frame at a time; when it asks for the next one and it is already
// there (in the reader's buffer or the socket), the queue was not empty.
// The kernel does not say whether a read found data or waited for it, so
// the reader times each frame read: one that took waitedMin or more waited
// (the goroutine parked until data came), one that returned sooner found
// its frame waiting.
//
// The queue is taken to be non-empty since the first read that found a
// frame waiting: the frame may have arrived earlier, while the previous
// one was handled, so the age is under- never overestimated, and a frame
// is shed only when the node has really been behind on the connection
// for ShedAfter.
type backlog struct {
	since time.Time // zero: the last read waited (the queue was empty)
}

// waitedMin is the shortest read that counts as having waited for its
// frame: parking and waking a goroutine takes longer than this, a read
// that finds data in the buffer or the socket much less. A read slowed
// by the scheduler past it is taken for a wait, which errs towards not
// shedding.
const waitedMin = 50 * time.Microsecond

// observe records a frame read that started at start and returned at end
// and reports whether the frame is to be shed: the queue has not emptied
// for more than after (after <= 0: never).
//
// late is how late the runtime currently wakes a reader whose socket is
// ready (wakeProbe; 0 when unknown). A read that waited found the socket
// empty, but its frame may have come long before the reader ran: on a
// node short of CPU, the wake-up is where frames wait. Such a frame is
// taken to have waited min(the read's wait, late), and the queue to have
// been non-empty since then; once that is more than after, it and the
// frames read behind it are shed, until a read waits again with little
// lateness.
func (q *backlog) observe(start, end time.Time, after, late time.Duration) bool {
	if waited := end.Sub(start); waited >= waitedMin {
		age := min(waited, late)
		if after <= 0 || age <= after {
			q.since = time.Time{}
			return false
		}
		q.since = end.Add(-age)
		return true
	}
	if q.since.IsZero() {
		q.since = start
		return false
	}
	return after > 0 && end.Sub(q.since) > after
}
