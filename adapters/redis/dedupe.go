package redis

import (
	"context"
	"encoding/json"
	"fmt"

	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/classgate/classgate/core"
)

// dedupeScript reads a dedupe key's answer: the commit's first seq, else a
// remembered refusal.
//
// KEYS: 1 dedupe key (dd), 2 refusal key (dr).
// Returns {0} unused, {1, first seq} committed, {2, refusal JSON} refused.
var dedupeScript = goredis.NewScript(`
local d = redis.call('GET', KEYS[1])
if d then return {1, d} end
local r = redis.call('GET', KEYS[2])
if r then return {2, r} end
return {0}
`)

// refuseScript remembers a refusal unless a commit used the key or an
// earlier refusal is remembered.
//
// KEYS: 1 dedupe key (dd), 2 refusal key (dr). ARGV: 1 refusal JSON, 2 TTL ms.
var refuseScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2])
return 1
`)

type refusalJSON struct {
	Code    core.Code `json:"code"`
	Message string    `json:"message"`
}

// Dedupe implements core.Log.
func (s *Store) Dedupe(ctx context.Context, room, key string) (core.DedupeAnswer, bool, error) {
	rk := s.k.room(room)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	reply, err := s.run(ctx, dedupeScript, []string{rk.dedupe(key), rk.refusal(key)})
	if err != nil {
		return core.DedupeAnswer{}, false, s.fail("dedupe in "+room, err)
	}
	v, ok := reply.([]any)
	if !ok || len(v) == 0 {
		return core.DedupeAnswer{}, false, fmt.Errorf("redis: dedupe in %s: unexpected reply %v", room, reply)
	}
	switch toUint(v[0]) {
	case 0:
		return core.DedupeAnswer{}, false, nil
	case 1:
		if len(v) == 2 {
			if s.o.WaitReplicas > 0 {
				// The original commit may have failed its WAIT: its ack is
				// only due once the replicas have it (as in Commit).
				if err := s.confirmDedupe(ctx, room, rk.dedupe(key)); err != nil {
					return core.DedupeAnswer{}, false, err
				}
			}
			return core.DedupeAnswer{Seq: toUint(v[1])}, true, nil
		}
	case 2:
		var r refusalJSON
		if len(v) == 2 && json.Unmarshal([]byte(toString(v[1])), &r) == nil && r.Code != "" {
			return core.DedupeAnswer{Code: r.Code, Message: r.Message}, true, nil
		}
	}
	return core.DedupeAnswer{}, false, fmt.Errorf("redis: dedupe in %s: unexpected reply %v", room, reply)
}

// RememberRefusal implements core.Log.
func (s *Store) RememberRefusal(ctx context.Context, room, key string, ans core.DedupeAnswer, ttl time.Duration) error {
	if ttl <= 0 {
		ttl = defaultDedupeTTL
	}
	b, err := json.Marshal(refusalJSON{Code: ans.Code, Message: ans.Message})
	if err != nil {
		return fmt.Errorf("redis: remember refusal in %s: %w", room, err)
	}
	rk := s.k.room(room)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if _, err := s.run(ctx, refuseScript, []string{rk.dedupe(key), rk.refusal(key)}, b, ms(ttl)); err != nil {
		return s.fail("remember refusal in "+room, err)
	}
	return nil
}

// rewriteScript rewrites a key with its own value and TTL, so that the WAIT
// that follows on the same connection covers it.
var rewriteScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then redis.call('SET', KEYS[1], v, 'KEEPTTL') end
return 1
`)

// confirmDedupe waits (store.redis.wait_replicas) until the replicas hold
// a dedupe key that a retry is about to be acknowledged from. WAIT counts
// the writes of its own connection, so the key is rewritten in the same
// pipeline first; fewer replicas than asked is ErrUnavailable, and the
// client's next retry tries again.
func (s *Store) confirmDedupe(ctx context.Context, room, dk string) error {
	c, err := s.node(ctx, dk)
	if err != nil {
		return s.fail("dedupe in "+room, err)
	}
	var wait *goredis.Cmd
	if _, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		rewriteScript.Eval(ctx, p, []string{dk})
		wait = p.Do(ctx, "WAIT", s.o.WaitReplicas, ms(s.o.WaitTimeout))
		return nil
	}); err != nil {
		return s.fail("dedupe in "+room, err)
	}
	n, err := wait.Int64()
	if err != nil {
		return s.fail("dedupe in "+room, err)
	}
	if n < int64(s.o.WaitReplicas) {
		return fmt.Errorf("redis: dedupe in %s: reached %d of %d replicas within %v: %w", room, n, s.o.WaitReplicas, s.o.WaitTimeout, core.ErrUnavailable)
	}
	return nil
}
