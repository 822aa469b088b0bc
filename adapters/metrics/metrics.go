package metrics

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/classgate/classgate/core"
)

// Namespace prefixes every metric name.
const Namespace = "classgate"

// Metric names, without the classgate_ prefix. They are part of the
// operations contract (dashboards and alerts use them): never rename one.
// Each thing is counted once: a plugin call in NamePluginCalls whoever
// reports it (the plugin host, or the router for a handler the host does
// not serve), a failed store call in NameStoreErrors (InstrumentStore, or
// the router's step for a store not instrumented). Retired names, which
// counted the same calls a second time, are in RetiredNames.
const (
	NameConnections        = "connections"
	NameJoins              = "joins_total"
	NameRooms              = "rooms"
	NameFramesReceived     = "frames_received_total"
	NameFramesSent         = "frames_sent_total"
	NameDeliveries         = "deliveries_total"
	NameFanoutLatency      = "fanout_latency_seconds"
	NameAcks               = "acks_total"
	NameErrors             = "errors_total"
	NameSlowConsumerCloses = "slow_consumer_closes_total"
	NameRateLimited        = "rate_limited_total"
	NameShed               = "shed_total"
	NameDuplicates         = "duplicates_total"
	NamePluginCalls        = "plugin_calls_total"
	NamePluginCallDuration = "plugin_call_duration_seconds"
	NameStoreOpDuration    = "store_operation_duration_seconds"
	NameStoreErrors        = "store_errors_total"
	NameReplayedEvents     = "replayed_events_total"
	NameResyncs            = "resyncs_total"
	NameBuildInfo          = "build_info"
	NameWakeLateness       = "wake_lateness_seconds"

	defaultMaxLabelValues = 100
	labelOther            = "other"
	maxLabelValueLen      = 64
)

// VersionNone is the version label of a call the router reports for a
// handler the plugin host does not serve (a native core.Handler).
const VersionNone = "none"

// RetiredNames are metric names no longer exported, each replaced by the
// one named in its comment; a test checks that none is registered.
var RetiredNames = []string{
	"handler_calls_total",           // NamePluginCalls, version VersionNone for a handler the plugin host does not serve
	"handler_call_duration_seconds", // NamePluginCallDuration
	"router_store_errors_total",     // NameStoreErrors; what clients felt is errors_total{code="internal"}
}

// Plugin call outcomes reported by the plugin host (host.CallObserver);
// they mirror host.Outcomes (plugins/host), which is the source:
// TestOutcomesMatchHost checks that each is known here. Other values are
// counted as OutcomeError.
const (
	OutcomeOK          = "ok"          // the plugin answered and accepted
	OutcomeRejected    = "rejected"    // the plugin refused the frame (Result.Reject)
	OutcomeError       = "error"       // the plugin reported an error
	OutcomePanic       = "panic"       // the plugin panicked and recovered
	OutcomeTimeout     = "timeout"     // the call ran past its deadline
	OutcomeCrash       = "crash"       // the instance trapped, exited or ran out of memory
	OutcomeABI         = "abi"         // the guest broke the ABI
	OutcomeInit        = "init"        // no instance could be created for the call
	OutcomeBadOutput   = "bad_output"  // the plugin emitted invalid output
	OutcomeLimit       = "limit"       // a per-call output limit was exceeded
	OutcomeRefused     = "refused"     // the sender's failure budget was spent; the plugin was not called
	OutcomeUnavailable = "unavailable" // disabled by a reload, or the host is closed
)

var outcomes = map[string]bool{
	OutcomeOK: true, OutcomeRejected: true, OutcomeError: true, OutcomePanic: true, OutcomeTimeout: true,
	OutcomeCrash: true, OutcomeABI: true, OutcomeInit: true, OutcomeBadOutput: true, OutcomeLimit: true,
	OutcomeRefused: true, OutcomeUnavailable: true,
}

// KnownOutcome reports whether outcome is counted under its own label.
func KnownOutcome(outcome string) bool { return outcomes[outcome] }

// Buckets of the histograms, in seconds.
var (
	// LatencyBuckets: end-to-end fan-out latency (commit to socket queue,
	// possibly across nodes).
	LatencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	// CallBuckets: plugin and store calls.
	CallBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
)

// Options configure Metrics. Zero values take the defaults.
type Options struct {
	// Version is reported as classgate_build_info{version}.
	Version string
	// NoRuntimeMetrics leaves out the Go runtime (go_*) and process
	// (process_*) collectors, e.g. in tests.
	NoRuntimeMetrics bool
	// MaxLabelValues caps the distinct label sets of each labelled metric
	// (default 100); later ones are counted under "other".
	MaxLabelValues int
	// Now is the clock for the fan-out latency (default time.Now).
	Now func() time.Time
}

