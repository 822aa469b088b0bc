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

// Dedupe implements core.Log: a commit's key first, then a refusal.
func (s *Store) Dedupe(_ context.Context, name, key string) (core.DedupeAnswer, bool, error) {
	r := s.lockRoom(name, false)
	if r == nil {
		return core.DedupeAnswer{}, false, nil
	}
	defer r.mu.Unlock()
	now := s.o.Now()
	if d, ok := r.dedupe[key]; ok && now.Before(d.expires) {
		return core.DedupeAnswer{Seq: d.seq}, true, nil
	}
	if f, ok := r.refused[key]; ok && now.Before(f.expires) {
		return f.ans, true, nil
	}
	return core.DedupeAnswer{}, false, nil
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
