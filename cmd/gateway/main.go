// Command gateway runs a standalone classgate node: the core router behind
// a WebSocket server, with the in-memory store (one machine) or Redis
// (several nodes).
//
//	gateway [-config FILE] [-listen ADDR] [-dev] [-check] [-healthcheck]
//
// Configuration: defaults < YAML file < CLASSGATE_* environment < flags.
// -check validates the configuration and exits without serving.
// -healthcheck probes /healthz of the node the same configuration
// describes (server.listen) and exits 0 when it answers 200: the
// container image's HEALTHCHECK, which has no shell or curl.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/classgate/classgate/adapters/admin"
	"github.com/classgate/classgate/adapters/jwt"
	"github.com/classgate/classgate/adapters/metrics"
	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/tracing"
	"github.com/classgate/classgate/adapters/web"
	"github.com/classgate/classgate/adapters/wsserver"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/auth"
	"github.com/classgate/classgate/internal/config"
	"github.com/classgate/classgate/plugins/host"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML configuration file")
	listen := fs.String("listen", "", "listen address (overrides server.listen)")
	dev := fs.Bool("dev", false, "enable dev mode (token endpoint; never in production)")
	check := fs.Bool("check", false, "validate the configuration and exit")
	probe := fs.Bool("healthcheck", false, "probe /healthz of the node at server.listen; exit 0 when healthy")
	if err := fs.Parse(args); err != nil {
		return err
	}
	over := map[string]any{}
	if *listen != "" {
		over["server.listen"] = *listen
	}
	if *dev {
		over["dev.enabled"] = true
	}
	if *probe {
		addr, err := probeAddr(*listen, *cfgPath, environ, over)
		if err != nil {
			return err
		}
		return healthcheck(ctx, addr, stdout)
	}
	cfg, err := config.Load(*cfgPath, environ, over)
	if err != nil {
		return err
	}
	if *check {
		// Load every plugin too, so a broken or wrong-ABI module fails here.
		h, err := host.New(ctx, cfg.Plugins, nil)
		if err != nil {
			return err
		}
		_ = h.Close(ctx)
		fmt.Fprintln(stdout, "configuration OK")
		return nil
	}
	level := new(slog.LevelVar)
	log := newLogger(cfg.Log, level, stderr)
	if g := cfg.Runtime.GCPercent; g != 0 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(g)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	node, err := buildNode(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer node.close()
	rl := &reloader{path: *cfgPath, environ: environ, over: over, level: level, log: log, plugins: node.plugins}
	go rl.watch(ctx, 2*time.Second)
	if cfg.Admin.Listen != "" {
		as, err := startAdmin(cfg, node, rl, log)
		if err != nil {
			return err
		}
		defer as.Close()
	}

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Server.Listen, err)
	}
	hs := newHTTPServer(cfg.Server, node.mux)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("gateway listening", "addr", ln.Addr().String(), "node", cfg.Node.ID, "store", cfg.Store.Kind, "dev", cfg.Dev.Enabled,
		"io_uring", node.ws.IOUring(), "max_connections", node.maxConns, "max_connections_per_user", cfg.Server.MaxConnectionsPerUser)
	if cfg.Dev.Enabled && cfg.Dev.AllowNonLoopback {
		log.Warn("DEV MODE ON A NON-LOOPBACK ADDRESS: anyone who reaches " + ln.Addr().String() + " can mint tokens at /dev/token (dev.allow_non_loopback is set); never do this in production")
	}
	if cfg.Dev.Enabled {
		fmt.Fprintf(stdout, "classgate dev mode: open http://%s/  (token: curl 'http://%s/dev/token?name=Ann&role=teacher')\n", ln.Addr(), ln.Addr())
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "deadline", cfg.Server.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	serr := node.ws.Shutdown(sctx)
	_ = hs.Shutdown(sctx)
	if serr != nil {
		log.Warn("shutdown incomplete", "err", serr)
	}
	log.Info("stopped")
	return nil
}

// newHTTPServer returns the HTTP server of a listener with the
// connection-hygiene timeouts of server.*: keep-alive connections idle for
// server.idle_timeout and connections that do not send their headers
// within server.read_header_timeout are closed. (WebSockets, once
// upgraded, are the wsserver's: pings find dead ones.)
func newHTTPServer(c config.Server, h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: c.ReadHeaderTimeout, IdleTimeout: c.IdleTimeout}
}

func newLogger(c config.Log, level *slog.LevelVar, w io.Writer) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(c.Level))
	level.Set(lv)
	o := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, o))
	}
	return slog.New(slog.NewJSONHandler(w, o))
}

// node is one wired gateway: store, router, WebSocket server, HTTP mux.
type node struct {
	store   core.Store
	router  *core.Router
	ws      *wsserver.Server
	mux     *http.ServeMux
	plugins *host.Host
	metrics *metrics.Metrics
	tracer  *tracing.Tracer
	cancel  context.CancelFunc
	// maxConns is the connection cap in force (server.max_connections,
	// or its default derived from the file-descriptor limit).
	maxConns int
	cluster  *redis.Store // the Redis store, for cluster-wide admin actions; nil with memory
	cleanup  cleanup      // what close closes, newest first
}

func (n *node) close() {
	n.cancel()
	n.cleanup.run()
}

// cleanup closes, newest first, what buildNode opened; on an error path it
// runs at once, so a failed build leaves nothing open.
type cleanup []func(context.Context)

func (c *cleanup) add(f func(context.Context)) { *c = append(*c, f) }

