package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/internal/dashstats"
)

// RoomInfo describes one room for GET /admin/rooms.
type RoomInfo struct {
	Room string `json:"room"`
	// Members is the number of connections in the room (as the registry
	// knows it: every node), Users the number of distinct users.
	Members int `json:"members"`
	Users   int `json:"users"`
	// Plugins maps each namespace enabled in the room to the version that
	// serves it ("stable", "canary", …).
	Plugins map[string]string `json:"plugins"`
	// PluginVersions names, for each namespace enabled in the room, the
	// role and the module digest serving it (RoomPlugins fills both maps).
	PluginVersions map[string]PluginVersion `json:"plugin_versions"`
}

// PluginVersion is the version of a plugin serving a room: its role
// ("stable", "canary" or "previous": a version no longer configured that
// the live room still runs) and the hex sha256 of its module.
type PluginVersion struct {
	Role   string `json:"role"`
	SHA256 string `json:"sha256"`
}

// PluginServer is what RoomPlugins needs from the plugin host;
// plugins/host's *Host implements it.
type PluginServer interface {
	// Features lists the namespaces enabled in room.
	Features(room string) []string
	// Served reports the role and module digest serving namespace in room.
	Served(room, namespace string) (role, sha256 string)
}

// RoomPlugins returns RoomInfo.Plugins and RoomInfo.PluginVersions for
// room, as p serves it now.
func RoomPlugins(p PluginServer, room string) (map[string]string, map[string]PluginVersion) {
	roles := map[string]string{}
	versions := map[string]PluginVersion{}
	for _, ns := range p.Features(room) {
		role, digest := p.Served(room, ns)
		if role == "" {
			continue // disabled meanwhile
		}
		roles[ns] = role
		versions[ns] = PluginVersion{Role: role, SHA256: digest}
	}
	return roles, versions
}

// Node is what the operations API needs from the gateway node. cmd/gateway
// implements it over the router, the store, the WebSocket server and the
// plugin host; NodeFuncs adapts plain functions. Methods are called
// concurrently, each with a context bounded by Options.Timeout (Drain by
// Options.DrainTimeout).
type Node interface {
	// Rooms lists the rooms with members on this node.
	Rooms(ctx context.Context) ([]RoomInfo, error)
	// Presence lists the connections in room (every node). An unknown or
	// empty room has no members and no error.
	Presence(ctx context.Context, room string) ([]core.Member, error)
	// Kick closes the connections of user with close code 4003 (removed)
	// and returns how many it closed: every connection of the user on this
	// node, or only those that joined room when room is not empty.
	Kick(ctx context.Context, user, room string) (int, error)
	// Broadcast commits a system event of type typ to room as a durable
	// event and returns its seq (core.Router.Broadcast).
	Broadcast(ctx context.Context, room, typ string, data json.RawMessage) (uint64, error)
	// Drain stops accepting connections (503), closes every open one with
	// 1012 and returns when they are gone or ctx ends. /readyz fails from
	// then on; the process keeps running until it is told to stop.
	Drain(ctx context.Context) error
	// Reload re-reads the configuration and applies what can change live
	// (plugins, log level), like SIGHUP. An invalid configuration is an
	// error and the running one stays.
	Reload(ctx context.Context) error
}

// Cluster is implemented by a Node that shares its store with other
// gateway nodes and reaches them through it (cmd/gateway on Redis, via
// the store's control channel). With it, kick acts on every node and
// drain can name another node; without it, both act on this node only.
type Cluster interface {
	// KickOthers closes user's connections (those that joined room when
	// room is not empty) on every other node with 4003.
	KickOthers(ctx context.Context, user, room string) (Remote, error)
	// DrainOthers drains the node with id node, or every other node when
	// node is "*", as Drain does locally; it returns once they answered
	// (they close their connections in the background).
	DrainOthers(ctx context.Context, node string) (Remote, error)
}

// Remote sums what the other nodes answered to a cluster-wide action.
type Remote struct {
	// Nodes is how many nodes carried it out (answered, not skipped).
	Nodes int
	// Closed is how many connections those nodes closed (or, for a
	// drain, were closing).
	Closed int
	// Unanswered is how many nodes got the request but did not answer in
	// time (-1: unknown, e.g. Redis Cluster); their connections may still
	// have been closed.
	Unanswered int
	// Errors are the failures nodes reported, "node: error".
	Errors []string
}

