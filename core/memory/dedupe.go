package memory

import (
	"context"
	"time"

	"github.com/classgate/classgate/core"
)

// refusal is a remembered error answer to a dedupe key.
type refusal struct {
	ans     core.DedupeAnswer
	expires time.Time
}

// dedupeAnswer returns the answer remembered for key: a commit's first
// seq, else a refusal. r.mu must be held.
func (r *room) dedupeAnswer(key string, now time.Time) (core.DedupeAnswer, bool) {
	if d, ok := r.dedupe[key]; ok && now.Before(d.expires) {
		return core.DedupeAnswer{Seq: d.seq}, true
	}
	if f, ok := r.refused[key]; ok && now.Before(f.expires) {
		return f.ans, true
	}
	return core.DedupeAnswer{}, false
}

// RememberRefusal implements core.Log.
func (s *Store) RememberRefusal(_ context.Context, name, key string, ans core.DedupeAnswer, ttl time.Duration) error {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	r := s.lockRoom(name, true)
	defer r.mu.Unlock()
	now := s.o.Now()
	if d, ok := r.dedupe[key]; ok && now.Before(d.expires) {
		return nil // a commit used the key: it is the answer
	}
	if f, ok := r.refused[key]; ok && now.Before(f.expires) {
		return nil // the first refusal stays the answer
	}
	if r.refused == nil {
		r.refused = map[string]refusal{}
	}
	if now.After(r.refusedPruneAt) {
		// Expired refusals go at most once a minute (amortised O(1)).
		for k, f := range r.refused {
			if !now.Before(f.expires) {
				delete(r.refused, k)
				s.grow(r, -refusalBytes(k, f))
			}
		}
		r.refusedPruneAt = now.Add(time.Minute)
	}
	f := refusal{ans: ans, expires: now.Add(ttl)}
	if old, ok := r.refused[key]; ok {
		s.grow(r, -refusalBytes(key, old))
	}
	r.refused[key] = f
	s.grow(r, refusalBytes(key, f))
	return nil
}

// refusalBytes is what the byte accounting charges for one refusal.
func refusalBytes(key string, f refusal) int64 {
	return int64(dedupeOverhead + len(key) + len(f.ans.Message) + len(f.ans.Code))
}
