// Package core is the transport-agnostic heart of classgate: the wire
// envelope of PROTOCOL v1, error and close codes, the ports adapters plug
// into (Store, Sender, Plugins/Handler) and the Router that implements every
// control-plane rule of the protocol.
//
// core imports only the standard library. Adapters (WebSocket server, AWS
// Lambda, Redis) and the WebAssembly plugin host depend on core, never the
// reverse; a test enforces this with `go list -deps`.
//
// The router has no read loop. An adapter hands it three things:
//
//	Connect(ctx, info)        a new authenticated connection
//	Receive(ctx, id, frame)   one text frame from that connection
//	Disconnect(ctx, id)       the connection is gone
//
// and gives it a Sender that delivers encoded frames to connection ids.
// The standalone server calls these from its per-connection read loop; the
// Lambda adapter calls them once per API Gateway event.
package core
