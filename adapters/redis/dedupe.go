package redis

import (
	"context"
	"encoding/json"
	"fmt"

	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/classgate/classgate/core"
)

// refuseScript remembers a refusal unless a commit used the key or an
// earlier refusal is remembered.
//
// KEYS: 1 dedupe key (dd), 2 refusal key (dr). ARGV: 1 refusal JSON, 2 TTL ms.
var refuseScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2])
return 1
`)

// dedupeScript looks a dedupe key up: the commit that used it, else the
// refusal remembered for it.
//
// KEYS: 1 dedupe key (dd), 2 refusal key (dr). Returns {status, value} as
// snapshotScript's dedupe lookup (0 unused, 1 committed, 2 refused).
var dedupeScript = goredis.NewScript(`
local d = redis.call('GET', KEYS[1])
if d then return {1, d} end
local r = redis.call('GET', KEYS[2])
if r then return {2, r} end
return {0, ''}
`)

// Dedupe implements core.Log.
func (s *Store) Dedupe(ctx context.Context, room, key string) (core.DedupeAnswer, bool, error) {
	rk := s.k.room(room)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	reply, err := s.run(ctx, dedupeScript, []string{rk.dedupe(key), rk.refusal(key)})
	if err != nil {
		return core.DedupeAnswer{}, false, s.fail("dedupe lookup in "+room, err)
	}
	v, ok := reply.([]any)
	if !ok || len(v) != 2 {
		return core.DedupeAnswer{}, false, fmt.Errorf("redis: dedupe lookup in %s: unexpected reply %v", room, reply)
	}
	ans, found, err := dedupeAnswer(v[0], v[1])
	if err != nil {
		return core.DedupeAnswer{}, false, fmt.Errorf("redis: dedupe lookup in %s: %w", room, err)
	}
	if found && ans.Code == "" && s.o.WaitReplicas > 0 {
		if err := s.confirmDedupe(ctx, room, rk.dedupe(key)); err != nil {
			return core.DedupeAnswer{}, false, err
		}
	}
	return ans, found, nil
}

type refusalJSON struct {
	Code    core.Code `json:"code"`
	Message string    `json:"message"`
}

// dedupeAnswer decodes the dedupe status and value snapshotScript
// returns: 0 unused, 1 committed (the first seq), 2 refused (its JSON).
func dedupeAnswer(status, value any) (core.DedupeAnswer, bool, error) {
	switch toUint(status) {
	case 0:
		return core.DedupeAnswer{}, false, nil
	case 1:
		return core.DedupeAnswer{Seq: toUint(value)}, true, nil
	case 2:
		if ans, ok := refusalAnswer(value); ok {
			return ans, true, nil
		}
	}
	return core.DedupeAnswer{}, false, fmt.Errorf("unexpected %v %v", status, value)
}

// refusalAnswer decodes a refusal remembered under a dedupe key (the JSON
// RememberRefusal stored).
func refusalAnswer(value any) (core.DedupeAnswer, bool) {
	var r refusalJSON
	if json.Unmarshal([]byte(toString(value)), &r) != nil || r.Code == "" {
		return core.DedupeAnswer{}, false
	}
	return core.DedupeAnswer{Code: r.Code, Message: r.Message}, true
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
