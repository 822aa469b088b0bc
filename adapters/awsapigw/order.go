package awsapigw

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/classgate/classgate/core"
)

// Scripter runs Lua scripts on the deployment's Redis; *redis.Store
// (adapters/redis) implements it. The ordered hand-off keeps two keys per
// room there, in the room's hash slot (see OrderOptions).
type Scripter interface {
	Eval(ctx context.Context, src string, keys []string, args ...any) (any, error)
	RoomKey(room, suffix string) string
}

// OrderOptions configure the ordered hand-off of a room's deliveries
// across concurrent invocations. Zero values take the defaults shown.
//
// Each room has a turn in Redis (key RoomKey(room, "out"): the highest
// seq whose fan-out is done, its epoch, and the current holder with a
// lease). An invocation that committed the durable events N..M of a room
// waits until the room's fan-out reached N-1 and nobody holds the turn,
// takes it, posts (every member in parallel), records M and gives the turn
// back. A join takes the turn before it registers the member and reads the
// room's seq S, and gives it back once joined, the replay and the join
// states are posted, leaving S as the member's join mark (key
// RoomKey(room, "js")): a fan-out of an event ≤ S that was committed
// before the join but posted after it skips that member, whose join state
// or replay already had it. So every member gets the room's durable
// events after its joined seq, in seq order, without gaps, whatever
// process posts them.
type OrderOptions struct {
	// Store holds the turns; nil disables ordering (each invocation posts
	// as soon as it is done, so concurrent ones may interleave).
	Store Scripter
	// Wait bounds how long a delivery waits for its turn (2s). Past it,
	// the delivery posts anyway, and advances the room's fan-out mark: a
	// member may then see this event before an earlier one, or the earlier
	// one never (its invocation died between commit and fan-out); the
	// client's gap handling re-joins with since and the history fills it.
	// The metric OrderForced counts these.
	Wait time.Duration
	// Lease is how long a holder keeps the turn at most (5s): an
	// invocation that dies holding it blocks the room that long.
	Lease time.Duration
}

const (
	// joinMarkTTL keeps a room's join marks this long after the last
	// join (they matter only while events committed before a join are
	// still to be posted).
	joinMarkTTL = time.Hour
)

// maxOrderPoll is the longest pause between two looks at a room's turn
// while waiting for it (the pause starts at 200µs and doubles).
const maxOrderPoll = 2 * time.Millisecond

// turn is a room's delivery turn held by this invocation.
type turn struct {
	room, token string
	forced      bool
	marks       map[core.ConnID]uint64 // join marks of the recipients
}

// The turn's hash lives 7 days after its last use; a room's first join
// sets its fan-out mark to the room's seq. A post in a room whose mark
// counts in another epoch (the store lost the room's sequence) does not
// wait; one in a room without a mark (lost with Redis' data) waits for
// the room's first events, so at most once per room for OrderOptions.Wait.
//
// acquireScript takes a room's turn. KEYS: out, js. ARGV: token, lease
// ms, mode ("join" or "post"), first seq, epoch, force ("1" takes it
// whatever the state), recipients... Returns {0} (not yet) or {1, mark
// of each recipient ("" when none)}.
const acquireScript = `
local h = redis.call('HMGET', KEYS[1], 'posted', 'ep', 'holder', 'until')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[6] ~= '1' then
  if h[3] and h[3] ~= ARGV[1] and tonumber(h[4] or '0') > now then return {0} end
  if ARGV[3] == 'post' and (not h[2] or h[2] == ARGV[5]) and (tonumber(h[1]) or 0) < tonumber(ARGV[4]) - 1 then return {0} end
end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'until', now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], 604800000)
local res = {1}
if #ARGV > 6 then
  local m = redis.call('HMGET', KEYS[2], unpack(ARGV, 7))
  for i = 1, #ARGV - 6 do res[i + 1] = m[i] or '' end
end
return res`

// releaseScript gives a room's turn back. KEYS: out, js. ARGV: token,
// last seq posted (0: a join), epoch, joiner, join seq, mark TTL ms.
const releaseScript = `
local h = redis.call('HMGET', KEYS[1], 'posted', 'ep', 'holder')
if ARGV[2] ~= '0' and (h[2] ~= ARGV[3] or (tonumber(h[1]) or 0) < tonumber(ARGV[2])) then
  redis.call('HSET', KEYS[1], 'posted', ARGV[2], 'ep', ARGV[3])
end
if ARGV[4] ~= '' then
  if not h[1] then redis.call('HSET', KEYS[1], 'posted', ARGV[5]) end
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[6]))
end
if h[3] == ARGV[1] then redis.call('HDEL', KEYS[1], 'holder', 'until') end
return 1`

var _ core.Sequencer = (*Sender)(nil)

// JoinBegin implements core.Sequencer: it takes the room's turn (waiting
// at most OrderOptions.Wait) before the join registers the member.
func (s *Sender) JoinBegin(ctx context.Context, room string, id core.ConnID) error {
	b := batchFrom(ctx)
	if b == nil || b.discard {
		return nil
	}
	st := newStage(joinStage, room)
	st.joiner = id
	var err error
	if s.o.Order.Store != nil {
		st.held, err = s.acquire(ctx, room, "join", 0, "", nil)
	}
	b.openStage(st)
	return err
}