func (c cleanup) run() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := len(c) - 1; i >= 0; i-- {
		c[i](ctx)
	}
}

func buildNode(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *node, err error) {
	var opened cleanup
	defer func() {
		if err != nil {
			opened.run()
		}
	}()
	if cfg.Node.ID == "" {
		h, _ := os.Hostname()
		cfg.Node.ID = fmt.Sprintf("%s-%d", h, os.Getpid())
	}
	ver, err := newVerifier(cfg.Auth)
	if err != nil {
		return nil, err
	}
	wo, err := cfg.ServerOptions()
	if err != nil {
		return nil, err
	}
	opt, err := cfg.OpenStore(ctx)
	if err != nil {
		return nil, err
	}
	opened.add(func(context.Context) { _ = opt.Close() })
	m := metrics.New(metrics.Options{Version: version})
	tr, err := tracing.Setup(ctx, cfg.Tracing, cfg.Node.ID, version)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	opened.add(func(ctx context.Context) { _ = tr.Shutdown(ctx) })
	st := tr.Store(metrics.InstrumentStore(opt.Store, m))
	wo.Verifier, wo.Logger, wo.Observer = ver, log, m
	ws := wsserver.New(wo)
	m.SetWakeLateness(ws.WakeLateness)
	opened.add(func(ctx context.Context) { _ = ws.Shutdown(ctx) })
	plugins, err := host.New(ctx, cfg.Plugins, log.With("component", "plugins"))
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	opened.add(func(ctx context.Context) { _ = plugins.Close(ctx) })
	plugins.SetObserver(m)
	ro := cfg.RouterOptions()
	ro.Store, ro.Sender, ro.Plugins, ro.Observer, ro.Logger = st, ws, tr.Plugins(plugins), m, log
	router, err := core.NewRouter(ro)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	ws.Attach(tr.Router(router))
	mctx, cancel := context.WithCancel(ctx)
	opened.add(func(context.Context) { cancel() })
	go router.Maintain(mctx, cfg.Store.LivenessTTL/3)

	mux := http.NewServeMux()
	mux.Handle("/ws", ws)
	mux.Handle("/", web.Static())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ws.Ready() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		pctx, c := context.WithTimeout(r.Context(), 2*time.Second)
		defer c()
		if err := st.Ping(pctx); err != nil {
			// The client learns that the node is not ready; the log
			// says why (addresses and errors are not for clients).
			log.Warn("readyz: store unavailable", "err", err)
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if cfg.Metrics.Enabled && cfg.Metrics.Public {
		mux.Handle(cfg.Metrics.Path, m.Handler())
	}
	if cfg.Dev.Enabled {
		mountDev(mux, cfg, ws)
	}
	n := &node{store: st, router: router, ws: ws, mux: mux, plugins: plugins, metrics: m, tracer: tr, cancel: cancel,
		maxConns: wo.MaxConnections, cluster: opt.Redis, cleanup: opened}
	if opt.Redis != nil {
		// Kicks and drains asked on any node's admin API reach this one.
		if err := opt.Redis.HandleControl(ctx, handleControl(n, admin.DefaultDrainTimeout, log)); err != nil {
			return nil, fmt.Errorf("store.redis: %w", err)
		}
	}
	return n, nil
}

func newVerifier(a config.Auth) (*auth.Verifier, error) {
	o, err := a.VerifierOptions()
	if err != nil {
		return nil, err
	}
	v, err := jwt.New(o)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return v, nil
}

// writeJSON answers v encoded by encoding/json (every string escaped).
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// mountDev adds the dev-only endpoints: a token issuer for the classroom
// page and a kick used by the browser tests. Never mounted in production.
func mountDev(mux *http.ServeMux, cfg *config.Config, ws *wsserver.Server) {
	mux.HandleFunc("/dev/token", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		name := strings.TrimSpace(q.Get("name"))
		role := q.Get("role")
		if name == "" || len(name) > 64 {
			http.Error(w, "name is required (at most 64 characters)", http.StatusBadRequest)
			return
		}
		if role == "" {
			role = "student"
		}
		sub := q.Get("user")
		if sub == "" {
			sub = strings.ToLower(strings.ReplaceAll(name, " ", "-")) + "-" + role
		}
		rooms := []string{"*"}
		if q.Get("rooms") != "" {
			rooms = strings.Split(q.Get("rooms"), ",")
		}
		// Dev tokens pass this gateway's own checks: its issuer and
		// audience, within its maximum lifetime.
		ttl := 12 * time.Hour
		if l := cfg.Auth.MaxTokenLifetime; l > 0 && l < ttl {
			ttl = l
		}
		now := time.Now()
		c := auth.Claims{Subject: sub, Name: name, Role: role, Rooms: rooms, Expiry: now.Add(ttl).Unix(), IssuedAt: now.Unix(), Issuer: cfg.Auth.Issuer}
		if cfg.Auth.Audience != "" {
			c.Audience = auth.Audience{cfg.Auth.Audience}
		}
		tok, err := auth.SignHS256([]byte(cfg.Auth.HS256Secret), c)
		if err != nil {
			http.Error(w, "could not sign a token", http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]any{"token": tok, "user": sub, "rooms": rooms})
	})
	mux.HandleFunc("/dev/kick", func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		n := ws.CloseWhere(func(c core.ConnInfo) bool { return c.User.ID == user }, core.CloseRestarting, "kicked (dev)")
		writeJSON(w, map[string]int{"closed": n})
	})
}
