package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/classgate/classgate/adapters/awsapigw"
	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/internal/config"
	"github.com/classgate/classgate/plugins/host"
)

func main() {
	start := time.Now()
	h, err := run(context.Background(), os.Args[1:], os.Environ(), os.Stdout, start)
	if err != nil {
		// A failed init: Lambda reports Runtime.ExitError and retries the
		// init on the next invocation.
		// A JSON log line (Go's %q is not JSON for every string).
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("init failed", "err", err.Error())
		os.Exit(1)
	}
	if h != nil {
		h.Start()
	}
}

// lambdaEnv are the settings only the Lambda deployment has. They come
// from CLASSGATE_LAMBDA__<KEY> variables, kept out of internal/config
// (whose unknown keys are errors).
type lambdaEnv struct {
	// CONFIG: the YAML file (default: lambda.yaml in $LAMBDA_TASK_ROOT or
	// beside the executable, when present).
	Config string
	// ENDPOINT: the Management API endpoint; default https://{domain}/{stage}
	// from each event. The emulator sets http://127.0.0.1:PORT/STAGE.
	Endpoint string
	// WORKERS: posts in flight per invocation (16).
	Workers int
	// POST_BUDGET: retry budget of one post (2s).
	PostBudget time.Duration
	// POST_TIMEOUT: bound of one post attempt; a member slower than that
	// is closed as a slow consumer (1s).
	PostTimeout time.Duration
	// ORDER_WAIT: how long a room's delivery waits for its turn in the
	// ordered hand-off before posting anyway (2s); ORDER_LEASE: the most a
	// holder keeps the turn (5s); ORDER: "on" (default) or "off".
	OrderWait, OrderLease time.Duration
	Order                 bool
	// EXPIRY_EVERY: how often an environment closes connections whose
	// token expired, at the end of an invocation (1s; scheduled events
	// always do).
	ExpiryEvery time.Duration
	// SWEEP_EVERY: how often an environment sweeps expired connections
	// (30s; negative: never). SWEEP_LIMIT: per sweep (64).
	SweepEvery time.Duration
	SweepLimit int
	// METRICS_NAMESPACE: CloudWatch namespace of the EMF metrics
	// ("Classgate"). METRICS_EVERY: how often an environment writes its
	// aggregated metrics (1m; negative: after every invocation).
	Namespace    string
	MetricsEvery time.Duration
	// METRICS_SAMPLES: values kept per latency metric per write
	// (awsapigw.MaxSamples, 500; 0: counts only).
	MetricsSamples int
	// COMPILE_CACHE: "on" (default: the wazero cache in
	// $TMPDIR/classgate-wazero unless plugins.cache_dir is set) or "off"
	// (compile in memory).
	CompileCache bool
	// SECRETS: configuration keys resolved from Secrets Manager at init,
	// a JSON object {"auth.hs256_secret": "ARN#jsonkey", …}
	// (awsapigw.SecretRefs); SECRETS_ENDPOINT overrides the endpoint.
	Secrets         awsapigw.SecretRefs
	SecretsEndpoint string
	// CACHE_SEED: a directory holding a compilation cache made by
	// `bootstrap -warm-cache` for this architecture (e.g. shipped in the
	// zip); copied into the cache directory at init.
	CacheSeed string
}

