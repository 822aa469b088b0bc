package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/internal/fielderr"
)

// Span names. Dashboards and trace queries use them: never rename one.
const (
	SpanReceive    = "classgate.receive"
	SpanConnect    = "classgate.connect"
	SpanDisconnect = "classgate.disconnect"
	SpanPlugin     = "classgate.plugin"
	SpanStore      = "classgate.store." // + operation, e.g. classgate.store.commit
	SpanFanout     = "classgate.fanout"
)

// Attribute keys.
const (
	AttrConn   = attribute.Key("classgate.conn")
	AttrRoom   = attribute.Key("classgate.room")
	AttrType   = attribute.Key("classgate.type")
	AttrHook   = attribute.Key("classgate.hook")
	AttrPlugin = attribute.Key("classgate.plugin")
	AttrSeq    = attribute.Key("classgate.seq")
	AttrBytes  = attribute.Key("classgate.frame_bytes")
	AttrCount  = attribute.Key("classgate.count")
)

// Config configures tracing. The zero value is valid and disables it.
type Config struct {
	// Endpoint is the OTLP/HTTP traces endpoint, e.g.
	// "http://127.0.0.1:4318" (the path /v1/traces is added when the URL
	// has none) or "https://collector.example:4318/v1/traces". Empty (the
	// default) turns tracing off: a no-op tracer, no exporter, no cost
	// beyond a few function calls per frame.
	Endpoint string `koanf:"endpoint"`
	// Headers are sent with every export (e.g. an API key).
	Headers map[string]string `koanf:"headers"`
	// SampleRatio is the share of new traces recorded, 0–1 (default 1 when
	// Endpoint is set). A trace started upstream keeps its parent's
	// decision.
	SampleRatio float64 `koanf:"sample_ratio"`
	// ServiceName is the resource's service.name (default "classgate").
	ServiceName string `koanf:"service_name"`
	// Timeout bounds one export (default 10s).
	Timeout time.Duration `koanf:"timeout"`
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return fmt.Errorf("tracing: %w", fielderr.Errorf("sample_ratio", "%v: must be between 0 and 1", c.SampleRatio))
	}
	if c.Endpoint == "" {
		return nil
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return fmt.Errorf("tracing: %w", fielderr.Errorf("endpoint", "%q: %w", c.Endpoint, err))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("tracing: %w", fielderr.Errorf("endpoint", "%q: want http://host:port or https://host:port[/path]", c.Endpoint))
	}
	return nil
}

// endpointURL returns the export URL, adding the default path.
func (c Config) endpointURL() string {
	u, _ := url.Parse(c.Endpoint)
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String()
}

// Tracer creates classgate's spans: one receive span per client frame,
// with plugin, store and fan-out spans below it. Build it with Setup; a
// nil *Tracer is valid and traces nothing. Safe for concurrent use.
type Tracer struct {
	tp       trace.TracerProvider
	tracer   trace.Tracer
	shutdown func(context.Context) error
	enabled  bool
}

// Setup builds the tracer from c: with an endpoint, an OTLP/HTTP exporter
// behind a batching span processor; without one, a no-op tracer. node and
// version name this process in the resource (service.instance.id,
// service.version). Call Shutdown before exiting to flush spans.
func Setup(ctx context.Context, c Config, node, version string) (*Tracer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Endpoint == "" {
		return newTracer(noop.NewTracerProvider(), nil, false), nil
	}
	if c.ServiceName == "" {
		c.ServiceName = "classgate"
	}
	if c.SampleRatio == 0 {
		c.SampleRatio = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(c.endpointURL()), otlptracehttp.WithTimeout(c.Timeout)}
	if len(c.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(c.Headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter for %s: %w", c.Endpoint, err)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", c.ServiceName),
		attribute.String("service.instance.id", node),
		attribute.String("service.version", version),
	)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SampleRatio))),
	)
	return newTracer(tp, tp.Shutdown, true), nil
}

func newTracer(tp trace.TracerProvider, shutdown func(context.Context) error, enabled bool) *Tracer {
	return &Tracer{tp: tp, tracer: tp.Tracer("github.com/classgate/classgate"), shutdown: shutdown, enabled: enabled}
}

// Enabled reports whether spans are exported.
func (t *Tracer) Enabled() bool { return t != nil && t.enabled }

// Shutdown flushes pending spans and stops the exporter (bounded by ctx).
// It is a no-op when tracing is off.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	if err := t.shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// End finishes a span started by this package, recording err (if any) as
// the span's error status.
type End func(err error)

// StartReceive starts the root span of one client frame. Pass the
// returned context to core.Router.Receive so that plugin, store and
// fan-out spans become its children, and call end with Receive's error.
func (t *Tracer) StartReceive(ctx context.Context, conn core.ConnID, frameBytes int) (context.Context, End) {
	return t.start(ctx, SpanReceive, trace.SpanKindServer, AttrConn.String(string(conn)), AttrBytes.Int(frameBytes))
}