// NodeFuncs implements Node with plain functions; a nil function answers
// errors.ErrUnsupported (HTTP 501).
type NodeFuncs struct {
	RoomsFunc     func(ctx context.Context) ([]RoomInfo, error)
	PresenceFunc  func(ctx context.Context, room string) ([]core.Member, error)
	KickFunc      func(ctx context.Context, user, room string) (int, error)
	BroadcastFunc func(ctx context.Context, room, typ string, data json.RawMessage) (uint64, error)
	DrainFunc     func(ctx context.Context) error
	ReloadFunc    func(ctx context.Context) error
}

var _ Node = NodeFuncs{}

// Rooms implements Node.
func (n NodeFuncs) Rooms(ctx context.Context) ([]RoomInfo, error) {
	if n.RoomsFunc == nil {
		return nil, errors.ErrUnsupported
	}
	return n.RoomsFunc(ctx)
}

// Presence implements Node.
func (n NodeFuncs) Presence(ctx context.Context, room string) ([]core.Member, error) {
	if n.PresenceFunc == nil {
		return nil, errors.ErrUnsupported
	}
	return n.PresenceFunc(ctx, room)
}

// Kick implements Node.
func (n NodeFuncs) Kick(ctx context.Context, user, room string) (int, error) {
	if n.KickFunc == nil {
		return 0, errors.ErrUnsupported
	}
	return n.KickFunc(ctx, user, room)
}

// Broadcast implements Node.
func (n NodeFuncs) Broadcast(ctx context.Context, room, typ string, data json.RawMessage) (uint64, error) {
	if n.BroadcastFunc == nil {
		return 0, errors.ErrUnsupported
	}
	return n.BroadcastFunc(ctx, room, typ, data)
}

// Drain implements Node.
func (n NodeFuncs) Drain(ctx context.Context) error {
	if n.DrainFunc == nil {
		return errors.ErrUnsupported
	}
	return n.DrainFunc(ctx)
}

// Reload implements Node.
func (n NodeFuncs) Reload(ctx context.Context) error {
	if n.ReloadFunc == nil {
		return errors.ErrUnsupported
	}
	return n.ReloadFunc(ctx)
}

