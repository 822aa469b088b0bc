package host

import (
	"sync"
	"time"

	"github.com/classgate/classgate/core"
)

// MaxBudgetEntries bounds the failure budgets the host tracks at once (one
// per sender and namespace that had a failed call in the current window).
// When the table is full, expired entries are dropped, then the newest
// failure evicts an arbitrary entry: memory stays bounded whatever the
// number of failing senders.
const MaxBudgetEntries = 1 << 16

// budgets tracks, per namespace and sender, the failed calls of the current
// window (Plugin.FailureBudget, Plugin.FailureWindow). A sender is the user
// id of the call's token, or its connection when the token has none, so a
// user's connections share one budget and reconnecting does not reset it.
type budgets struct {
	now func() time.Time

	mu sync.Mutex
	m  map[budgetKey]*budgetEntry
}

type budgetKey struct{ namespace, sender string }

type budgetEntry struct {
	start    time.Time // first failure of the window
	failures int
}

func newBudgets() *budgets {
	return &budgets{now: time.Now, m: map[budgetKey]*budgetEntry{}}
}

// spent reports whether sender has used up its budget of limit failures in
// window. limit < 0 means no budget.
func (b *budgets) spent(namespace, sender string, limit int, window time.Duration) bool {
	if limit < 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.m[budgetKey{namespace, sender}]
	if e == nil {
		return false
	}
	if b.now().Sub(e.start) >= window {
		delete(b.m, budgetKey{namespace, sender})
		return false
	}
	return e.failures >= limit
}

// charge counts one failed call of sender.
func (b *budgets) charge(namespace, sender string, limit int, window time.Duration) {
	if limit < 0 {
		return
	}
	now := b.now()
	k := budgetKey{namespace, sender}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.m[k]
	if e != nil && now.Sub(e.start) >= window {
		e = nil
	}
	if e == nil {
		if len(b.m) >= MaxBudgetEntries {
			b.evict(now, window)
		}
		e = &budgetEntry{start: now}
		b.m[k] = e
	}
	e.failures++
}

// evict drops expired entries (by window, the caller's: namespaces with
// longer windows lose theirs early, which only forgives), or one entry
// when none expired. b.mu is held.
func (b *budgets) evict(now time.Time, window time.Duration) {
	for k, e := range b.m {
		if now.Sub(e.start) >= window {
			delete(b.m, k)
		}
	}
	if len(b.m) < MaxBudgetEntries {
		return
	}
	for k := range b.m {
		delete(b.m, k)
		return
	}
}

func (b *budgets) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// isFailure reports whether an outcome counts against the sender's budget:
// the plugin failed on the sender's frame.
func isFailure(outcome string) bool {
	switch outcome {
	case OutcomeOK, OutcomeRejected, OutcomeRefused, OutcomeUnavailable:
		return false
	}
	return true
}

// senderOf is the budget key of a call's sender.
func senderOf(c *core.Call) string {
	if c.Sender.ID != "" {
		return "u:" + c.Sender.ID
	}
	return "c:" + string(c.Conn)
}