func (t *Tracer) start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, End) {
	if t == nil {
		return ctx, func(error) {}
	}
	ctx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	return ctx, func(err error) { finish(span, err) }
}

func finish(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// hasParent reports whether ctx carries a span (store spans are only
// created below a receive span, never as roots: the periodic heartbeat
// would flood the traces otherwise).
func hasParent(ctx context.Context) bool {
	return trace.SpanContextFromContext(ctx).IsValid()
}

// Router is the part of core.Router that transports drive (the same
// method set as wsserver.Router).
type Router interface {
	Connect(ctx context.Context, info core.ConnInfo) error
	Receive(ctx context.Context, id core.ConnID, frame []byte) error
	// ReceiveBinary handles a binary frame (rate limited, then refused).
	ReceiveBinary(ctx context.Context, id core.ConnID) error
	// Shed answers a frame that queued too long rate_limited, or leaves
	// it for Receive (core.Router.Shed).
	Shed(ctx context.Context, id core.ConnID, frame []byte) (bool, error)
	Disconnect(ctx context.Context, id core.ConnID) error
}

// Router wraps r so that every Receive runs under a receive span (and
// Connect and Disconnect under their own spans). Give the result to the
// transport (wsserver.Server.Attach) instead of r.
func (t *Tracer) Router(r Router) Router {
	if !t.Enabled() {
		return r
	}
	return &tracedRouter{r: r, t: t}
}

type tracedRouter struct {
	r Router
	t *Tracer
}

func (tr *tracedRouter) Connect(ctx context.Context, info core.ConnInfo) error {
	ctx, end := tr.t.start(ctx, SpanConnect, trace.SpanKindServer, AttrConn.String(string(info.ID)))
	err := tr.r.Connect(ctx, info)
	end(err)
	return err
}

func (tr *tracedRouter) Receive(ctx context.Context, id core.ConnID, frame []byte) error {
	ctx, end := tr.t.StartReceive(ctx, id, len(frame))
	err := tr.r.Receive(ctx, id, frame)
	end(err)
	return err
}

func (tr *tracedRouter) ReceiveBinary(ctx context.Context, id core.ConnID) error {
	ctx, end := tr.t.StartReceive(ctx, id, 0)
	err := tr.r.ReceiveBinary(ctx, id)
	end(err)
	return err
}

func (tr *tracedRouter) Shed(ctx context.Context, id core.ConnID, frame []byte) (bool, error) {
	ctx, end := tr.t.StartReceive(ctx, id, len(frame))
	handled, err := tr.r.Shed(ctx, id, frame)
	end(err)
	return handled, err
}

func (tr *tracedRouter) Disconnect(ctx context.Context, id core.ConnID) error {
	ctx, end := tr.t.start(ctx, SpanDisconnect, trace.SpanKindServer, AttrConn.String(string(id)))
	err := tr.r.Disconnect(ctx, id)
	end(err)
	return err
}

// Plugins wraps p so that every handler call runs under a plugin span
// (namespace, room, frame type, hook; the error status when it fails).
func (t *Tracer) Plugins(p core.Plugins) core.Plugins {
	if !t.Enabled() {
		return p
	}
	return &tracedPlugins{p: p, t: t}
}

type tracedPlugins struct {
	p core.Plugins
	t *Tracer
}

func (tp *tracedPlugins) Handler(room, namespace string) core.Handler {
	h := tp.p.Handler(room, namespace)
	if h == nil {
		return nil // the router branches on nil: never wrap it
	}
	return &tracedHandler{h: h, t: tp.t, namespace: namespace}
}

func (tp *tracedPlugins) Features(room string) []string { return tp.p.Features(room) }

type tracedHandler struct {
	h         core.Handler
	t         *Tracer
	namespace string
}

var hookNames = map[core.Hook]string{core.HookMessage: "message", core.HookJoin: "join", core.HookLeave: "leave"}

func (th *tracedHandler) Handle(ctx context.Context, call *core.Call) (*core.Result, error) {
	ctx, span := th.t.tracer.Start(ctx, SpanPlugin, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(
		AttrPlugin.String(th.namespace), AttrRoom.String(call.Room), AttrType.String(call.Type), AttrHook.String(hookNames[call.Hook]),
	))
	res, err := th.h.Handle(ctx, call)
	if err == nil && res != nil && res.Reject != "" {
		span.SetAttributes(attribute.String("classgate.reject", truncate(res.Reject, 128)))
	}
	finish(span, err)
	return res, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// storeFailed reports whether err is a real store failure (the expected
// outcomes duplicate, conflict and not-found are not).
func storeFailed(err error) bool {
	return err != nil && !errors.Is(err, core.ErrDuplicate) && !errors.Is(err, core.ErrConflict) && !errors.Is(err, core.ErrNotFound)
}
