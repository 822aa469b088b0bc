// Package admin is classgate's operations API and operator dashboard, for
// a separate admin listener (never the public one).
//
// Every endpoint except the dashboard's static files requires the admin
// token as "Authorization: Bearer <token>", compared in constant time;
// without it the answer is 401. Endpoints:
//
//	GET  /admin/                         the operator dashboard (HTML+JS, embedded)
//	GET  /admin/stats                    live summary for the dashboard (Options.Stats + node)
//	GET  /admin/rooms                    rooms on this node: members, users, plugin versions
//	GET  /admin/rooms/{room}/presence    a room's connections (room path-escaped: a%2Fb)
//	POST /admin/kick                     {"user","room"?} → close with 4003, on every node
//	POST /admin/rooms/{room}/message     {"type"?,"data"} → durable system event
//	POST /admin/drain                    {"node"?} stop accepting, close clients with 1012
//	POST /admin/reload                   reload the configuration (like SIGHUP)
//	GET  /metrics                        Prometheus exposition, when Options.Metrics is set
//
// The package knows nothing of the transport or the store: it calls a Node
// that cmd/gateway implements (NodeFuncs adapts functions); a Node that
// also implements Cluster reaches the other nodes of its cluster, so kick
// and drain act cluster-wide. Each action is
// logged once (action, user, room, remote address); tokens and message
// data never are. docs/OPERATIONS.md has curl examples.
package admin
