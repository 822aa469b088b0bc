// Package wsserver is the standalone WebSocket transport of classgate. It
// authenticates the handshake (token in the query string, 401 without
// upgrade on failure), enforces the origin allow-list and the hard read
// limit (close 1009), gives every connection a bounded outbound queue so
// a slow client never stalls its room (close 4008 when the queue
// overflows), pings idle peers (close 1008 without a pong), and shuts
// down gracefully: /readyz fails, new handshakes get 503, open
// connections are closed with 1012.
//
// # Who owns which bytes on the wire
//
// internal/wsframe owns the WebSocket protocol, every byte of it: the
// 101 response (wsframe.Accept, which also refuses malformed handshakes
// and foreign origins), every frame the server sends (a wsframe.Writer
// per connection frames data messages, pongs, pings and the close frame
// into one buffer, and refuses anything after the close frame) and the
// parsing and checking of every frame the client sends (wsframe.Reader:
// masking, fragmentation, control frames, close codes, the read limit).
// No WebSocket library runs on a connection; coder/websocket is only a
// client in tests. No extension (permessage-deflate) and no subprotocol
// is negotiated, as before.
//
// Why the whole connection and not only the writes: a library that reads
// also writes — it answers pings and echoes the close frame by itself,
// from its reader, through the same socket. Owning the writes under such
// a reader means recognising its frames in its writes (the server once
// spotted the library's close frame by its first byte and relied on each
// control frame arriving in one Write), which a routine upgrade of the
// library could break without a test noticing. With the reader ours as
// well, each frame on the wire is written by exactly one package.
//
// This package owns when those bytes move and what the server does
// about the client's: the connection's reader (data messages to the
// router, a pong for each ping, the close handshake: the peer's code
// echoed, or ours sent and the peer's awaited, then the socket closed),
// the outbound queue and the writes of the Writer's buffer (output.go:
// one non-blocking write(2) from the delivering goroutine, a writer
// goroutine with a deadline for what is left) and room fan-out
// (batch.go: one uring.Batcher call per batch of members — an io_uring
// ring, or uring.Syscalls where there is none or it failed).
//
// Overload (Options.ShedAfter): the reader sheds a connection's plugin
// frames, answering them rate_limited on the spot, once they have waited
// too long (shed.go). It sees two waits: frames queued behind each other
// in the socket, and frames that came while it was parked and that the
// runtime was late to wake it for — measured by a probe, a socket pair
// written every 10 ms and read like a client (wakeprobe.go,
// Server.WakeLateness, classgate_wake_lateness_seconds).
//
// A Server is the core.Sender of the router it feeds:
//
//	srv := wsserver.New(opts)
//	router, _ := core.NewRouter(core.Options{Sender: srv, Store: st})
//	srv.Attach(router)
//	mux.Handle("/ws", srv)
package wsserver