func parseLambdaEnv(environ []string) (lambdaEnv, []string, error) {
	le := lambdaEnv{Workers: 16, PostBudget: 2 * time.Second, PostTimeout: awsapigw.DefaultPostTimeout,
		OrderWait: 2 * time.Second, OrderLease: 5 * time.Second, Order: true, ExpiryEvery: time.Second, MetricsEvery: awsapigw.DefaultMetricsEvery, MetricsSamples: awsapigw.MaxSamples, SweepEvery: 30 * time.Second, SweepLimit: 64, Namespace: "Classgate", CompileCache: true}
	const prefix = "CLASSGATE_LAMBDA__"
	var rest []string
	var errs []error
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, prefix) {
			rest = append(rest, kv)
			continue
		}
		var err error
		switch key := strings.TrimPrefix(k, prefix); key {
		case "CONFIG":
			le.Config = v
		case "ENDPOINT":
			le.Endpoint = v
		case "WORKERS":
			le.Workers, err = strconv.Atoi(v)
			if err == nil && le.Workers < 1 {
				err = errors.New("must be positive")
			}
		case "POST_BUDGET":
			le.PostBudget, err = time.ParseDuration(v)
		case "POST_TIMEOUT":
			le.PostTimeout, err = positiveDuration(v)
		case "ORDER_WAIT":
			le.OrderWait, err = positiveDuration(v)
		case "ORDER_LEASE":
			le.OrderLease, err = positiveDuration(v)
		case "ORDER":
			switch v {
			case "on", "":
				le.Order = true
			case "off":
				le.Order = false
			default:
				err = errors.New(`must be "on" or "off"`)
			}
		case "EXPIRY_EVERY":
			le.ExpiryEvery, err = time.ParseDuration(v)
		case "SWEEP_EVERY":
			le.SweepEvery, err = time.ParseDuration(v)
		case "SWEEP_LIMIT":
			le.SweepLimit, err = strconv.Atoi(v)
		case "METRICS_NAMESPACE":
			le.Namespace = v
		case "METRICS_EVERY":
			le.MetricsEvery, err = time.ParseDuration(v)
			if err == nil && le.MetricsEvery == 0 {
				err = errors.New("must not be 0 (negative: after every invocation)")
			}
		case "METRICS_SAMPLES":
			le.MetricsSamples, err = strconv.Atoi(v)
			if err == nil && le.MetricsSamples < 0 {
				err = errors.New("must not be negative (0: counts only)")
			}
		case "COMPILE_CACHE":
			switch v {
			case "on", "":
				le.CompileCache = true
			case "off":
				le.CompileCache = false
			default:
				err = errors.New(`must be "on" or "off"`)
			}
		case "CACHE_SEED":
			le.CacheSeed = v
		case "SECRETS":
			le.Secrets, err = awsapigw.ParseSecretRefs(v)
		case "SECRETS_ENDPOINT":
			le.SecretsEndpoint = v
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	return le, rest, errors.Join(errs...)
}

