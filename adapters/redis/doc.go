// Package redis is the Redis implementation of core.Store, for running
// several gateway nodes as one: a room split across nodes keeps one seq
// order, one presence list and one history.
//
// It uses github.com/redis/go-redis/v9 and keeps that dependency inside this
// package: callers see only core types and Options. Three topologies are
// supported (Options.Mode): a single server, Sentinel (primary + replicas)
// and Cluster.
//
// # Atomicity
//
// Every Commit is one Lua script on the room's hash slot: dedupe check,
// version check, seq assignment, history append (a Redis Stream capped by
// size and age), plugin state ops and the publication of every event on the
// room's channel. Because publication happens inside the script, every
// subscriber on every node receives a room's events in one order, and the
// state read by Snapshot at seq N is exactly the state after event N.
//
// # Key layout
//
// All keys start with Options.Prefix (P, default "classgate:"). Room keys
// carry the room id as a Redis Cluster hash tag, so one room lives in one
// slot; connection keys carry the connection id. Braces and '%' in ids are
// escaped (%7B, %7D, %25) so a tag always ends where the id ends.
//
//	P r{room}:meta       hash  seq, ver, epoch (room seq, state version, and the
//	                     epoch the seq counts in: set by the commit or snapshot
//	                     script when missing, i.e. when the seq starts from
//	                     nothing, and replaced when a node sees the seq went back),
//	                     ns:<ns> = 1 for each namespace that ever had state
//	P r{room}:hist       stream, one entry per durable event: s=seq, e=event JSON;
//	                     auto IDs (server ms), trimmed to history_limit (MAXLEN)
//	                     and history_age (MINID)
//	P r{room}:st:<ns>    hash  plugin namespace state, key → value
//	P r{room}:dd:<key>   string first seq of a deduplicated commit, PX dedupe TTL
//	P r{room}:dr:<key>   string JSON {code, message} of a refused frame, PX dedupe TTL
//	P r{room}:mem        hash  conn id → member user JSON
//	P r{room}:users      hash  user id → number of that user's conns in the room
//	P r{room}:ch         pub/sub channel (sharded in Cluster mode); messages are
//	                     "<seq> <epoch> <event JSON>", "0 - <JSON>" for
//	                     ephemeral events, "<seq> <epoch> mark" for a new epoch
//	P c{conn}            hash  info (ConnInfo JSON), user (User JSON), uid, node
//	P c{conn}:rooms      set   rooms the connection joined
//	P live               zset  conn id → last heartbeat (server time, ms)
//	P ctl                pub/sub channel (plain in every mode) of cluster-wide
//	                     admin requests, JSON Control (control.go)
//	P ctl:r:<node>       pub/sub channel of the answers to node's requests
//
// Idle rooms: meta, hist and the st:<ns> hashes of a room with no
// members expire after Options.IdleRoomTTL. The last member's leave sets
// the expiry, a commit to the empty room renews it, the first member's
// join removes it (PERSIST); mem and users disappear with their last
// field, dd and dr keys have their own. An expired room starts over with
// a new epoch.
//
// # Consistency notes
//
// Registry operations that touch a connection and a room are two scripts
// (they live in different slots in Cluster mode), ordered so that a failure
// half way is repaired by retrying or by liveness expiry: RemoveConn deletes
// the connection only after leaving its rooms, so an interrupted removal
// leaves an untouched connection that Expired reports again.
//
// With Options.WaitReplicas > 0 a commit is acknowledged only after WAIT
// confirmed it on that many replicas; otherwise Commit returns an error
// wrapping core.ErrUnavailable. The events were already published by then
// (a client that retries with the same message id gets the original seq,
// once WAIT confirms it too).
//
// Epochs (see core.Snapshot.Epoch): a room whose data Redis lost gets a new
// epoch with its next commit or snapshot. The bus starts its count over on
// an event of another epoch; on re-subscribing after a connection failure
// it compares the room's seq and epoch with what it delivered and hands the
// sink an epoch mark when the epoch changed or the seq went back (then
// starting a new epoch in Redis first). A commit that gets a seq this node
// already delivered in the same epoch does the same. Every node is told of
// a new epoch by a "mark" message on the room's channel.
//
// Errors caused by an unreachable or failing-over Redis (network errors,
// timeouts, LOADING, READONLY, MASTERDOWN, CLUSTERDOWN, TRYAGAIN) wrap
// core.ErrUnavailable. go-redis reconnects by itself and the bus
// re-subscribes every room after a reconnect; events published while the
// subscriber connection was down are recovered from the history when the
// next durable event of the room shows the gap.
//
// Script calls of many rooms share pipelines (pipeline.go), and a node
// keeps the plugin state of the rooms it subscribes to at their state
// version, so a snapshot transfers state only when it changed elsewhere
// (statecache.go).
//
// The first New switches go-redis's own logging off, process-wide (go-redis
// is used by this package only): failures reach the caller as errors.
package redis
