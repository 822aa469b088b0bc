package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/classgate/classgate/core"
)

// defaultDedupeTTL applies when a commit has a dedupe key but no TTL.
const defaultDedupeTTL = 5 * time.Minute

// Commit implements core.Log with one script on the room's slot (see the
// package doc). With WaitReplicas > 0 the script is followed, on the same
// connection, by WAIT; fewer acknowledging replicas than asked is reported
// as core.ErrUnavailable.
func (s *Store) Commit(ctx context.Context, cm core.Commit) (core.CommitResult, error) {
	rk := s.k.room(cm.Room)
	keys := []string{rk.meta(), rk.hist(), rk.channel(), rk.meta(), rk.meta(), rk.members(), rk.meta()}
	dedupe := "0"
	if cm.DedupeKey != "" {
		keys[3], keys[6], dedupe = rk.dedupe(cm.DedupeKey), rk.refusal(cm.DedupeKey), "1"
	}
	ttl := cm.DedupeTTL
	if ttl <= 0 {
		ttl = defaultDedupeTTL
	}
	if len(cm.Ops) > 0 {
		keys[4] = rk.state(cm.Namespace)
	}
	check := "0"
	if cm.CheckVersion {
		check = "1"
	}
	wait := "0"
	if s.o.WaitReplicas > 0 {
		wait = "1"
	}
	args := make([]any, 0, 13+3*len(cm.Ops)+len(cm.Durable)+len(cm.Ephemeral))
	args = append(args, dedupe, ms(ttl), check, strconv.FormatUint(cm.ExpectVersion, 10),
		s.o.HistoryLimit, ms(s.o.HistoryAge), s.publish, len(cm.Ops), len(cm.Durable), len(cm.Ephemeral), core.NewEpoch(), wait,
		ms(s.o.IdleRoomTTL))
	for _, op := range cm.Ops {
		switch op.Op {
		case core.OpSet:
			args = append(args, "set", op.Key, op.Value)
		case core.OpDel:
			args = append(args, "del", op.Key, "")
		case core.OpClear:
			args = append(args, "clear", "", "")
		default:
			return core.CommitResult{}, fmt.Errorf("redis: commit to %s: unknown state op %d", cm.Room, op.Op)
		}
	}
	for _, list := range [][]core.Event{cm.Durable, cm.Ephemeral} {
		for _, e := range list {
			e.Seq = 0
			b, err := json.Marshal(e)
			if err != nil {
				return core.CommitResult{}, fmt.Errorf("redis: commit to %s: encode event: %w", cm.Room, err)
			}
			args = append(args, b)
		}
	}

	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	c, err := s.node(ctx, keys[0])
	if err != nil {
		return core.CommitResult{}, s.fail("commit to "+cm.Room, err)
	}
	var reply any
	var acked int64 = -1
	if s.o.WaitReplicas > 0 {
		reply, acked, err = s.evalWait(ctx, c, commitScript, keys, args)
	} else if s.pipe != nil {
		reply, err = s.pipe.run(ctx, commitScript, keys, args)
	} else {
		reply, err = commitScript.Run(ctx, c, keys, args...).Result()
	}
	if err != nil {
		return core.CommitResult{}, s.fail("commit to "+cm.Room, err)
	}
	v, ok := reply.([]any)
	if !ok || len(v) < 6 {
		return core.CommitResult{}, fmt.Errorf("redis: commit to %s: unexpected reply %v", cm.Room, reply)
	}
	status, first, last := toUint(v[0]), toUint(v[1]), toUint(v[2])
	res := core.CommitResult{FirstSeq: first, LastSeq: last, Epoch: toString(v[3])}
	if acked >= 0 && acked < int64(s.o.WaitReplicas) && status != 2 {
		// Applied (or applied before, for a duplicate) but not confirmed
		// on enough replicas: no ack. The client's retry with the same
		// id is deduplicated, and acknowledged once WAIT confirms it.
		return core.CommitResult{}, fmt.Errorf("redis: commit to %s: seq %d reached %d of %d replicas within %s: %w",
			cm.Room, first, acked, s.o.WaitReplicas, s.o.WaitTimeout, core.ErrUnavailable)
	}
	switch status {
	case 1:
		return res, fmt.Errorf("redis: commit to %s: %w", cm.Room, core.ErrDuplicate)
	case 2:
		// The cache was stale (another node wrote unseen): the retry
		// reads the store.
		s.cache.drop(cm.Room)
		return core.CommitResult{LastSeq: last, Epoch: res.Epoch}, fmt.Errorf("redis: commit to %s: %w", cm.Room, core.ErrConflict)
	case 3:
		var ans core.DedupeAnswer
		ok := len(v) > 6
		if ok {
			ans, ok = refusalAnswer(v[6])
		}
		if !ok {
			return core.CommitResult{}, fmt.Errorf("redis: commit to %s: unexpected refusal reply %v", cm.Room, reply)
		}
		return core.CommitResult{LastSeq: last, Epoch: res.Epoch, Refusal: ans}, fmt.Errorf("redis: commit to %s: %w", cm.Room, core.ErrRefusedBefore)
	}
	s.cache.committed(cm.Room, res.Epoch, toUint(v[4]), toUint(v[5]), last, cm.Namespace, cm.Ops)
	if first > 0 {
		s.bus.checkWentBack(ctx, keys[2], cm.Room, res)
	}
	return res, nil
}

