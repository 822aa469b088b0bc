package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/classgate/classgate/core"
)

// Store operation labels (op) used by InstrumentStore: the core.Store
// method names in snake_case.
const (
	OpAddConn     = "add_conn"
	OpConn        = "conn"
	OpRemoveConn  = "remove_conn"
	OpJoin        = "join"
	OpLeave       = "leave"
	OpMembers     = "members"
	OpTouch       = "touch"
	OpExpired     = "expired"
	OpCommit      = "commit"
	OpHistory     = "history"
	OpSnapshot    = "snapshot"
	OpDedupe      = "dedupe"
	OpRefusal     = "remember_refusal"
	OpSubscribe   = "subscribe"
	OpUnsubscribe = "unsubscribe"
	OpPing        = "ping"
)

// InstrumentStore returns a core.Store that forwards every call to s and
// reports its duration and failure to o (a *Metrics): the metrics
// classgate_store_operation_duration_seconds{op} and
// classgate_store_errors_total{op}. The expected outcomes ErrDuplicate,
// ErrConflict and ErrNotFound, and a cancelled context, are not failures.
// SetSink and Close are forwarded untimed.
func InstrumentStore(s core.Store, o StoreObserver) core.Store {
	return &store{s: s, o: o}
}

type store struct {
	s core.Store
	o StoreObserver
}

var _ core.Store = (*store)(nil)

// failed reports whether err is a real failure of the store.
func failed(err error) bool {
	return err != nil && !errors.Is(err, core.ErrDuplicate) && !errors.Is(err, core.ErrConflict) &&
		!errors.Is(err, core.ErrNotFound) && !errors.Is(err, context.Canceled)
}

func (s *store) done(op string, start time.Time, err error) {
	s.o.ObserveStoreOp(op, time.Since(start), failed(err))
}

func (s *store) AddConn(ctx context.Context, c core.ConnInfo) error {
	start := time.Now()
	err := s.s.AddConn(ctx, c)
	s.done(OpAddConn, start, err)
	return err
}

func (s *store) Conn(ctx context.Context, id core.ConnID) (core.ConnInfo, []string, error) {
	start := time.Now()
	c, rooms, err := s.s.Conn(ctx, id)
	s.done(OpConn, start, err)
	return c, rooms, err
}

func (s *store) RemoveConn(ctx context.Context, id core.ConnID) ([]core.Departure, error) {
	start := time.Now()
	d, err := s.s.RemoveConn(ctx, id)
	s.done(OpRemoveConn, start, err)
	return d, err
}

func (s *store) Join(ctx context.Context, room string, c core.ConnInfo) (bool, error) {
	start := time.Now()
	first, err := s.s.Join(ctx, room, c)
	s.done(OpJoin, start, err)
	return first, err
}

func (s *store) Leave(ctx context.Context, room string, id core.ConnID) (core.Departure, bool, error) {
	start := time.Now()
	d, joined, err := s.s.Leave(ctx, room, id)
	s.done(OpLeave, start, err)
	return d, joined, err
}

func (s *store) Members(ctx context.Context, room string) ([]core.Member, error) {
	start := time.Now()
	m, err := s.s.Members(ctx, room)
	s.done(OpMembers, start, err)
	return m, err
}

func (s *store) Touch(ctx context.Context, ids ...core.ConnID) error {
	start := time.Now()
	err := s.s.Touch(ctx, ids...)
	s.done(OpTouch, start, err)
	return err
}

func (s *store) Expired(ctx context.Context, limit int) ([]core.ConnID, error) {
	start := time.Now()
	ids, err := s.s.Expired(ctx, limit)
	s.done(OpExpired, start, err)
	return ids, err
}

func (s *store) Commit(ctx context.Context, c core.Commit) (core.CommitResult, error) {
	start := time.Now()
	r, err := s.s.Commit(ctx, c)
	s.done(OpCommit, start, err)
	return r, err
}

func (s *store) History(ctx context.Context, room string, since uint64) ([]core.Event, uint64, bool, error) {
	start := time.Now()
	ev, last, complete, err := s.s.History(ctx, room, since)
	s.done(OpHistory, start, err)
	return ev, last, complete, err
}

func (s *store) Snapshot(ctx context.Context, room string, namespaces ...string) (core.Snapshot, error) {
	start := time.Now()
	snap, err := s.s.Snapshot(ctx, room, namespaces...)
	s.done(OpSnapshot, start, err)
	return snap, err
}

// SnapshotDedupe is recorded as OpDedupe when it looks a key up (the
// read before a plugin runs for a frame with an id), else as OpSnapshot.
func (s *store) SnapshotDedupe(ctx context.Context, room, key string, namespaces ...string) (core.Snapshot, core.DedupeAnswer, bool, error) {
	start := time.Now()
	snap, ans, found, err := s.s.SnapshotDedupe(ctx, room, key, namespaces...)
	op := OpSnapshot
	if key != "" {
		op = OpDedupe
	}
	s.done(op, start, err)
	return snap, ans, found, err
}

// Dedupe is recorded as OpDedupe.
func (s *store) Dedupe(ctx context.Context, room, key string) (core.DedupeAnswer, bool, error) {
	start := time.Now()
	ans, found, err := s.s.Dedupe(ctx, room, key)
	s.done(OpDedupe, start, err)
	return ans, found, err
}

func (s *store) RememberRefusal(ctx context.Context, room, key string, ans core.DedupeAnswer, ttl time.Duration) error {
	start := time.Now()
	err := s.s.RememberRefusal(ctx, room, key, ans, ttl)
	s.done(OpRefusal, start, err)
	return err
}

func (s *store) Subscribe(ctx context.Context, room string) error {
	start := time.Now()
	err := s.s.Subscribe(ctx, room)
	s.done(OpSubscribe, start, err)
	return err
}

func (s *store) Unsubscribe(ctx context.Context, room string) error {
	start := time.Now()
	err := s.s.Unsubscribe(ctx, room)
	s.done(OpUnsubscribe, start, err)
	return err
}

func (s *store) SetSink(f func(core.Event)) { s.s.SetSink(f) }

func (s *store) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.s.Ping(ctx)
	s.done(OpPing, start, err)
	return err
}

func (s *store) Close() error { return s.s.Close() }