// Metrics owns a Prometheus registry with every classgate metric. It
// implements core.Observer (the router's events, and the WebSocket
// server's SlowConsumer: pass it as wsserver.Options.Observer too),
// host.CallObserver of plugins/host (the plugin host's calls, see
// ObservePluginCall) and StoreObserver (InstrumentStore). It embeds
// core.NopObserver, so a hook added to core.Observer is a no-op here
// until Metrics declares it.
//
// All methods are safe for concurrent use. The zero value is not usable:
// call New.
type Metrics struct {
	core.NopObserver

	reg   *prometheus.Registry
	now   func() time.Time
	stats stats

	connections prometheus.Gauge
	joins       prometheus.Counter
	rooms       prometheus.Gauge
	framesIn    *bounded[prometheus.Counter]
	framesOut   *bounded[prometheus.Counter]
	deliveries  *bounded[prometheus.Counter]
	fanout      prometheus.Histogram
	acks        prometheus.Counter
	errorsSent  *bounded[prometheus.Counter]
	slow        prometheus.Counter
	rateLimited prometheus.Counter
	shed        prometheus.Counter
	duplicates  prometheus.Counter
	pluginCalls *bounded[prometheus.Counter]
	pluginDur   *bounded[prometheus.Observer]
	storeDur    *bounded[prometheus.Observer]
	storeErrs   *bounded[prometheus.Counter]
	replayed    prometheus.Counter
	resyncs     prometheus.Counter
	wakeLate    atomic.Pointer[func() time.Duration] // SetWakeLateness

	// hostPlugins holds the namespaces the plugin host has reported a
	// call of: the router's report of the same call (PluginCall) is then
	// not counted again. storeTimed is set once InstrumentStore has
	// reported a store call: the router's StoreError is then already
	// counted under the store operation that failed.
	hostPlugins sync.Map // string → struct{}
	storeTimed  atomic.Bool
}

var (
	_ core.Observer = (*Metrics)(nil)
	_ StoreObserver = (*Metrics)(nil)
)

// StoreObserver receives the timing of every store call (InstrumentStore).
type StoreObserver interface {
	// ObserveStoreOp records one store call: op is the method name in
	// snake_case ("commit", "members"…); failed is true for errors other
	// than the expected outcomes (duplicate, conflict, not found).
	ObserveStoreOp(op string, d time.Duration, failed bool)
}

