// Package metrics is classgate's Prometheus adapter: a registry, a
// core.Observer that turns the router's events into classgate_* metrics, a
// core.Store decorator that times every store call, the hooks the WebSocket
// server and the plugin host report to, and a windowed summary (Stats) for
// the operator dashboard.
//
// Naming follows the Prometheus conventions: every name starts with
// classgate_, counters end in _total, durations are histograms in seconds.
// No label ever carries a user, connection or room id; label values come
// from small sets (frame types of enabled plugins, error codes, plugin
// names and versions, store operations) and each label set is capped
// (Options.MaxLabelValues) so a misbehaving plugin cannot explode the
// series count: values past the cap are counted under "other".
//
// Wiring (cmd/gateway):
//
//	m := metrics.New(metrics.Options{Version: version})
//	store = metrics.InstrumentStore(store, m)
//	ws := wsserver.New(wsserver.Options{..., Observer: m})
//	router, _ := core.NewRouter(core.Options{..., Observer: m})
//	mux.Handle("/metrics", m.Handler())
//
// Every method of *Metrics is safe for concurrent use and cheap enough to
// call on every frame. docs/OPERATIONS.md lists every metric.
package metrics
