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

	"github.com/classgate/classgate/adapters/admin"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/internal/config"
)

// adminNode implements admin.Node over this process's router, store,
// WebSocket server and plugin host.
type adminNode struct {
	n  *node
	rl *reloader
}

var _ admin.Node = adminNode{}

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
		versions := map[string]string{}
		for _, ns := range a.n.plugins.Features(room) {
			versions[ns] = a.n.plugins.Version(room, ns)
		}
		out = append(out, admin.RoomInfo{Room: room, Members: len(members), Users: len(users), Plugins: versions})
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

func (a adminNode) Reload(ctx context.Context) error { return a.rl.reload(ctx) }

// startAdmin serves the operations API, the dashboard, /metrics (behind
// the token) and optionally pprof on admin.listen.
func startAdmin(cfg *config.Config, n *node, rl *reloader, log *slog.Logger) (*http.Server, error) {
	o := admin.Options{
		Token: cfg.Admin.Token, Node: adminNode{n: n, rl: rl}, Stats: n.metrics.Stats,
		NodeID: cfg.Node.ID, Version: version, Logger: log,
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