// New builds the registry and registers every metric.
func New(o Options) *Metrics {
	if o.MaxLabelValues <= 0 {
		o.MaxLabelValues = defaultMaxLabelValues
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	reg := prometheus.NewRegistry()
	f := factory{reg: reg, max: o.MaxLabelValues}
	m := &Metrics{reg: reg, now: o.Now}
	m.connections = f.gauge(NameConnections, "Open client connections on this node.")
	m.joins = f.counter(NameJoins, "Successful room joins.")
	m.rooms = f.gauge(NameRooms, "Rooms with members on this node.")
	m.framesIn = f.counterVec(NameFramesReceived, "Client frames received, by type (control types, enabled plugin types, or invalid/unknown/rate_limited).", "type")
	m.framesOut = f.counterVec(NameFramesSent, "Control frames and plugin replies sent to one connection, by type.", "type")
	m.deliveries = f.counterVec(NameDeliveries, "Room events delivered to connections on this node (one per recipient), by event type.", "type")
	m.fanout = f.histogram(NameFanoutLatency, "Time from an event's creation (its ts) to its hand-off to the recipients' sockets on this node.", LatencyBuckets)
	m.acks = f.counter(NameAcks, "Acks sent.")
	m.errorsSent = f.counterVec(NameErrors, "Error frames sent to clients, by protocol error code.", "code")
	m.slow = f.counter(NameSlowConsumerCloses, "Connections closed with 4008 because they could not keep up.")
	m.rateLimited = f.counter(NameRateLimited, "Frames refused by the per-connection rate limiter.")
	m.shed = f.counter(NameShed, "Plugin frames answered rate_limited because they queued too long on their connection (server.shed_after).")
	m.duplicates = f.counter(NameDuplicates, "Frames recognised as duplicates by their id and acknowledged again.")
	m.pluginCalls = f.counterVec(NamePluginCalls, "Plugin calls, by plugin, version (the role that served it; none for a handler the plugin host does not serve) and outcome.", "plugin", "version", "outcome")
	m.pluginDur = f.histogramVec(NamePluginCallDuration, "Duration of plugin calls, waiting for an instance included, by plugin and version.", CallBuckets, "plugin", "version")
	m.storeDur = f.histogramVec(NameStoreOpDuration, "Duration of store calls, by operation.", CallBuckets, "op")
	m.storeErrs = f.counterVec(NameStoreErrors, "Failed store calls, by operation (duplicates, conflicts and not-found are not failures).", "op")
	m.replayed = f.counter(NameReplayedEvents, "Durable events replayed to joining clients.")
	m.resyncs = f.counter(NameResyncs, "Resync frames sent (history no longer reached back).")
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: NameWakeLateness,
		Help: "How late the Go runtime wakes a connection's reader once its socket is ready (the WebSocket server's wake-up probe); 0 when not measured. Tens of milliseconds or more: the node is short of CPU.",
	}, func() float64 {
		if f := m.wakeLate.Load(); f != nil {
			return (*f)().Seconds()
		}
		return 0
	}))
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: NameBuildInfo, Help: "Build information; always 1.",
		ConstLabels: prometheus.Labels{"version": o.Version, "goversion": runtime.Version()},
	})
	info.Set(1)
	reg.MustRegister(info)
	if !o.NoRuntimeMetrics {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// SetWakeLateness makes f the source of the wake-lateness gauge
// (wsserver.Server.WakeLateness).
func (m *Metrics) SetWakeLateness(f func() time.Duration) { m.wakeLate.Store(&f) }

// Registry returns the registry, for registering more collectors or for
// tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats (mount
// it at /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

// Connected implements core.Observer.
func (m *Metrics) Connected(delta int) { m.connections.Add(float64(delta)) }

// FrameIn implements core.Observer.
func (m *Metrics) FrameIn(typ string) { m.framesIn.with(typ).Inc() }

// FrameOut implements core.Observer.
func (m *Metrics) FrameOut(typ string) { m.framesOut.with(typ).Inc() }

// Joined implements core.Observer.
func (m *Metrics) Joined() { m.joins.Inc() }

// Rooms implements core.Observer.
func (m *Metrics) Rooms(n int) { m.rooms.Set(float64(n)) }

// Acked implements core.Observer.
func (m *Metrics) Acked() { m.acks.Inc() }

// ErrorSent implements core.Observer.
func (m *Metrics) ErrorSent(code string) { m.errorsSent.with(code).Inc() }

// RateLimited implements core.Observer.
func (m *Metrics) RateLimited() { m.rateLimited.Inc() }

// Shed implements core.Observer.
func (m *Metrics) Shed() { m.shed.Inc() }

// Duplicate implements core.Observer.
func (m *Metrics) Duplicate() { m.duplicates.Inc() }

// Delivered implements core.Observer: n deliveries are counted, and when
// n > 0 the event's age (now − tsMillis, at least 0) is observed once in
// the fan-out latency histogram.
func (m *Metrics) Delivered(typ string, n int, tsMillis int64) {
	if n <= 0 {
		return
	}
	m.deliveries.with(typ).Add(float64(n))
	if tsMillis > 0 {
		age := m.now().Sub(time.UnixMilli(tsMillis)).Seconds()
		m.fanout.Observe(max(age, 0))
	}
}

// PluginCall implements core.Observer (the router's view of a handler
// call). A call of a namespace the plugin host reports is counted there
// (ObservePluginCall) and not again here; any other handler's call is
// counted in the same series with version VersionNone and outcome ok,
// timeout (a deadline) or error.
func (m *Metrics) PluginCall(namespace string, d time.Duration, err error) {
	if _, ok := m.hostPlugins.Load(namespace); ok {
		return
	}
	outcome := OutcomeOK
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded):
		outcome = OutcomeTimeout
	default:
		outcome = OutcomeError
	}
	m.pluginCalls.with(namespace, VersionNone, outcome).Inc()
	m.pluginDur.with(namespace, VersionNone).Observe(d.Seconds())
}

// StoreError implements core.Observer: a store failure the router turned
// into an internal error (op is the router's step: join, snapshot,
// commit…). When the store is instrumented (InstrumentStore) the failure
// is already counted under the store operation that failed; otherwise it
// is counted here, under the router's step.
func (m *Metrics) StoreError(op string) {
	if !m.storeTimed.Load() {
		m.storeErrs.with(op).Inc()
	}
}

// Replayed implements core.Observer.
func (m *Metrics) Replayed(n int) {
	if n > 0 {
		m.replayed.Add(float64(n))
	}
}

// Resync implements core.Observer.
func (m *Metrics) Resync() { m.resyncs.Inc() }

// SlowConsumer implements core.Observer: one connection closed with 4008
// (the WebSocket server reports it to its Options.Observer).
func (m *Metrics) SlowConsumer() { m.slow.Inc() }

// ObservePluginCall implements host.CallObserver (plugins/host; the
// interface is declared there only, and adapters/metrics does not import
// the plugin host): one call of plugin (its namespace) served by version
// (the role: "stable", "canary" or "previous"), its outcome (one of the
// Outcome constants; unknown ones are counted as "error") and how long it
// took.
func (m *Metrics) ObservePluginCall(plugin, version, outcome string, d time.Duration) {
	if _, ok := m.hostPlugins.Load(plugin); !ok {
		m.hostPlugins.Store(plugin, struct{}{})
	}
	if !outcomes[outcome] {
		outcome = OutcomeError
	}
	m.pluginCalls.with(plugin, version, outcome).Inc()
	m.pluginDur.with(plugin, version).Observe(d.Seconds())
}

// ObserveStoreOp implements StoreObserver.
func (m *Metrics) ObserveStoreOp(op string, d time.Duration, failed bool) {
	if !m.storeTimed.Load() {
		m.storeTimed.Store(true)
	}
	m.storeDur.with(op).Observe(d.Seconds())
	if failed {
		m.storeErrs.with(op).Inc()
	}
}