// Options configure the operations API.
type Options struct {
	// Token is the admin bearer token (required, at least 16 characters).
	// Every endpoint except the dashboard's static files requires
	// "Authorization: Bearer <Token>"; it is never accepted in the URL.
	Token string
	// Node is the gateway node (required).
	Node Node
	// Stats summarises the metrics for the dashboard (usually
	// (*metrics.Metrics).Stats, wired by cmd/gateway: this adapter imports
	// no other, both share internal/dashstats); GET /admin/stats adds
	// StatsIdentity's fields (StatsResponse). nil makes /admin/stats
	// answer 501.
	Stats func() (dashstats.Stats, error)
	// Metrics, when set, is served at /metrics on the admin listener
	// (usually (*metrics.Metrics).Handler()), behind the token unless
	// PublicMetrics is set.
	Metrics       http.Handler
	PublicMetrics bool
	// NodeID and Version are shown by the dashboard.
	NodeID  string
	Version string
	// Timeout bounds each call to Node (default 10s); DrainTimeout bounds
	// Drain (default 30s).
	Timeout      time.Duration
	DrainTimeout time.Duration
	// Logger receives one audit line per action (who, what; never the
	// token or a message's data). Default slog.Default().
	Logger *slog.Logger
	// Draining, when set, reports whether the node is draining for a
	// reason other than this API's drain (another node's drain through
	// the store, SIGTERM), for the dashboard.
	Draining func() bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultDrainTimeout is Options.DrainTimeout's default; cmd/gateway
// bounds a drain asked by another node with it too.
const DefaultDrainTimeout = 30 * time.Second

// maxBody bounds request bodies.
const maxBody = 64 << 10

// DefaultMessageType is the event type of POST /admin/rooms/{room}/message
// when the request names none.
const DefaultMessageType = "system.message"

// API is the operations API: an http.Handler for the admin listener.
// Safe for concurrent use.
type API struct {
	o        Options
	log      *slog.Logger
	tokenSum [sha256.Size]byte
	mux      *http.ServeMux
	started  time.Time
	draining atomic.Bool
}

// New validates o and returns the API.
func New(o Options) (*API, error) {
	if len(o.Token) < 16 {
		return nil, errors.New("admin: the admin token must have at least 16 characters")
	}
	if o.Node == nil {
		return nil, errors.New("admin: Options.Node is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &API{o: o, log: o.Logger.With("component", "admin"), tokenSum: sha256.Sum256([]byte(o.Token)), started: o.Now()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/", http.StatusMovedPermanently)
	})
	mux.Handle("GET /admin/{$}", dashboard())
	mux.Handle("GET /admin/static/", dashboard())
	mux.Handle("GET /admin/stats", a.auth(a.stats))
	mux.Handle("GET /admin/rooms", a.auth(a.rooms))
	mux.Handle("GET /admin/rooms/{room}/presence", a.auth(a.presence))
	mux.Handle("POST /admin/kick", a.auth(a.kick))
	mux.Handle("POST /admin/rooms/{room}/message", a.auth(a.message))
	mux.Handle("POST /admin/drain", a.auth(a.drain))
	mux.Handle("POST /admin/reload", a.auth(a.reload))
	if o.Metrics != nil {
		if o.PublicMetrics {
			mux.Handle("GET /metrics", o.Metrics)
		} else {
			mux.Handle("GET /metrics", a.auth(o.Metrics.ServeHTTP))
		}
	}
	a.mux = mux
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Authorized reports whether r carries the admin token as a bearer token,
// comparing in constant time.
func (a *API) Authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))
	return subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) == 1
}

func (a *API) auth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !a.Authorized(r) {
			a.log.Info("admin request refused: missing or wrong token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="classgate-admin"`)
			writeErr(w, http.StatusUnauthorized, "admin token required (Authorization: Bearer …)")
			return
		}
		next(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

type errorBody struct {
	Error string `json:"error"`
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// fail answers a Node error: 404 for core.ErrNotFound, 501 for
// errors.ErrUnsupported, 504 for a deadline, 500 otherwise.
func (a *API) fail(w http.ResponseWriter, what string, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, core.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, errors.ErrUnsupported):
		code = http.StatusNotImplemented
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	}
	a.log.Warn("admin action failed", "action", what, "err", err)
	writeErr(w, code, fmt.Sprintf("%s: %v", what, err))
}

// decode reads a JSON body into v: at most 64 KiB, no unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	return nil
}

func (a *API) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), a.o.Timeout)
}

// StatsResponse is the body of GET /admin/stats: the summary
// Options.Stats returns and the node's identity, in one JSON object.
type StatsResponse struct {
	dashstats.Stats
	StatsIdentity
}

