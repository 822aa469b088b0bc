// Command loadgen drives a classgate gateway over its WebSocket protocol
// (PROTOCOL v1) and reports what it measured.
//
// It opens rooms × users connections (spread round-robin over one or more
// gateway nodes), joins every connection to its room, then lets a few
// publishers per room send chat messages, whiteboard strokes and cursor
// moves at a fixed total rate for a warm-up and a measured duration.
//
// Sending is open loop: each publisher has a schedule of send times at a
// fixed interval and sends when a slot comes due, whatever the server's
// answers do; latency is measured from the scheduled time, not from the
// moment the frame was written, so a stalled server shows up as latency
// rather than as a quietly lower rate (no coordinated omission).
//
// Every payload carries a marker "lg:<unix-nanos>:<n>" (chat text, the
// whiteboard element's id, a field of the cursor frame) from which each
// receiver computes end-to-end latency. Every connection checks the
// per-room sequence numbers of the durable events it receives (gaps,
// duplicates, reorders), and the run compares the deliveries it expected
// (acknowledged durable messages × members of the room, measured window
// only) with those that arrived.
//
// Loadgen shares the machine with the gateway it measures, so it keeps its
// own cost per frame low: it speaks WebSocket itself (wsconn.go: ws:// only,
// no extensions) and, once a connection has joined, reads it from a few
// epoll poller goroutines instead of a goroutine per connection
// (poller_linux.go; Linux only). Pollers sleep up to about a millisecond
// between rounds rather than block in epoll_wait, which batches wake-ups;
// the price is up to ~1 ms added to every measured latency, never less.
// Where the kernel allows io_uring, the reads of one round go to the
// kernel in one submission (internal/uring) instead of a read(2) each.
//
// Latency is also split at the gateway's "ts" stamp (set when the event is
// sequenced, millisecond resolution): scheduled send → stamp (loadgen's
// own send lag, the network and the gateway's work up to the commit) and
// stamp → received (the fan-out). loadgen's send lag is reported on its
// own, so a late publisher is not mistaken for a slow gateway.
//
// Given the server's pid (-pid), loadgen samples the server's resident
// memory and CPU time from /proc before connecting, once connected and
// idle, and at the end, and reports memory per connection and CPU use.
//
// For fault runs (make chaos, docs/RELIABILITY.md), -verify keeps a ledger
// of every acknowledged durable message and, per member, of what arrived
// (verify.go): each acked message × member that stayed joined is
// delivered (exactly once, in order), resynced (a resync covers it) or
// lost. -reconnect replaces a connection the server or the network cut:
// the client dials the next -url and re-joins with since and epoch (the
// missed events come by replay). Whatever the flags, a client answers a
// resync by re-joining the room without since. -phases-stdin publishes
// until "stop" on stdin and takes "phase NAME" lines that split the
// ledger's report by fault; with -verify, the ledger alone decides the
// verdict (errors and disconnects are expected during faults).
//
// With -peer centrifugo, loadgen drives a Centrifugo server instead, over
// Centrifugo's bidirectional JSON protocol (centrifugo.go), with the same
// schedule, connections, pollers and report, so both servers can be
// measured side by side (scripts/bench.sh's peer rows). The protocol is a
// peer (peer.go); classgate's is classgatePeer.
//
// The process exits non-zero when anything was lost, duplicated or out of
// order, or when errors occurred, unless -allow-loss is given.
//
// Typical runs:
//
//	loadgen -secret $SECRET -rooms 100 -users 30 -rate 2000 -duration 30s
//	loadgen -secret $SECRET -rooms 334 -users 30 -idle -duration 10s -pid $(pidof gateway)
//	loadgen -url ws://127.0.0.1:8080/ws,ws://127.0.0.1:8081/ws -secret $SECRET -json
package main
