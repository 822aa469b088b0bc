// Package wsserver is the standalone WebSocket transport of classgate,
// built on github.com/coder/websocket. It authenticates the handshake
// (token in the query string, 401 without upgrade on failure), enforces
// the origin allow-list and the hard read limit (close 1009), gives every
// connection a bounded outbound queue and writer goroutine so a slow client
// never stalls its room (close 4008 when the queue overflows), and shuts
// down gracefully: /readyz fails, new handshakes get 503, open connections
// are closed with 1012.
//
// A Server is the core.Sender of the router it feeds:
//
//	srv := wsserver.New(opts)
//	router, _ := core.NewRouter(core.Options{Sender: srv, Store: st})
//	srv.Attach(router)
//	mux.Handle("/ws", srv)
package wsserver
