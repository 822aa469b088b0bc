package tracing

import (
	"time"

	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/classgate/classgate/core"
)

// Store wraps s so that each store call made under a span (a receive)
// gets a child span classgate.store.<op>, and each event the store's Bus
// hands to the router gets a classgate.fanout span. Calls without a parent
// span (heartbeats, sweeps) are not traced.
//
// The fan-out span is the child of the commit that published the event
// when the store delivers during Commit (the memory store); when delivery
// is asynchronous (Redis pub/sub, other nodes) the event carries no trace
// context and its fan-out span starts a trace of its own.
func (t *Tracer) Store(s core.Store) core.Store {
	if !t.Enabled() { // no wrapper, no per-call cost when tracing is off
		return s
	}
	return &tracedStore{s: s, t: t, inflight: map[string]trace.SpanContext{}}
}

type tracedStore struct {
	s core.Store
	t *Tracer

	mu       sync.Mutex
	inflight map[string]trace.SpanContext // room → commit span in progress
}

var _ core.Store = (*tracedStore)(nil)

func (s *tracedStore) span(ctx context.Context, op string, attrs ...attribute.KeyValue) (context.Context, trace.Span, bool) {
	if !hasParent(ctx) {
		return ctx, nil, false
	}
	ctx, span := s.t.tracer.Start(ctx, SpanStore+op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx, span, true
}

func (s *tracedStore) end(span trace.Span, ok bool, err error) {
	if !ok {
		return
	}
	if storeFailed(err) {
		finish(span, err)
		return
	}
	span.End()
}

func (s *tracedStore) AddConn(ctx context.Context, c core.ConnInfo) error {
	ctx, span, ok := s.span(ctx, "add_conn", AttrConn.String(string(c.ID)))
	err := s.s.AddConn(ctx, c)
	s.end(span, ok, err)
	return err
}

func (s *tracedStore) Conn(ctx context.Context, id core.ConnID) (core.ConnInfo, []string, error) {
	ctx, span, ok := s.span(ctx, "conn", AttrConn.String(string(id)))
	c, rooms, err := s.s.Conn(ctx, id)
	s.end(span, ok, err)
	return c, rooms, err
}

func (s *tracedStore) RemoveConn(ctx context.Context, id core.ConnID) ([]core.Departure, error) {
	ctx, span, ok := s.span(ctx, "remove_conn", AttrConn.String(string(id)))
	d, err := s.s.RemoveConn(ctx, id)
	s.end(span, ok, err)
	return d, err
}

func (s *tracedStore) Join(ctx context.Context, room string, c core.ConnInfo) (bool, error) {
	ctx, span, ok := s.span(ctx, "join", AttrRoom.String(room))
	first, err := s.s.Join(ctx, room, c)
	s.end(span, ok, err)
	return first, err
}

func (s *tracedStore) Leave(ctx context.Context, room string, id core.ConnID) (core.Departure, bool, error) {
	ctx, span, ok := s.span(ctx, "leave", AttrRoom.String(room))
	d, joined, err := s.s.Leave(ctx, room, id)
	s.end(span, ok, err)
	return d, joined, err
}

func (s *tracedStore) Members(ctx context.Context, room string) ([]core.Member, error) {
	ctx, span, ok := s.span(ctx, "members", AttrRoom.String(room))
	m, err := s.s.Members(ctx, room)
	if ok {
		span.SetAttributes(AttrCount.Int(len(m)))
	}
	s.end(span, ok, err)
	return m, err
}

func (s *tracedStore) Touch(ctx context.Context, ids ...core.ConnID) error {
	ctx, span, ok := s.span(ctx, "touch", AttrCount.Int(len(ids)))
	err := s.s.Touch(ctx, ids...)
	s.end(span, ok, err)
	return err
}

func (s *tracedStore) Expired(ctx context.Context, limit int) ([]core.ConnID, error) {
	ctx, span, ok := s.span(ctx, "expired")
	ids, err := s.s.Expired(ctx, limit)
	s.end(span, ok, err)
	return ids, err
}

func (s *tracedStore) Commit(ctx context.Context, c core.Commit) (core.CommitResult, error) {
	ctx, span, ok := s.span(ctx, "commit", AttrRoom.String(c.Room), AttrCount.Int(len(c.Durable)+len(c.Ephemeral)))
	if ok {
		s.mu.Lock()
		s.inflight[c.Room] = span.SpanContext()
		s.mu.Unlock()
	}
	r, err := s.s.Commit(ctx, c)
	if ok {
		s.mu.Lock()
		if s.inflight[c.Room].Equal(span.SpanContext()) {
			delete(s.inflight, c.Room)
		}
		s.mu.Unlock()
		if r.FirstSeq > 0 {
			span.SetAttributes(AttrSeq.Int64(int64(r.FirstSeq)))
		}
	}
	s.end(span, ok, err)
	return r, err
}

func (s *tracedStore) History(ctx context.Context, room string, since uint64) ([]core.Event, uint64, bool, error) {
	ctx, span, ok := s.span(ctx, "history", AttrRoom.String(room), AttrSeq.Int64(int64(since)))
	ev, last, complete, err := s.s.History(ctx, room, since)
	if ok {
		span.SetAttributes(AttrCount.Int(len(ev)), attribute.Bool("classgate.complete", complete))
	}
	s.end(span, ok, err)
	return ev, last, complete, err
}

func (s *tracedStore) Snapshot(ctx context.Context, room string, namespaces ...string) (core.Snapshot, error) {
	ctx, span, ok := s.span(ctx, "snapshot", AttrRoom.String(room))
	snap, err := s.s.Snapshot(ctx, room, namespaces...)
	s.end(span, ok, err)
	return snap, err
}

func (s *tracedStore) SnapshotDedupe(ctx context.Context, room, key string, namespaces ...string) (core.Snapshot, core.DedupeAnswer, bool, error) {
	ctx, span, ok := s.span(ctx, "snapshot", AttrRoom.String(room), attribute.Bool("classgate.dedupe", key != ""))
	snap, ans, found, err := s.s.SnapshotDedupe(ctx, room, key, namespaces...)
	if ok && key != "" {
		span.SetAttributes(attribute.Bool("classgate.duplicate", found))
	}
	s.end(span, ok, err)
	return snap, ans, found, err
}

func (s *tracedStore) Dedupe(ctx context.Context, room, key string) (core.DedupeAnswer, bool, error) {
	ctx, span, ok := s.span(ctx, "dedupe", AttrRoom.String(room))
	ans, found, err := s.s.Dedupe(ctx, room, key)
	if ok {
		span.SetAttributes(attribute.Bool("classgate.duplicate", found))
	}
	s.end(span, ok, err)
	return ans, found, err
}

func (s *tracedStore) RememberRefusal(ctx context.Context, room, key string, ans core.DedupeAnswer, ttl time.Duration) error {
	ctx, span, ok := s.span(ctx, "remember_refusal", AttrRoom.String(room))
	err := s.s.RememberRefusal(ctx, room, key, ans, ttl)
	s.end(span, ok, err)
	return err
}

func (s *tracedStore) Subscribe(ctx context.Context, room string) error {
	ctx, span, ok := s.span(ctx, "subscribe", AttrRoom.String(room))
	err := s.s.Subscribe(ctx, room)
	s.end(span, ok, err)
	return err
}

func (s *tracedStore) Unsubscribe(ctx context.Context, room string) error {
	ctx, span, ok := s.span(ctx, "unsubscribe", AttrRoom.String(room))
	err := s.s.Unsubscribe(ctx, room)
	s.end(span, ok, err)
	return err
}

// SetSink wraps the router's sink: each delivered event runs under a
// fan-out span (see Store).
func (s *tracedStore) SetSink(f func(core.Event)) {
	s.s.SetSink(func(e core.Event) {
		ctx := context.Background()
		s.mu.Lock()
		parent, ok := s.inflight[e.Room]
		s.mu.Unlock()
		if ok {
			ctx = trace.ContextWithSpanContext(ctx, parent)
		}
		attrs := []attribute.KeyValue{AttrRoom.String(e.Room), AttrType.String(e.Type)}
		if e.Seq > 0 {
			attrs = append(attrs, AttrSeq.Int64(int64(e.Seq)))
		}
		_, span := s.t.tracer.Start(ctx, SpanFanout, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
		f(e)
		span.End()
	})
}

func (s *tracedStore) Ping(ctx context.Context) error {
	ctx, span, ok := s.span(ctx, "ping")
	err := s.s.Ping(ctx)
	s.end(span, ok, err)
	return err
}

func (s *tracedStore) Close() error { return s.s.Close() }
