package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"

	"github.com/classgate/classgate/core"
)

// bus implements core.Bus over Redis pub/sub: one channel per room. In
// single and Sentinel mode the rooms are spread over subscriberConns()
// subscriber connections by a hash of their channel; in Cluster mode the
// rooms of one hash slot share one sharded subscriber connection (to the
// slot's master), closed when its last room goes.
//
// Each subscriber connection has one reader goroutine, so the sink sees a
// room's events in publication order, and rooms on different connections
// are decoded and delivered in parallel (one reader for every room was the
// Redis path's bottleneck: it did the decoding and the fan-out of every
// event of the node on one goroutine). go-redis re-dials and re-subscribes a
// subscriber connection that failed; events published meanwhile are lost
// from pub/sub, and the reader fills such a gap from the history as soon as
// the subscription is confirmed again (or the room's next durable event
// shows it).
type bus struct {
	s    *Store
	sink atomic.Pointer[func(core.Event)]

	mu     sync.Mutex
	groups map[int]*group  // by slot (cluster) or shard(channel)
	subs   map[string]*sub // by channel
	closed bool
	wg     sync.WaitGroup
}

// group is one subscriber connection.
type group struct {
	slot    int
	ps      *goredis.PubSub
	n       int  // rooms subscribed through it
	reading bool // the reader goroutine runs
}

// sub is one subscribed room.
type sub struct {
	room  string
	g     *group
	ready chan struct{} // closed when Redis confirmed the subscription
	once  sync.Once
	last  uint64 // last durable seq delivered; reader goroutine only
	base  uint64 // the room's seq when first confirmed; reader goroutine only
	// epoch is the epoch last and base count in; retired the one before
	// it, whose late messages (published before the switch, so covered by
	// the resync it caused) are dropped. Reader goroutine only.
	epoch   string
	retired string

	// posMu guards posEpoch and posSeq: the reader's epoch and highest
	// seq seen, for commits on other goroutines to compare with.
	posMu    sync.Mutex
	posEpoch string
	posSeq   uint64
}

// switchEpoch makes epoch, at seq, the sequence the reader counts in;
// reader goroutine only.
func (sb *sub) switchEpoch(epoch string, seq uint64) {
	if sb.epoch != "" && sb.epoch != epoch {
		sb.retired = sb.epoch
	}
	sb.last, sb.base, sb.epoch = seq, seq, epoch
	sb.savePos()
}

// savePos publishes the reader's position; reader goroutine only.
func (sb *sub) savePos() {
	seq := max(sb.last, sb.base)
	sb.posMu.Lock()
	sb.posEpoch, sb.posSeq = sb.epoch, seq
	sb.posMu.Unlock()
}

// checkWentBack is called after a commit applied res to room (channel
// ch): a seq this node already saw in the same epoch means the room's seq
// went back (a failover to a replica that had not caught up, seen before
// the re-subscription showed it). A new epoch is started, and every node
// told, so members resync rather than take the new seqs for copies.
func (b *bus) checkWentBack(ctx context.Context, ch, room string, res core.CommitResult) {
	b.mu.Lock()
	sb := b.subs[ch]
	b.mu.Unlock()
	if sb == nil {
		return
	}
	sb.posMu.Lock()
	epoch, seen := sb.posEpoch, sb.posSeq
	sb.posMu.Unlock()
	// Only a seq seen beyond the room's seq after this commit can show
	// it went back: the epoch script starts a new epoch only when the
	// room's seq (>= res.LastSeq) is below the seq seen, so any other
	// case (this commit's own events, delivered before Commit returned)
	// would cost a round trip per message for nothing.
	if epoch == res.Epoch && seen > res.LastSeq {
		// Best effort: when it fails, the re-subscription after the
		// failover compares again.
		_, _, _ = b.s.newEpoch(ctx, room, epoch, seen)
	}
}

// subscriberConns is the number of subscriber connections (and reader
// goroutines) a node spreads its rooms over in single and Sentinel mode:
// enough to keep every core delivering.
func subscriberConns() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// shard is the subscriber connection of a channel in single and Sentinel
// mode (FNV-1a of the name).
func shard(ch string) int {
	h := uint32(2166136261)
	for i := 0; i < len(ch); i++ {
		h ^= uint32(ch[i])
		h *= 16777619
	}
	return int(h % uint32(subscriberConns()))
}

func newBus(s *Store) *bus {
	return &bus{s: s, groups: map[int]*group{}, subs: map[string]*sub{}}
}

// SetSink implements core.Bus.
func (s *Store) SetSink(f func(core.Event)) { s.bus.sink.Store(&f) }

// Subscribe implements core.Bus. It returns once Redis confirmed the
// subscription (within OpTimeout), so every event committed afterwards, on
// any node, reaches the sink.
func (s *Store) Subscribe(ctx context.Context, room string) error {
	if err := s.bus.subscribe(ctx, room); err != nil {
		return s.fail("subscribe "+room, err)
	}
	return nil
}