// evalWait runs a script that writes and WAIT in one pipeline, so WAIT
// covers the script's writes (WAIT is per connection).
func (s *Store) evalWait(ctx context.Context, c *goredis.Client, sc *goredis.Script, keys []string, args []any) (any, int64, error) {
	for attempt := 0; ; attempt++ {
		var ev *goredis.Cmd
		var wait *goredis.Cmd
		_, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			ev = sc.EvalSha(ctx, p, keys, args...)
			wait = p.Do(ctx, "WAIT", s.o.WaitReplicas, ms(s.o.WaitTimeout))
			return nil
		})
		if goredis.HasErrorPrefix(ev.Err(), "NOSCRIPT") && attempt == 0 {
			// Not run (a new primary after failover, or a flushed script
			// cache): load it and go again.
			if err := sc.Load(ctx, c).Err(); err != nil {
				return nil, 0, err
			}
			continue
		}
		if ev.Err() != nil {
			return nil, 0, ev.Err()
		}
		if err != nil {
			return nil, 0, err
		}
		n, err := wait.Int64()
		if err != nil {
			return nil, 0, err
		}
		return ev.Val(), n, nil
	}
}

// newEpoch starts a new epoch for room if it is still in epoch seen with
// a seq below seenSeq (see epochScript), and returns the room's seq and
// epoch.
func (s *Store) newEpoch(ctx context.Context, room, seen string, seenSeq uint64) (uint64, string, error) {
	rk := s.k.room(room)
	reply, err := s.run(ctx, epochScript, []string{rk.meta(), rk.channel()}, seen, strconv.FormatUint(seenSeq, 10), core.NewEpoch(), s.publish)
	if err != nil {
		return 0, "", s.fail("new epoch of "+room, err)
	}
	v, ok := reply.([]any)
	if !ok || len(v) != 2 {
		return 0, "", fmt.Errorf("redis: new epoch of %s: unexpected reply %v", room, reply)
	}
	return toUint(v[0]), toString(v[1]), nil
}

// History implements core.Log.
func (s *Store) History(ctx context.Context, room string, since uint64) ([]core.Event, uint64, bool, error) {
	rk := s.k.room(room)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	reply, err := s.run(ctx, historyScript, []string{rk.meta(), rk.hist()},
		strconv.FormatUint(since, 10), ms(s.o.HistoryAge))
	if err != nil {
		return nil, 0, false, s.fail("history of "+room, err)
	}
	v, ok := reply.([]any)
	if !ok || len(v) < 3 || len(v)%2 != 1 {
		return nil, 0, false, fmt.Errorf("redis: history of %s: unexpected reply", room)
	}
	last, complete, epoch := toUint(v[0]), toUint(v[1]) == 1, toString(v[2])
	if !complete {
		return nil, last, false, nil
	}
	events := make([]core.Event, 0, len(v)/2-1)
	for i := 3; i < len(v); i += 2 {
		seq, _ := strconv.ParseUint(toString(v[i]), 10, 64)
		if seq != since+uint64(len(events))+1 {
			// Not the consecutive tail we expect (e.g. keys lost or
			// rewritten behind our back): the client must resync.
			return nil, last, false, nil
		}
		var e core.Event
		if err := json.Unmarshal([]byte(toString(v[i+1])), &e); err != nil {
			return nil, 0, false, fmt.Errorf("redis: history of %s: decode seq %d: %w", room, seq, err)
		}
		e.Seq, e.Epoch = seq, epoch
		events = append(events, e)
	}
	if since < last && uint64(len(events)) != last-since {
		return nil, last, false, nil
	}
	return events, last, true, nil
}

// Snapshot implements core.Log: seq, version and the namespaces' state are
// read by one script, so they belong to the same instant.
func (s *Store) Snapshot(ctx context.Context, room string, namespaces ...string) (core.Snapshot, error) {
	snap, _, _, err := s.SnapshotDedupe(ctx, room, "", namespaces...)
	return snap, err
}