// StatsIdentity is what GET /admin/stats adds to the summary
// Options.Stats returns: the node's identity and state.
type StatsIdentity struct {
	Node          string  `json:"node"`
	Version       string  `json:"version"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	Draining      bool    `json:"draining"`
}

func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	if a.o.Stats == nil {
		writeErr(w, http.StatusNotImplemented, "stats: no metrics configured")
		return
	}
	s, err := a.o.Stats()
	if err != nil {
		a.fail(w, "stats", err)
		return
	}
	body, err := json.Marshal(StatsResponse{Stats: s, StatsIdentity: StatsIdentity{Node: a.o.NodeID, Version: a.o.Version,
		UptimeSeconds: a.o.Now().Sub(a.started).Seconds(), Draining: a.draining.Load() || a.o.Draining != nil && a.o.Draining()}})
	if err != nil { // e.g. a NaN: a clear 500, not a truncated 200
		a.fail(w, "stats", fmt.Errorf("encoding the summary: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, json.RawMessage(body))
}

// RoomsResponse is the body of GET /admin/rooms, sorted by room.
type RoomsResponse struct {
	Rooms []RoomInfo `json:"rooms"`
}

func (a *API) rooms(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := a.ctx(r)
	defer cancel()
	rooms, err := a.o.Node.Rooms(ctx)
	if err != nil {
		a.fail(w, "rooms", err)
		return
	}
	if rooms == nil {
		rooms = []RoomInfo{}
	}
	for i := range rooms {
		if rooms[i].Plugins == nil {
			rooms[i].Plugins = map[string]string{}
		}
		if rooms[i].PluginVersions == nil {
			rooms[i].PluginVersions = map[string]PluginVersion{}
		}
	}
	sort.Slice(rooms, func(i, j int) bool { return rooms[i].Room < rooms[j].Room })
	writeJSON(w, http.StatusOK, RoomsResponse{Rooms: rooms})
}

// PresenceResponse is the body of GET /admin/rooms/{room}/presence.
type PresenceResponse struct {
	Room    string        `json:"room"`
	Members []core.Member `json:"members"`
}

func (a *API) presence(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if room == "" {
		writeErr(w, http.StatusBadRequest, "room is required")
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	members, err := a.o.Node.Presence(ctx, room)
	if err != nil {
		a.fail(w, "presence", err)
		return
	}
	if members == nil {
		members = []core.Member{}
	}
	sort.Slice(members, func(i, j int) bool {
		if members[i].User.ID != members[j].User.ID {
			return members[i].User.ID < members[j].User.ID
		}
		return members[i].Conn < members[j].Conn
	})
	writeJSON(w, http.StatusOK, PresenceResponse{Room: room, Members: members})
}

// KickRequest is the body of POST /admin/kick.
type KickRequest struct {
	User string `json:"user"`
	// Room, when set, kicks only the user's connections in that room.
	Room string `json:"room,omitempty"`
}

// KickResponse reports how many connections were closed with 4003, on
// every node of the cluster that answered.
type KickResponse struct {
	Closed int `json:"closed"`
	// Nodes is how many nodes carried the kick out, this one included.
	Nodes int `json:"nodes"`
	// Unanswered is how many other nodes did not answer in time (-1:
	// unknown); Detail says why some could not be reached.
	Unanswered int    `json:"unanswered"`
	Detail     string `json:"detail,omitempty"`
}

func (a *API) kick(w http.ResponseWriter, r *http.Request) {
	var req KickRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, err.Error())
		return
	}
	if strings.TrimSpace(req.User) == "" {
		writeErr(w, http.StatusBadRequest, "user is required")
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	n, err := a.o.Node.Kick(ctx, req.User, req.Room)
	if err != nil {
		a.fail(w, "kick", err)
		return
	}
	resp := KickResponse{Closed: n, Nodes: 1}
	if cl, ok := a.o.Node.(Cluster); ok {
		rem, err := cl.KickOthers(ctx, req.User, req.Room)
		resp.add(rem, err)
	}
	a.log.Info("admin: kicked", "user", req.User, "room", req.Room, "closed", resp.Closed, "nodes", resp.Nodes,
		"unanswered", resp.Unanswered, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, resp)
}

// add counts the other nodes' answers in; this node's part stands even
// when they could not be reached.
func (k *KickResponse) add(rem Remote, err error) {
	if err != nil {
		k.Unanswered, k.Detail = -1, "other nodes not reached: "+err.Error()
		return
	}
	k.Closed += rem.Closed
	k.Nodes += rem.Nodes
	k.Unanswered = rem.Unanswered
	if len(rem.Errors) > 0 {
		k.Detail = strings.Join(rem.Errors, "; ")
	}
}

// MessageRequest is the body of POST /admin/rooms/{room}/message.
type MessageRequest struct {
	// Type is "<namespace>.<action>" (default DefaultMessageType).
	Type string `json:"type,omitempty"`
	// Data is any JSON value (default {}).
	Data json.RawMessage `json:"data,omitempty"`
}

// MessageResponse reports the seq the system event got.
type MessageResponse struct {
	Seq uint64 `json:"seq"`
}

func (a *API) message(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	var req MessageRequest
	if err := decode(w, r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Type == "" {
		req.Type = DefaultMessageType
	}
	if !core.ValidType(req.Type) {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("type %q must be <namespace>.<action> of a-z, 0-9, _ and - (at most %d bytes)", req.Type, core.MaxTypeLen))
		return
	}
	if !core.ValidRoom(room) {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("room must be 1-%d bytes of UTF-8 without control characters", core.MaxRoomLen))
		return
	}
	if len(req.Data) == 0 {
		req.Data = json.RawMessage(`{}`)
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	seq, err := a.o.Node.Broadcast(ctx, room, req.Type, req.Data)
	if err != nil {
		a.fail(w, "message", err)
		return
	}
	a.log.Info("admin: system message", "room", room, "type", req.Type, "bytes", len(req.Data), "seq", seq, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, MessageResponse{Seq: seq})
}

// DrainRequest is the optional body of POST /admin/drain.
type DrainRequest struct {
	// Node is the id of the node to drain: "" (or this node's id) drains
	// this one, another id drains that node through the store, "*" drains
	// every node of the cluster.
	Node string `json:"node,omitempty"`
}

// DrainResponse reports a drain: Complete is false when connections were
// still closing when DrainTimeout ran out (they keep closing); other
// nodes always close theirs in the background, so a drain of only other
// nodes is never Complete.
type DrainResponse struct {
	Draining bool   `json:"draining"`
	Complete bool   `json:"complete"`
	Detail   string `json:"detail,omitempty"`
	// Nodes is how many other nodes started draining and Closed how many
	// connections they were closing; Unanswered as in KickResponse.
	Nodes      int `json:"nodes,omitempty"`
	Closed     int `json:"closed,omitempty"`
	Unanswered int `json:"unanswered,omitempty"`
}

func (a *API) drain(w http.ResponseWriter, r *http.Request) {
	var req DrainRequest
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			writeErr(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	var resp DrainResponse
	if req.Node != "" && req.Node != a.o.NodeID {
		cl, ok := a.o.Node.(Cluster)
		if !ok {
			writeErr(w, http.StatusNotImplemented, "this node reaches no other node (draining another node needs a shared store)")
			return
		}
		ctx, cancel := a.ctx(r)
		rem, err := cl.DrainOthers(ctx, req.Node)
		cancel()
		if err != nil {
			a.fail(w, "drain "+req.Node, err)
			return
		}
		a.log.Warn("admin: draining other nodes", "node", req.Node, "nodes", rem.Nodes, "closing", rem.Closed,
			"unanswered", rem.Unanswered, "remote", r.RemoteAddr)
		resp = DrainResponse{Draining: rem.Nodes > 0, Nodes: rem.Nodes, Closed: rem.Closed, Unanswered: rem.Unanswered,
			Detail: strings.Join(rem.Errors, "; ")}
		if req.Node != "*" {
			if rem.Nodes == 0 {
				writeErr(w, http.StatusNotFound, fmt.Sprintf("node %q did not answer (unknown, down, or on another store)", req.Node))
				return
			}
			writeJSON(w, http.StatusOK, resp)
			return
		}
	}
	a.log.Warn("admin: draining the node", "remote", r.RemoteAddr)
	a.draining.Store(true)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), a.o.DrainTimeout)
	defer cancel()
	err := a.o.Node.Drain(ctx)
	resp.Draining = true
	switch {
	case err == nil:
		resp.Complete = true
		writeJSON(w, http.StatusOK, resp)
	case errors.Is(err, context.DeadlineExceeded):
		resp.Detail = strings.TrimPrefix(resp.Detail+"; "+err.Error(), "; ")
		writeJSON(w, http.StatusAccepted, resp)
	default:
		if errors.Is(err, errors.ErrUnsupported) {
			a.draining.Store(false)
		}
		a.fail(w, "drain", err)
	}
}

// ReloadResponse reports a successful reload.
type ReloadResponse struct {
	Reloaded bool `json:"reloaded"`
}

func (a *API) reload(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := a.ctx(r)
	defer cancel()
	if err := a.o.Node.Reload(ctx); err != nil {
		a.fail(w, "reload", err)
		return
	}
	a.log.Info("admin: configuration reloaded", "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, ReloadResponse{Reloaded: true})
}
