package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	goredis "github.com/redis/go-redis/v9"

	"github.com/classgate/classgate/core"
)

// touchBatch is the number of connections refreshed by one script call.
const touchBatch = 500

// AddConn implements core.Registry. The connection is live from now on
// (as if touched). Adding a known id replaces its info.
func (s *Store) AddConn(ctx context.Context, c core.ConnInfo) error {
	if c.Node == "" {
		c.Node = s.o.Node
	}
	info, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("redis: add conn %s: encode: %w", c.ID, err)
	}
	user, err := json.Marshal(c.User)
	if err != nil {
		return fmt.Errorf("redis: add conn %s: encode user: %w", c.ID, err)
	}
	ck := s.k.conn(string(c.ID))
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	cl, err := s.node(ctx, ck.info())
	if err != nil {
		return s.fail("add conn "+string(c.ID), err)
	}
	if err := cl.HSet(ctx, ck.info(), "info", info, "user", user, "uid", c.User.ID, "node", c.Node).Err(); err != nil {
		return s.fail("add conn "+string(c.ID), err)
	}
	if _, err := s.run(ctx, touchScript, []string{s.k.live()}, "ADD", string(c.ID)); err != nil {
		return s.fail("add conn "+string(c.ID), err)
	}
	return nil
}

// Conn implements core.Registry.
func (s *Store) Conn(ctx context.Context, id core.ConnID) (core.ConnInfo, []string, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	info, rooms, err := s.readConn(ctx, id, "info")
	if errors.Is(err, goredis.Nil) {
		return core.ConnInfo{}, nil, fmt.Errorf("redis: conn %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.ConnInfo{}, nil, s.fail("conn "+string(id), err)
	}
	var c core.ConnInfo
	if err := json.Unmarshal([]byte(info), &c); err != nil {
		return core.ConnInfo{}, nil, fmt.Errorf("redis: conn %s: decode: %w", id, err)
	}
	return c, rooms, nil
}

// readConn reads one field of a connection's hash and its sorted rooms in
// one round trip; goredis.Nil when the connection is unknown.
func (s *Store) readConn(ctx context.Context, id core.ConnID, field string) (string, []string, error) {
	ck := s.k.conn(string(id))
	cl, err := s.node(ctx, ck.info())
	if err != nil {
		return "", nil, err
	}
	var val *goredis.StringCmd
	var rooms *goredis.StringSliceCmd
	_, err = cl.Pipelined(ctx, func(p goredis.Pipeliner) error {
		val = p.HGet(ctx, ck.info(), field)
		rooms = p.SMembers(ctx, ck.rooms())
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	rs := rooms.Val()
	sort.Strings(rs)
	return val.Val(), rs, nil
}

// Join implements core.Registry. It records the room with the connection,
// then the member with the room (two slots in Cluster mode), then checks
// the connection still exists, undoing the membership if a concurrent
// RemoveConn won. Both steps are idempotent, so a Join that failed half way
// can simply be repeated.
func (s *Store) Join(ctx context.Context, room string, c core.ConnInfo) (bool, error) {
	ck, rk := s.k.conn(string(c.ID)), s.k.room(room)
	op := "join " + room + " by " + string(c.ID)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	reply, err := s.run(ctx, joinConnScript, []string{ck.info(), ck.rooms()}, room)
	if errors.Is(err, goredis.Nil) {
		return false, fmt.Errorf("redis: %s: conn: %w", op, core.ErrNotFound)
	}
	if err != nil {
		return false, s.fail(op, err)
	}
	v, _ := reply.([]any)
	if len(v) != 2 {
		return false, fmt.Errorf("redis: %s: unexpected reply %v", op, reply)
	}
	uid, user := toString(v[0]), toString(v[1])
	n, err := s.run(ctx, joinRoomScript, []string{rk.members(), rk.users(), rk.meta()}, string(c.ID), uid, user)
	if err != nil {
		return false, s.fail(op, err)
	}
	cl, err := s.node(ctx, ck.info())
	if err != nil {
		return false, s.fail(op, err)
	}
	exists, err := cl.Exists(ctx, ck.info()).Result()
	if err != nil {
		return false, s.fail(op, err)
	}
	if exists == 0 {
		if _, err := s.run(ctx, leaveRoomScript, []string{rk.members(), rk.users(), rk.meta()}, string(c.ID), ms(s.o.IdleRoomTTL)); err != nil {
			return false, s.fail(op, err)
		}
		return false, fmt.Errorf("redis: %s: conn removed meanwhile: %w", op, core.ErrNotFound)
	}
	return toUint(n) == 1, nil
}

// leaveRoom removes id from room's members and reports the departure.
func (s *Store) leaveRoom(ctx context.Context, room string, id core.ConnID) (joined, last, empty bool, err error) {
	rk := s.k.room(room)
	reply, err := s.run(ctx, leaveRoomScript, []string{rk.members(), rk.users(), rk.meta()}, string(id), ms(s.o.IdleRoomTTL))
	if err != nil {
		return false, false, false, err
	}
	v, _ := reply.([]any)
	if len(v) != 3 {
		return false, false, false, fmt.Errorf("unexpected reply %v", reply)
	}
	return toUint(v[0]) == 1, toUint(v[1]) == 1, toUint(v[2]) == 1, nil
}

// Leave implements core.Registry.
func (s *Store) Leave(ctx context.Context, room string, id core.ConnID) (core.Departure, bool, error) {
	op := "leave " + room + " by " + string(id)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	ck := s.k.conn(string(id))
	cl, err := s.node(ctx, ck.info())
	if err != nil {
		return core.Departure{Room: room}, false, s.fail(op, err)
	}
	userJSON, err := cl.HGet(ctx, ck.info(), "user").Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return core.Departure{Room: room}, false, s.fail(op, err)
	}
	joined, last, empty, err := s.leaveRoom(ctx, room, id)
	if err != nil {
		return core.Departure{Room: room}, false, s.fail(op, err)
	}
	if err := cl.SRem(ctx, ck.rooms(), room).Err(); err != nil {
		return core.Departure{Room: room}, false, s.fail(op, err)
	}
	if !joined {
		return core.Departure{Room: room}, false, nil
	}
	d := core.Departure{Room: room, LastOfUser: last, RoomEmpty: empty}
	if userJSON != "" {
		_ = json.Unmarshal([]byte(userJSON), &d.User)
	}
	return d, true, nil
}

// RemoveConn implements core.Registry. It leaves the connection's rooms one
// by one and deletes the connection last, so an interrupted removal leaves
// the connection in place (it expires and is removed again); departures
// already done are returned with the error.
func (s *Store) RemoveConn(ctx context.Context, id core.ConnID) ([]core.Departure, error) {
	op := "remove conn " + string(id)
	ck := s.k.conn(string(id))
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	user, names, err := s.readConn(ctx, id, "user")
	if errors.Is(err, goredis.Nil) {
		// Unknown: also forget a stray liveness entry, so Expired does not
		// report it forever.
		if err := s.zrem(ctx, id); err != nil {
			return nil, s.fail(op, err)
		}
		return nil, fmt.Errorf("redis: %s: %w", op, core.ErrNotFound)
	}
	if err != nil {
		return nil, s.fail(op, err)
	}
	var u core.User
	if err := json.Unmarshal([]byte(user), &u); err != nil {
		return nil, fmt.Errorf("redis: %s: decode user: %w", op, err)
	}
	done := make(map[string]bool, len(names))
	var deps []core.Departure
	leave := func(names []string) error {
		for _, room := range names {
			if done[room] {
				continue
			}
			joined, last, empty, err := s.leaveRoom(ctx, room, id)
			if err != nil {
				return s.fail(op, err)
			}
			done[room] = true
			if joined {
				deps = append(deps, core.Departure{Room: room, User: u, LastOfUser: last, RoomEmpty: empty})
			}
		}
		return nil
	}
	if err := leave(names); err != nil {
		return deps, err
	}
	reply, err := s.run(ctx, dropConnScript, []string{ck.info(), ck.rooms()})
	if err != nil {
		return deps, s.fail(op, err)
	}
	late := toStrings(reply)
	sort.Strings(late)
	if err := leave(late); err != nil {
		return deps, err
	}
	if err := s.zrem(ctx, id); err != nil {
		return deps, s.fail(op, err)
	}
	return deps, nil
}

func (s *Store) zrem(ctx context.Context, id core.ConnID) error {
	cl, err := s.node(ctx, s.k.live())
	if err != nil {
		return err
	}
	return cl.ZRem(ctx, s.k.live(), string(id)).Err()
}

// Members implements core.Registry.
func (s *Store) Members(ctx context.Context, room string) ([]core.Member, error) {
	rk := s.k.room(room)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	cl, err := s.node(ctx, rk.members())
	if err != nil {
		return nil, s.fail("members of "+room, err)
	}
	m, err := cl.HGetAll(ctx, rk.members()).Result()
	if err != nil {
		return nil, s.fail("members of "+room, err)
	}
	out := make([]core.Member, 0, len(m))
	for id, u := range m {
		mb := core.Member{Conn: core.ConnID(id)}
		if err := json.Unmarshal([]byte(u), &mb.User); err != nil {
			return nil, fmt.Errorf("redis: members of %s: decode %s: %w", room, id, err)
		}
		out = append(out, mb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Conn < out[j].Conn })
	return out, nil
}

// Touch implements core.Registry: it refreshes the given connections'
// last-seen time (server clock), in batches of 500 sent in one pipeline.
// Unknown or removed connections are ignored.
func (s *Store) Touch(ctx context.Context, ids ...core.ConnID) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	cl, err := s.node(ctx, s.k.live())
	if err != nil {
		return s.fail("touch", err)
	}
	touch := func() error {
		cmds, err := cl.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for start := 0; start < len(ids); start += touchBatch {
				end := min(start+touchBatch, len(ids))
				args := make([]any, 0, 1+end-start)
				args = append(args, "XX")
				for _, id := range ids[start:end] {
					args = append(args, string(id))
				}
				touchScript.EvalSha(ctx, p, []string{s.k.live()}, args...)
			}
			return nil
		})
		for _, c := range cmds {
			if goredis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
				return c.Err()
			}
		}
		return err
	}
	// A pipeline cannot fall back to EVAL: the script is loaded only
	// when Redis does not have it (first use, a restart, a failover), not
	// before every heartbeat — a Lambda deployment touches on every frame.
	err = touch()
	if goredis.HasErrorPrefix(err, "NOSCRIPT") {
		if err = touchScript.Load(ctx, cl).Err(); err == nil {
			err = touch()
		}
	}
	if err != nil {
		return s.fail("touch", err)
	}
	return nil
}

// Expired implements core.Registry: connections whose last heartbeat is
// older than LivenessTTL by the server's clock, oldest first.
func (s *Store) Expired(ctx context.Context, limit int) ([]core.ConnID, error) {
	if limit <= 0 {
		return nil, nil
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	reply, err := s.run(ctx, expiredScript, []string{s.k.live()}, ms(s.o.LivenessTTL), limit)
	if err != nil {
		return nil, s.fail("expired", err)
	}
	names := toStrings(reply)
	out := make([]core.ConnID, len(names))
	for i, n := range names {
		out[i] = core.ConnID(n)
	}
	return out, nil
}

func toStrings(reply any) []string {
	v, _ := reply.([]any)
	out := make([]string, 0, len(v))
	for _, x := range v {
		out = append(out, toString(x))
	}
	return out
}
