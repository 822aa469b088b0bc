package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/classgate/classgate/adapters/web"
	"github.com/classgate/classgate/core/auth"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "apigw-emulator:", err)
		os.Exit(1)
	}
}

// envFlags collects repeated -env KEY=VALUE flags.
type envFlags []string

func (e *envFlags) String() string { return strings.Join(*e, " ") }
func (e *envFlags) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apigw-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8090", "address of the WebSocket API and the @connections API (loopback only)")
	stage := fs.String("stage", "local", "stage name (the @connections endpoint is http://LISTEN/STAGE)")
	region := fs.String("region", "eu-west-1", "region reported to the functions")
	authBin := fs.String("authorizer", "", "the authorizer's bootstrap binary (required)")
	fnBin := fs.String("function", "", "the gateway function's bootstrap binary for $connect, $disconnect, $default (required)")
	var env envFlags
	fs.Var(&env, "env", "KEY=VALUE for both functions' environment (repeatable)")
	concurrency := fs.Int("concurrency", 4, "most execution environments per function")
	prewarm := fs.Int("prewarm", 1, "execution environments started per function at startup")
	memory := fs.Int("memory", 512, "function memory size in MB (reported; Lambda also scales CPU with it)")
	timeout := fs.Duration("timeout", 10*time.Second, "function timeout")
	idle := fs.Duration("idle-timeout", 10*time.Minute, "close connections without client messages for this long (1001)")
	lifetime := fs.Duration("max-lifetime", 2*time.Hour, "close connections older than this (1001)")
	frameLimit := fs.Int("frame-limit", 32<<10, "largest WebSocket frame in bytes (larger: close 1009)")
	msgLimit := fs.Int("message-limit", 128<<10, "largest message in bytes (larger: close 1009; posts: 413)")
	faults := fs.Float64("post-faults", 0, "fraction of @connections POSTs answered 429 or 500 (retry testing)")
	setEndpoint := fs.Bool("set-endpoint", true, "pass CLASSGATE_LAMBDA__ENDPOINT=http://LISTEN/STAGE to the functions")
	devSecret := fs.String("dev-secret", "", "serve the classroom page at / and dev tokens at /dev/token signed with this HS256 secret")
	logLevel := fs.String("log-level", "info", "emulator log level")
	wrapper := fs.String("wrapper", "", "run both functions' binaries through this program, e.g. qemu-aarch64-static to run arm64 packages here (emulated: init and durations are not Lambda's)")
	schedule := fs.Duration("schedule", 0, "invoke the gateway function with an EventBridge scheduled event this often, as the SAM template's schedule does (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *authBin == "" || *fnBin == "" {
		return errors.New("-authorizer and -function are required")
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-listen %s: the emulator binds loopback addresses only", *listen)
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: lv})).With("component", "apigw-emulator")

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	fenv := append([]string(nil), env...)
	if *setEndpoint {
		fenv = append(fenv, "CLASSGATE_LAMBDA__ENDPOINT=http://"+ln.Addr().String()+"/"+*stage)
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	mk := func(name, bin string) (*function, error) {
		return newFunction(functionConfig{Name: name, Bin: abs(bin), Env: fenv, MemoryMB: *memory, Timeout: *timeout,
			Max: *concurrency, Prewarm: *prewarm, Region: *region, Output: stdout, Log: log, Wrapper: *wrapper})
	}
	authz, err := mk("classgate-authorizer", *authBin)
	if err != nil {
		return err
	}
	defer authz.close()
	fn, err := mk("classgate-gateway", *fnBin)
	if err != nil {
		return err
	}
	defer fn.close()

	gw := newGateway(gatewayConfig{Stage: *stage, Region: *region, APIID: "emu" + newID()[:7], FrameLimit: *frameLimit,
		MessageLimit: *msgLimit, IdleTimeout: *idle, MaxLifetime: *lifetime, PostFaults: *faults,
		WriteTimeout: 5 * time.Second, Log: log}, authz, fn)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_emulator/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"authorizer": authz.snapshot(), "gateway": fn.snapshot(), "routes": gw.routeCounts()})
	})
	mux.HandleFunc("GET /_emulator/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	if *devSecret != "" {
		mountDev(mux, *devSecret, gw)
	}
	mux.Handle("/", gw)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ws := "ws://" + ln.Addr().String() + "/" + *stage
	log.Info("listening", "websocket", ws, "connections", "http://"+ln.Addr().String()+"/"+*stage+"/@connections", "page", *devSecret != "")
	if *devSecret != "" {
		fmt.Fprintf(stdout, "classgate on emulated API Gateway + Lambda: open http://%s/?ws=%s&deployment=apigateway\n", ln.Addr(), ws)
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *schedule > 0 {
		go gw.scheduled(ctx, *schedule)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	gw.shutdown()
	done := make(chan struct{})
	go func() { gw.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// mountDev serves the classroom page and a dev token issuer, as the
// standalone gateway does in dev mode, so a person can use the page
// against the emulated deployment.
func mountDev(mux *http.ServeMux, secret string, gw http.Handler) {
	static := web.Static()
	mux.HandleFunc("GET /dev/token", func(w http.ResponseWriter, r *http.Request) {
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
		sub := strings.ToLower(strings.ReplaceAll(name, " ", "-")) + "-" + role
		tok, err := auth.SignHS256([]byte(secret), auth.Claims{Subject: sub, Name: name, Role: role, Rooms: []string{"*"}, Expiry: time.Now().Add(12 * time.Hour).Unix()})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "user": sub, "rooms": []string{"*"}})
	})
	for _, p := range []string{"/index.html", "/classgate.js", "/classgate.d.ts", "/app.js", "/app.css"} {
		mux.Handle("GET "+p, static)
	}
	mux.Handle("GET /{$}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			gw.ServeHTTP(w, r) // ws://host/ is a stage URL too
			return
		}
		static.ServeHTTP(w, r)
	}))
}
