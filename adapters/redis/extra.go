package redis

import (
	"context"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// scripts caches the scripts Eval ran, by source.
var scripts sync.Map // string → *goredis.Script

// Eval runs a Lua script (given by its source, run by SHA once loaded) on
// the node that serves keys[0], within OpTimeout. It lets an adapter keep
// a few keys of its own beside the store's (adapters/awsapigw keeps each
// room's delivery hand-off there); name them with RoomKey or Key so they
// share the prefix and, for a room, the room's hash slot.
func (s *Store) Eval(ctx context.Context, src string, keys []string, args ...any) (any, error) {
	sc, ok := scripts.Load(src)
	if !ok {
		sc, _ = scripts.LoadOrStore(src, goredis.NewScript(src))
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	res, err := s.run(ctx, sc.(*goredis.Script), keys, args...)
	if err != nil && err != goredis.Nil {
		return nil, s.fail("eval", err)
	}
	return res, nil
}

// RoomKey names an adapter's own key of room: under the store's prefix,
// in the room's hash slot (so one script may use it with the room's
// other keys in Cluster mode).
func (s *Store) RoomKey(room, suffix string) string { return s.k.room(room).base + ":x:" + suffix }

// Key names an adapter's own key under the store's prefix.
func (s *Store) Key(suffix string) string { return s.o.Prefix + "x:" + suffix }
