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
		var r refusalJSON
		if json.Unmarshal([]byte(toString(value)), &r) == nil && r.Code != "" {
			return core.DedupeAnswer{Code: r.Code, Message: r.Message}, true, nil
		}
	}
	return core.DedupeAnswer{}, false, fmt.Errorf("unexpected %v %v", status, value)
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