// JoinEnd implements core.Sequencer.
func (s *Sender) JoinEnd(ctx context.Context, room string, id core.ConnID, seq uint64) {
	if b := batchFrom(ctx); b != nil {
		if st := b.closeStage(joinStage, room); st != nil {
			st.joinSeq = seq
		}
	}
}

// PublishBegin implements core.Sequencer: the frames until PublishEnd are
// the fan-out of the room's durable events first..last.
func (s *Sender) PublishBegin(ctx context.Context, room string, first, last uint64, epoch string) {
	if b := batchFrom(ctx); b != nil && !b.discard {
		st := newStage(publishStage, room)
		st.first, st.last, st.epoch = first, last, epoch
		b.openStage(st)
	}
}

// PublishEnd implements core.Sequencer.
func (s *Sender) PublishEnd(ctx context.Context, room string) {
	if b := batchFrom(ctx); b != nil {
		b.closeStage(publishStage, room)
	}
}

// postStage posts one stage in its room's turn.
func (s *Sender) postStage(b *batch, st *stage) {
	if s.o.Order.Store == nil || st.kind == plainStage {
		b.post(st, nil)
		return
	}
	ctx := b.ctx
	if st.kind == publishStage {
		var recips []core.ConnID
		for _, l := range st.order {
			recips = append(recips, l.id)
		}
		t, err := s.acquire(ctx, st.room, "post", st.first, st.epoch, recips)
		if err != nil {
			s.log.Warn("ordered fan-out: no turn, posting anyway", "room", st.room, "seq", st.first, "err", err)
		}
		st.held = t
	}
	var skip func(core.ConnID, uint64) bool
	if st.held != nil && len(st.held.marks) > 0 {
		marks := st.held.marks
		skip = func(id core.ConnID, seq uint64) bool { return seq <= marks[id] }
	}
	b.post(st, skip)
	if st.held != nil {
		s.release(ctx, st)
	}
}

// release gives a stage's turn back: a publish records its last seq, a
// join leaves its member's join mark.
func (s *Sender) release(ctx context.Context, st *stage) {
	last, joiner := st.last, ""
	if st.kind == joinStage {
		last, joiner = 0, string(st.joiner)
	}
	// The turn goes back even when the invocation's context ended.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	keys := []string{s.o.Order.Store.RoomKey(st.room, "out"), s.o.Order.Store.RoomKey(st.room, "js")}
	if _, err := s.o.Order.Store.Eval(rctx, releaseScript, keys, st.held.token, strconv.FormatUint(last, 10), st.epoch,
		joiner, strconv.FormatUint(st.joinSeq, 10), joinMarkTTL.Milliseconds()); err != nil {
		s.log.Warn("ordered fan-out: turn not given back (it lapses with its lease)", "room", st.room, "err", err)
	}
}

// acquire waits for the room's turn: for a post, until the room's fan-out
// reached first-1 (in epoch) and nobody holds it; for a join, until nobody
// holds it. Past OrderOptions.Wait it takes the turn anyway (forced).
func (s *Sender) acquire(ctx context.Context, room, mode string, first uint64, epoch string, recips []core.ConnID) (*turn, error) {
	o := s.o.Order
	t := &turn{room: room, token: strconv.FormatUint(rand.Uint64(), 36)}
	keys := []string{o.Store.RoomKey(room, "out"), o.Store.RoomKey(room, "js")}
	args := []any{t.token, o.Lease.Milliseconds(), mode, strconv.FormatUint(first, 10), epoch, "0"}
	for _, id := range recips {
		args = append(args, string(id))
	}
	start := s.o.Now()
	deadline := start.Add(o.Wait)
	pause := 200 * time.Microsecond
	for {
		if !s.o.Now().Before(deadline) {
			args[5] = "1"
			t.forced = true
		}
		res, err := o.Store.Eval(ctx, acquireScript, keys, args...)
		if err != nil {
			return nil, fmt.Errorf("awsapigw: take the delivery turn of %s: %w", room, err)
		}
		arr, _ := res.([]any)
		if len(arr) == 0 {
			return nil, fmt.Errorf("awsapigw: take the delivery turn of %s: unexpected answer %v", room, res)
		}
		if n, _ := arr[0].(int64); n == 1 {
			if len(arr) > 1 {
				t.marks = make(map[core.ConnID]uint64, len(arr)-1)
				for i, v := range arr[1:] {
					if str, _ := v.(string); str != "" {
						if m, err := strconv.ParseUint(str, 10, 64); err == nil {
							t.marks[recips[i]] = m
						}
					}
				}
			}
			wait := s.o.Now().Sub(start)
			s.o.Metrics.OrderWaited(wait, t.forced)
			if t.forced {
				s.log.Warn("ordered fan-out: turn not reached in time, posting anyway", "room", room, "mode", mode, "seq", first, "waited_ms", wait.Milliseconds())
			}
			return t, nil
		}
		if err := s.o.Sleep(ctx, pause); err != nil {
			return nil, errors.Join(errors.New("awsapigw: waiting for the delivery turn"), err)
		}
		pause = min(2*pause, maxOrderPoll)
	}
}
