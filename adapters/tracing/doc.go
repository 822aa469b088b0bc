// Package tracing is classgate's OpenTelemetry adapter: spans for the path
// of a client frame through the gateway,
//
//	classgate.receive                 one client frame (Router wrapper or StartReceive)
//	├── classgate.store.snapshot      store calls made for it (Store wrapper)
//	├── classgate.plugin              the plugin handler call (Plugins wrapper)
//	├── classgate.store.commit
//	│   └── classgate.fanout          delivery to this node's members (Store wrapper's sink)
//	└── …
//
// exported over OTLP/HTTP when Config.Endpoint is set, and off (a no-op
// tracer, no exporter) by default.
//
// Wiring (cmd/gateway), after Setup:
//
//	tr, err := tracing.Setup(ctx, cfg, nodeID, version)
//	defer tr.Shutdown(shutdownCtx)
//	store = tr.Store(store)
//	plugins := tr.Plugins(host)
//	router, _ := core.NewRouter(core.Options{Store: store, Plugins: plugins, ...})
//	ws.Attach(tr.Router(router))
//
// Store spans are only created under a parent span, so heartbeats and
// sweeps make no traces. Spans carry connection ids, room ids, frame
// types and plugin names; never user names, tokens or message data. No
// OpenTelemetry type appears in this package's exported API.
package tracing