// Unsubscribe implements core.Bus. Delivery for the room stops at once,
// even for events already on the wire.
func (s *Store) Unsubscribe(ctx context.Context, room string) error {
	s.cache.drop(room)
	if err := s.bus.unsubscribe(ctx, room); err != nil {
		return s.fail("unsubscribe "+room, err)
	}
	return nil
}

// position returns the highest seq the room's subscription has seen and
// its epoch; ok is false when the node does not subscribe to room or has
// seen no epoch yet.
func (b *bus) position(room string) (seq uint64, epoch string, ok bool) {
	ch := b.s.k.room(room).channel()
	b.mu.Lock()
	sb := b.subs[ch]
	b.mu.Unlock()
	if sb == nil {
		return 0, "", false
	}
	sb.posMu.Lock()
	seq, epoch = sb.posSeq, sb.posEpoch
	sb.posMu.Unlock()
	return seq, epoch, epoch != ""
}

// subscribed reports whether the node subscribes to room.
func (b *bus) subscribed(room string) bool {
	ch := b.s.k.room(room).channel()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subs[ch] != nil
}

func (b *bus) subscribe(ctx context.Context, room string) error {
	ch := b.s.k.room(room).channel()
	ctx, cancel := b.s.opCtx(ctx)
	defer cancel()

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return goredis.ErrClosed
	}
	if b.subs[ch] != nil {
		b.mu.Unlock()
		return nil
	}
	key := shard(ch)
	if b.s.cluster != nil {
		key = slot(ch)
	}
	g := b.groups[key]
	if g == nil {
		g = &group{slot: key}
		if b.s.cluster != nil {
			g.ps = b.s.cluster.SSubscribe(ctx)
		} else {
			g.ps = b.s.client.Subscribe(ctx)
		}
		b.groups[key] = g
	}
	sb := &sub{room: room, g: g, ready: make(chan struct{})}
	b.subs[ch] = sb
	g.n++
	// The first SUBSCRIBE dials the connection (to the slot's master in
	// Cluster mode); only then may the reader start, or it would dial a
	// random node.
	var err error
	if b.s.cluster != nil {
		err = g.ps.SSubscribe(ctx, ch)
	} else {
		err = g.ps.Subscribe(ctx, ch)
	}
	if err == nil && !g.reading {
		g.reading = true
		msgs := g.ps.ChannelWithSubscriptions(goredis.WithChannelSize(1024))
		b.wg.Add(1)
		go b.read(g, msgs)
	}
	b.mu.Unlock()

	if err == nil {
		select {
		case <-sb.ready:
			return nil
		case <-ctx.Done():
			err = fmt.Errorf("subscription not confirmed: %w", ctx.Err())
		}
	}
	b.mu.Lock()
	b.dropLocked(ch, sb)
	closed := b.groups[g.slot] != g
	b.mu.Unlock()
	if !closed {
		_ = b.unsubscribeConn(context.Background(), g, ch)
	}
	return err
}

// dropLocked forgets a subscribed channel; an emptied Cluster group (or a
// group whose reader never started) is closed.
func (b *bus) dropLocked(ch string, sb *sub) {
	if b.subs[ch] != sb {
		return
	}
	delete(b.subs, ch)
	sb.g.n--
	if sb.g.n == 0 && (b.s.cluster != nil || !sb.g.reading) && b.groups[sb.g.slot] == sb.g {
		delete(b.groups, sb.g.slot)
		_ = sb.g.ps.Close()
	}
}

func (b *bus) unsubscribeConn(ctx context.Context, g *group, ch string) error {
	if b.s.cluster != nil {
		return g.ps.SUnsubscribe(ctx, ch)
	}
	return g.ps.Unsubscribe(ctx, ch)
}

func (b *bus) unsubscribe(ctx context.Context, room string) error {
	ch := b.s.k.room(room).channel()
	b.mu.Lock()
	sb := b.subs[ch]
	if sb == nil {
		b.mu.Unlock()
		return nil
	}
	b.dropLocked(ch, sb)
	closed := b.groups[sb.g.slot] != sb.g
	b.mu.Unlock()
	if closed {
		return nil
	}
	ctx, cancel := b.s.opCtx(ctx)
	defer cancel()
	return b.unsubscribeConn(ctx, sb.g, ch)
}

// read is a group's reader goroutine. It ends when the PubSub is closed.
func (b *bus) read(g *group, msgs <-chan any) {
	defer b.wg.Done()
	for m := range msgs {
		switch m := m.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" || m.Kind == "ssubscribe" {
				b.mu.Lock()
				sb := b.subs[m.Channel]
				b.mu.Unlock()
				if sb != nil {
					b.confirmed(sb)
				}
			}
		case *goredis.Message:
			b.mu.Lock()
			sb := b.subs[m.Channel]
			b.mu.Unlock()
			if sb != nil {
				b.dispatch(sb, m.Payload)
			}
		}
	}
}