// configPath is the YAML file to load: CLASSGATE_LAMBDA__CONFIG, or
// lambda.yaml in the task root or beside the executable.
func configPath(le lambdaEnv, environ []string) string {
	if le.Config != "" {
		return le.Config
	}
	var dirs []string
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "LAMBDA_TASK_ROOT="); ok {
			dirs = append(dirs, v)
		}
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "lambda.yaml")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// run builds the handler (nil with -check or -warm-cache).
func run(ctx context.Context, args, environ []string, stdout io.Writer, start time.Time) (*awsapigw.Handler, error) {
	fset := flag.NewFlagSet("gateway-lambda", flag.ContinueOnError)
	check := fset.Bool("check", false, "validate the configuration and exit")
	warm := fset.String("warm-cache", "", "compile the configured plugins into this cache directory and exit")
	if err := fset.Parse(args); err != nil {
		return nil, err
	}
	le, environ, err := parseLambdaEnv(environ)
	if err != nil {
		return nil, err
	}
	over := map[string]any{}
	if *warm != "" {
		over["plugins.cache_dir"] = *warm
		// Compiling needs no token secret; a placeholder passes validation
		// when the build machine has none.
		if !hasEnv(environ, "CLASSGATE_AUTH__HS256_SECRET") {
			over["auth.hs256_secret"] = "warm-cache-placeholder-not-a-secret-0000"
		}
	} else if le.CompileCache && !hasEnv(environ, "CLASSGATE_PLUGINS__CACHE_DIR") {
		over["plugins.cache_dir"] = filepath.Join(os.TempDir(), "classgate-wazero")
	}
	if *warm == "" {
		secrets, err := awsapigw.ResolveSecrets(ctx, le.Secrets, le.SecretsEndpoint)
		if err != nil {
			return nil, err
		}
		for k, v := range secrets {
			over[k] = v
		}
	}
	path := configPath(le, environ)
	cfg, err := config.Load(path, environ, over)
	if err != nil {
		return nil, err
	}
	if !le.CompileCache && *warm == "" {
		cfg.Plugins.CacheDir = ""
	}
	log := newLogger(cfg.Log, stdout)
	if *warm != "" {
		if err := os.MkdirAll(*warm, 0o755); err != nil {
			return nil, fmt.Errorf("warm-cache: %w", err)
		}
		p, err := host.New(ctx, cfg.Plugins, log)
		if err != nil {
			return nil, err
		}
		_ = p.Close(ctx)
		fmt.Fprintf(stdout, "plugins compiled into %s\n", *warm)
		return nil, nil
	}
	if cfg.Store.Kind != "redis" {
		return nil, fmt.Errorf("store.kind is %q: the Lambda deployment needs redis (every invocation may run in another execution environment)", cfg.Store.Kind)
	}
	if *check {
		fmt.Fprintln(stdout, "configuration OK")
		return nil, nil
	}
	if _, err := os.Stat(le.CacheSeed); err == nil && le.CacheSeed != "" && cfg.Plugins.CacheDir != "" {
		n, err := copyTree(le.CacheSeed, cfg.Plugins.CacheDir)
		if err != nil {
			log.Warn("compilation cache seed not copied", "seed", le.CacheSeed, "err", err)
		} else {
			log.Info("compilation cache seeded", "files", n, "dir", cfg.Plugins.CacheDir)
		}
	}
	store, err := redis.New(ctx, cfg.RedisOptions())
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	pstart := time.Now()
	plugins, err := host.New(ctx, cfg.Plugins, log.With("component", "plugins"))
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	pluginInit := time.Since(pstart)
	fn := envValue(environ, "AWS_LAMBDA_FUNCTION_NAME")
	emf := awsapigw.NewEMF(stdout, le.Namespace, fn, nil)
	emf.SetSamples(le.MetricsSamples)
	order := awsapigw.OrderOptions{Wait: le.OrderWait, Lease: le.OrderLease}
	if le.Order {
		order.Store = store
	}
	sender, err := awsapigw.NewSender(ctx, awsapigw.SenderOptions{Endpoint: le.Endpoint, Workers: le.Workers, Budget: le.PostBudget,
		PostTimeout: le.PostTimeout, Order: order, Logger: log, Metrics: emf})
	if err != nil {
		return nil, err
	}
	router, err := core.NewRouter(core.Options{
		Store: store, Sender: sender, Plugins: plugins, Direct: true,
		DedupeWindow: cfg.Dedupe.Window, MaxRoomsPerConn: cfg.Limits.MaxRoomsPerConn,
		MaxMessageBytes: cfg.Limits.MaxMessageBytes, RatePerSecond: -1,
		// Concurrent invocations in one room commit optimistically; give a
		// hot room more attempts than one node (which serialises a room)
		// ever needs.
		CommitRetries: 32,
		Logger:        log, Observer: emf,
	})
	if err != nil {
		return nil, err
	}
	h, err := awsapigw.NewHandler(awsapigw.HandlerOptions{Router: router, Sender: sender, Metrics: emf,
		SweepEvery: le.SweepEvery, SweepLimit: le.SweepLimit, Liveness: store, Expiry: store, ExpiryEvery: le.ExpiryEvery, MetricsEvery: le.MetricsEvery, Logger: log})
	if err != nil {
		return nil, err
	}
	initDur := time.Since(start)
	emf.ColdStart(initDur)
	log.Info("initialised", "init_ms", ms(initDur), "plugins_ms", ms(pluginInit), "cache_dir", cfg.Plugins.CacheDir,
		"features", plugins.Features("*"), "redis_mode", cfg.RedisOptions().WithDefaults().Mode, "config", path)
	return h, nil
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err == nil && d <= 0 {
		err = errors.New("must be positive")
	}
	return d, err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(c.Level))
	o := &slog.HandlerOptions{Level: lv}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, o))
	}
	return slog.New(slog.NewJSONHandler(w, o))
}

func hasEnv(environ []string, key string) bool {
	for _, kv := range environ {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

func envValue(environ []string, key string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// copyTree copies the regular files under src into dst (existing files are
// kept) and returns how many it copied.
func copyTree(src, dst string) (int, error) {
	n := 0
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if _, err := os.Stat(target); err == nil {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return n, nil
}
