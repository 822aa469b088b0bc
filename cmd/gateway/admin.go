package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"time"

	"github.com/classgate/classgate/adapters/admin"
	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/internal/config"
)

// adminNode implements admin.Node over this process's router, store,
// WebSocket server and plugin host.
type adminNode struct {
	n  *node
	rl *reloader
}

var (
	_ admin.Node    = adminNode{}
	_ admin.Cluster = adminNode{}
)

func (a adminNode) Rooms(ctx context.Context) ([]admin.RoomInfo, error) {
	local := a.n.router.LocalRooms()
	names := make([]string, 0, len(local))
	for r := range local {
		names = append(names, r)
	}
	sort.Strings(names)
	out := make([]admin.RoomInfo, 0, len(names))
	for _, room := range names {
		members, err := a.n.store.Members(ctx, room)
		if err != nil {
			return nil, fmt.Errorf("members of %s: %w", room, err)
		}
		users := map[string]bool{}
		for _, m := range members {
			users[m.User.ID] = true
		}
		roles, versions := admin.RoomPlugins(a.n.plugins, room)
		out = append(out, admin.RoomInfo{Room: room, Members: len(members), Users: len(users), Plugins: roles, PluginVersions: versions})
	}
	return out, nil
}

func (a adminNode) Presence(ctx context.Context, room string) ([]core.Member, error) {
	return a.n.store.Members(ctx, room)
}

func (a adminNode) Kick(_ context.Context, user, room string) (int, error) {
	return a.n.ws.CloseWhere(func(c core.ConnInfo) bool {
		return c.User.ID == user && (room == "" || a.n.router.Joined(c.ID, room))
	}, core.CloseRemoved, "removed by an administrator"), nil
}

func (a adminNode) Broadcast(ctx context.Context, room, typ string, data json.RawMessage) (uint64, error) {
	return a.n.router.Broadcast(ctx, room, typ, data)
}

func (a adminNode) Drain(ctx context.Context) error { return a.n.ws.Shutdown(ctx) }

// KickOthers implements admin.Cluster: on Redis, the kick goes to every
// other node through the store's control channel; the memory store has
// no other node.
func (a adminNode) KickOthers(ctx context.Context, user, room string) (admin.Remote, error) {
	if a.n.cluster == nil {
		return admin.Remote{}, nil
	}
	return a.others(ctx, redis.Control{Op: redis.ControlKick, User: user, Room: room})
}

// DrainOthers implements admin.Cluster.
func (a adminNode) DrainOthers(ctx context.Context, node string) (admin.Remote, error) {
	if a.n.cluster == nil {
		return admin.Remote{}, fmt.Errorf("node %q: this node shares no store with others: %w", node, core.ErrNotFound)
	}
	return a.others(ctx, redis.Control{Op: redis.ControlDrain, Node: node})
}

func (a adminNode) others(ctx context.Context, c redis.Control) (admin.Remote, error) {
	res, err := a.n.cluster.Control(ctx, c)
	if err != nil {
		return admin.Remote{}, err
	}
	rem := admin.Remote{Unanswered: res.Unanswered}
	for _, r := range res.Replies {
		switch {
		case r.Skipped:
		case r.Err != "":
			rem.Errors = append(rem.Errors, r.Node+": "+r.Err)
		default:
			rem.Nodes++
			rem.Closed += r.Closed
		}
	}
	return rem, nil
}

// handleControl carries out, on this node, a cluster-wide operation that
// another node's operations API published (see redis.Control): a kick
// closes the user's connections here; a drain starts draining this node
// (bounded by drainTimeout, in the background) and answers at once with
// the connections it is closing.
func handleControl(n *node, drainTimeout time.Duration, log *slog.Logger) redis.ControlHandler {
	a := adminNode{n: n}
	return func(ctx context.Context, c redis.Control) (int, error) {
		switch c.Op {
		case redis.ControlKick:
			k, err := a.Kick(ctx, c.User, c.Room)
			log.Info("admin: kicked (cluster-wide)", "user", c.User, "room", c.Room, "closed", k, "asked_by", c.From)
			return k, err
		case redis.ControlDrain:
			closing := n.ws.Count()
			log.Warn("admin: draining the node (cluster-wide)", "closing", closing, "asked_by", c.From)
			go func() {
				dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
				defer cancel()
				if err := n.ws.Shutdown(dctx); err != nil {
					log.Warn("drain incomplete", "err", err)
				}
			}()
			return closing, nil
		}
		return 0, fmt.Errorf("unknown control operation %q", c.Op)
	}
}

func (a adminNode) Reload(ctx context.Context) error { return a.rl.reload(ctx) }

// startAdmin serves the operations API, the dashboard, /metrics (behind
// the token) and optionally pprof on admin.listen.
func startAdmin(cfg *config.Config, n *node, rl *reloader, log *slog.Logger) (*http.Server, error) {
	o := admin.Options{
		Token: cfg.Admin.Token, Node: adminNode{n: n, rl: rl}, Stats: n.metrics.Stats,
		NodeID: cfg.Node.ID, Version: version, Logger: log,
		Draining: func() bool { return !n.ws.Ready() },
	}
	if cfg.Metrics.Enabled {
		o.Metrics = n.metrics.Handler()
	}
	api, err := admin.New(o)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", api)
	if cfg.Admin.Pprof {
		want := sha256.Sum256([]byte("Bearer " + cfg.Admin.Token))
		guard := func(h http.HandlerFunc) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
				if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
					http.Error(w, "admin token required", http.StatusUnauthorized)
					return
				}
				h(w, r)
			})
		}
		mux.Handle("/debug/pprof/", guard(pprof.Index))
		mux.Handle("/debug/pprof/profile", guard(pprof.Profile))
		mux.Handle("/debug/pprof/trace", guard(pprof.Trace))
		mux.Handle("/debug/pprof/symbol", guard(pprof.Symbol))
	}
	ln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin.listen %s: %w", cfg.Admin.Listen, err)
	}
	hs := newHTTPServer(cfg.Server, mux)
	go func() { _ = hs.Serve(ln) }()
	log.Info("admin listening", "addr", ln.Addr().String())
	return hs, nil
}
