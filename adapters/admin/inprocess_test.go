package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/admin"
	"github.com/classgate/classgate/adapters/jwt"
	"github.com/classgate/classgate/adapters/metrics"
	"github.com/classgate/classgate/adapters/wsserver"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/memory"
)

// roomSeen is a core.Plugins with no plugin that remembers the rooms the
// router asked about (every join asks for the room's features): the test's
// stand-in for a router method listing local rooms.
type roomSeen struct {
	mu    sync.Mutex
	rooms map[string]bool
}

func (p *roomSeen) Handler(string, string) core.Handler { return nil }

func (p *roomSeen) Features(room string) []string {
	p.mu.Lock()
	p.rooms[room] = true
	p.mu.Unlock()
	return []string{}
}

func (p *roomSeen) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for r := range p.rooms {
		out = append(out, r)
	}
	return out
}

// TestAdminInProcess runs the end-to-end script against the pieces wired
// in-process the way cmd/gateway is expected to wire them (a reference for
// that wiring): memory store, router with the metrics observer, WebSocket
// server with the slow-consumer hook, and the admin API over NodeFuncs.
func TestAdminInProcess(t *testing.T) {
	// Every log line of the run, at debug level, to check what never
	// appears in them.
	var logMu sync.Mutex
	logs := &strings.Builder{}
	log := slog.New(slog.NewJSONHandler(lockedWriter{&logMu, logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	v, err := jwt.New(jwt.Options{HS256Secret: []byte(e2eSecret)})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Options{Version: "test"})
	st := metrics.InstrumentStore(memory.New(memory.Options{}), m)
	ws := wsserver.New(wsserver.Options{Verifier: v, Logger: log, Observer: m})
	plugins := &roomSeen{rooms: map[string]bool{}}
	router, err := core.NewRouter(core.Options{Store: st, Sender: ws, Plugins: plugins, Observer: m, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ws.Attach(router)

	node := admin.NodeFuncs{
		RoomsFunc: func(ctx context.Context) ([]admin.RoomInfo, error) {
			var out []admin.RoomInfo
			for _, room := range plugins.list() {
				members, err := st.Members(ctx, room)
				if err != nil {
					return nil, fmt.Errorf("members of %s: %w", room, err)
				}
				if len(members) == 0 {
					continue
				}
				users := map[string]bool{}
				for _, mb := range members {
					users[mb.User.ID] = true
				}
				info := admin.RoomInfo{Room: room, Members: len(members), Users: len(users), Plugins: map[string]string{}}
				for _, ns := range plugins.Features(room) {
					info.Plugins[ns] = "builtin"
				}
				out = append(out, info)
			}
			return out, nil
		},
		PresenceFunc: st.Members,
		KickFunc: func(ctx context.Context, user, room string) (int, error) {
			match := func(c core.ConnInfo) bool { return c.User.ID == user }
			if room != "" {
				members, err := st.Members(ctx, room)
				if err != nil {
					return 0, err
				}
				in := map[core.ConnID]bool{}
				for _, mb := range members {
					in[mb.Conn] = true
				}
				match = func(c core.ConnInfo) bool { return c.User.ID == user && in[c.ID] }
			}
			return ws.CloseWhere(match, core.CloseRemoved, "removed by an administrator"), nil
		},
		BroadcastFunc: router.Broadcast,
		DrainFunc:     ws.Shutdown,
		ReloadFunc:    func(context.Context) error { return nil },
	}
	api, err := admin.New(admin.Options{Token: e2eToken, Node: node, Stats: m.Stats, Metrics: m.Handler(), NodeID: "in-process", Logger: log})
	if err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/ws", ws)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ws.Ready() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	public := httptest.NewServer(mux)
	adminSrv := httptest.NewServer(api)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ws.Shutdown(ctx)
		public.Close()
		adminSrv.Close()
	})
	runAdminE2E(t, &Gateway{
		HTTP:  public.URL,
		WS:    "ws" + strings.TrimPrefix(public.URL, "http") + "/ws",
		Admin: adminSrv.URL,
		Logs:  func() string { logMu.Lock(); defer logMu.Unlock(); return logs.String() },
	})
	logMu.Lock()
	defer logMu.Unlock()
	out := logs.String()
	for _, never := range []string{"eyJ" /* any JWT */, e2eToken, e2eSecret, "Class ends in 5 minutes"} {
		if strings.Contains(out, never) {
			t.Errorf("the logs contain %q:\n%s", never, out)
		}
	}
	if !strings.Contains(out, `"msg":"admin: kicked"`) || !strings.Contains(out, `"user":"sam"`) {
		t.Errorf("the logs lack the audit line of the kick:\n%s", out)
	}
}

// TestAdmintestClient exercises the test client against the fake node.
func TestAdmintestClient(t *testing.T) {
	f := newFixture(t)
	c := adminClient(f)
	ctx := context.Background()
	rooms, err := c.Rooms(ctx)
	if err != nil || len(rooms) != 2 || rooms[0].Room != "art" {
		t.Fatalf("rooms %+v, %v", rooms, err)
	}
	p, err := c.Presence(ctx, "school-7/math")
	if err != nil || len(p.Members) != 2 {
		t.Fatalf("presence %+v, %v", p, err)
	}
	if n, err := c.Kick(ctx, "ann", ""); err != nil || n != 1 {
		t.Fatalf("kick %d, %v", n, err)
	}
	if seq, err := c.Message(ctx, "art", "", json.RawMessage(`{"text":"x"}`)); err != nil || seq != 42 {
		t.Fatalf("message %d, %v", seq, err)
	}
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if d, err := c.Drain(ctx); err != nil || !d.Complete {
		t.Fatalf("drain %+v, %v", d, err)
	}
	if s, err := c.Stats(ctx); err != nil || s.Node != "node-1" || !s.Draining {
		t.Fatalf("stats %+v, %v", s, err)
	}
	if text, err := c.Metrics(ctx); err != nil || !strings.Contains(text, "classgate_rooms") {
		t.Fatalf("metrics: %v", err)
	}
}