// dispatch decodes one "<seq> <epoch> <event JSON>" message and hands it
// to the sink, first filling a seq gap from the history. A durable event
// of another epoch than the one this room's seqs counted in (the store lost
// its data, or started a new epoch after its seq went back) starts the
// count over: the sink gets it as is, and the router resyncs the members.
func (b *bus) dispatch(sb *sub, payload string) {
	seqStr, rest, ok1 := strings.Cut(payload, " ")
	epoch, body, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 {
		return
	}
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	if err != nil {
		return
	}
	if body == "mark" {
		// A node started a new epoch (see epochScript).
		if sink := b.sink.Load(); sink != nil && epoch != sb.epoch && epoch != sb.retired {
			sb.switchEpoch(epoch, seq)
			(*sink)(core.Event{Room: sb.room, Seq: seq, Epoch: epoch})
		}
		return
	}
	var e core.Event
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return
	}
	e.Seq = seq
	sink := b.sink.Load()
	if sink == nil {
		return
	}
	if seq > 0 {
		e.Epoch = epoch
		if epoch != sb.epoch {
			if epoch == sb.retired {
				return // published before the switch: the resync covers it
			}
			if sb.epoch != "" {
				sb.switchEpoch(epoch, seq)
				(*sink)(e)
				return
			}
			sb.epoch = epoch
		}
		if sb.last > 0 && seq <= sb.last {
			return // already delivered by a catch-up from the history
		}
		if sb.last > 0 && seq > sb.last+1 {
			b.repair(sb, seq, *sink)
		}
		sb.last = seq
		sb.savePos()
	}
	(*sink)(e)
}

// confirmed handles Redis's confirmation of a room's subscription, on the
// reader goroutine. The first one records the room's seq, so a later gap is
// measurable even if no event came yet; a later one is a re-subscription
// after the connection failed, and the events committed while it was down
// are delivered from the history at once — not only when the room's next
// event shows the gap (which may never come in a quiet room).
func (b *bus) confirmed(sb *sub) {
	first := false
	sb.once.Do(func() { first = true })
	ctx, cancel := b.s.opCtx(context.Background())
	defer cancel()
	snap, err := b.s.Snapshot(ctx, sb.room)
	if first {
		// Events committed from now on may already be queued behind this
		// confirmation, so base only marks where a later catch-up starts;
		// it never suppresses a message.
		if err == nil {
			sb.base, sb.epoch = snap.Seq, snap.Epoch
			sb.savePos()
		}
		close(sb.ready)
		return
	}
	// A re-subscription: the connection failed, maybe over a failover.
	b.s.cache.reset()
	sink := b.sink.Load()
	from := sb.last
	if from == 0 {
		from = sb.base
	}
	if err != nil || sink == nil {
		return
	}
	if sb.epoch != "" && (snap.Epoch != sb.epoch || snap.Seq < from) {
		// The connection came back to a store that lost the room's data
		// (a new epoch) or went back behind what this node delivered (a
		// failover to a lagging replica: start a new epoch, so the seqs
		// to come are not mistaken for copies, on any node). Either way
		// the room's members must start over: mark it.
		seq, epoch := snap.Seq, snap.Epoch
		if epoch == sb.epoch {
			if seq, epoch, err = b.s.newEpoch(ctx, sb.room, sb.epoch, from); err != nil {
				// Redis is gone again: resync this node's members
				// anyway, under an epoch of this node's own; the
				// room's next events (still of the old epoch, which
				// is therefore not retired) resync them once more
				// rather than leave a gap.
				sb.last, sb.base, sb.epoch = snap.Seq, snap.Seq, core.NewEpoch()
				sb.savePos()
				(*sink)(core.Event{Room: sb.room, Seq: sb.last, Epoch: sb.epoch})
				return
			}
		}
		sb.switchEpoch(epoch, seq)
		(*sink)(core.Event{Room: sb.room, Seq: seq, Epoch: epoch})
		return
	}
	if sb.epoch == "" {
		sb.epoch = snap.Epoch
		sb.savePos()
	}
	if snap.Seq <= from {
		return
	}
	b.repairFrom(from, sb, snap.Seq+1, *sink)
	sb.last = snap.Seq
	sb.savePos()
}

// repair delivers the durable events between sb.last and seq from the
// history (they were published while the subscriber was reconnecting).
// When the history no longer has them the gap stays; clients see it and
// re-join with since.
func (b *bus) repair(sb *sub, seq uint64, sink func(core.Event)) {
	b.repairFrom(sb.last, sb, seq, sink)
}

// repairFrom delivers the durable events after since and before seq.
func (b *bus) repairFrom(since uint64, sb *sub, seq uint64, sink func(core.Event)) {
	events, _, complete, err := b.s.History(context.Background(), sb.room, since)
	if err != nil || !complete {
		return
	}
	for _, e := range events {
		if e.Seq >= seq {
			break
		}
		sink(e)
	}
}

// close closes every subscriber connection and waits for the readers.
func (b *bus) close() {
	b.mu.Lock()
	b.closed = true
	groups := b.groups
	b.groups = map[int]*group{}
	b.subs = map[string]*sub{}
	b.mu.Unlock()
	for _, g := range groups {
		_ = g.ps.Close()
	}
	b.wg.Wait()
}