// SnapshotDedupe implements core.Log: the snapshot and the dedupe lookup
// are one script, one round trip.
func (s *Store) SnapshotDedupe(ctx context.Context, room, key string, namespaces ...string) (core.Snapshot, core.DedupeAnswer, bool, error) {
	if key != "" && s.pipe != nil && s.o.WaitReplicas == 0 {
		// A frame with an id in a room this node is sure of: no round
		// trip before the plugin (core.Snapshot.Cached; statecache.go).
		if seq, epoch, ok := s.bus.position(room); ok {
			if snap, ok := s.cache.current(room, namespaces, seq, epoch); ok {
				return snap, core.DedupeAnswer{}, false, nil
			}
		}
	}
	rk := s.k.room(room)
	keys := make([]string, 0, 4+len(namespaces))
	lookup := "0"
	if key != "" {
		keys, lookup = append(keys, rk.meta(), rk.members(), rk.dedupe(key), rk.refusal(key)), "1"
	} else {
		keys = append(keys, rk.meta(), rk.members(), rk.meta(), rk.meta())
	}
	for _, ns := range namespaces {
		keys = append(keys, rk.state(ns))
	}
	// The states this node holds at a version (rooms it subscribes to):
	// Redis sends them only when the room is at another version.
	cached := s.bus.subscribed(room)
	var cver uint64
	var cepoch string
	var have []map[string][]byte
	if cached {
		cver, cepoch, have = s.cache.lookup(room, namespaces)
	}
	args := make([]any, 0, 5+len(namespaces))
	args = append(args, core.NewEpoch(), lookup, ms(s.o.IdleRoomTTL), "", "")
	if have != nil {
		args[3], args[4] = strconv.FormatUint(cver, 10), cepoch
	}
	for i := range namespaces {
		if have != nil && have[i] != nil {
			args = append(args, "1")
		} else {
			args = append(args, "0")
		}
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	reply, err := s.run(ctx, snapshotScript, keys, args...)
	if err != nil {
		return core.Snapshot{}, core.DedupeAnswer{}, false, s.fail("snapshot of "+room, err)
	}
	v, ok := reply.([]any)
	if !ok || len(v) != 5+len(namespaces) {
		return core.Snapshot{}, core.DedupeAnswer{}, false, fmt.Errorf("redis: snapshot of %s: unexpected reply", room)
	}
	ans, found, err := dedupeAnswer(v[3], v[4])
	if err != nil {
		return core.Snapshot{}, core.DedupeAnswer{}, false, fmt.Errorf("redis: snapshot of %s: dedupe answer: %w", room, err)
	}
	if found && ans.Code == "" && s.o.WaitReplicas > 0 {
		// A retry is acknowledged only once the replicas have what it
		// repeats, as Commit does for a duplicate.
		if err := s.confirmDedupe(ctx, room, rk.dedupe(key)); err != nil {
			return core.Snapshot{}, core.DedupeAnswer{}, false, err
		}
	}
	snap := core.Snapshot{Seq: toUint(v[0]), Version: toUint(v[1]), Epoch: toString(v[2]),
		State: make(map[string]map[string][]byte, len(namespaces))}
	for i, ns := range namespaces {
		if _, same := v[5+i].(int64); same && have != nil && have[i] != nil {
			snap.State[ns] = have[i] // unchanged since this node read or wrote it
			continue
		}
		kv, _ := v[5+i].([]any)
		m := make(map[string][]byte, len(kv)/2)
		for j := 0; j+1 < len(kv); j += 2 {
			m[toString(kv[j])] = []byte(toString(kv[j+1]))
		}
		snap.State[ns] = m
		if cached {
			s.cache.fill(room, snap.Epoch, snap.Version, snap.Seq, ns, m)
		}
	}
	return snap, ans, found, nil
}

// confirmDedupe rewrites a dedupe key (KEEPTTL) and WAITs for it on the
// replicas: the key was written by the commit it names, so once the
// replicas have the rewrite they have that commit too. Fewer acknowledging
// replicas than Options.WaitReplicas is core.ErrUnavailable.
func (s *Store) confirmDedupe(ctx context.Context, room, key string) error {
	c, err := s.node(ctx, key)
	if err != nil {
		return s.fail("confirm retry in "+room, err)
	}
	_, acked, err := s.evalWait(ctx, c, rewriteScript, []string{key}, nil)
	if err != nil {
		return s.fail("confirm retry in "+room, err)
	}
	if acked < int64(s.o.WaitReplicas) {
		return fmt.Errorf("redis: retry in %s: reached %d of %d replicas within %s: %w",
			room, acked, s.o.WaitReplicas, s.o.WaitTimeout, core.ErrUnavailable)
	}
	return nil
}

// toUint converts a script's integer or string reply.
func toUint(v any) uint64 {
	switch x := v.(type) {
	case int64:
		if x > 0 {
			return uint64(x)
		}
	case string:
		n, _ := strconv.ParseUint(x, 10, 64)
		return n
	}
	return 0
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}
