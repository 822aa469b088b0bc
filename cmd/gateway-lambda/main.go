package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/classgate/classgate/adapters/awsapigw"
	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/internal/config"
	"github.com/classgate/classgate/internal/fielderr"
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

// configPath is the YAML file to load: lambda.config (only the
// environment, CLASSGATE_LAMBDA__CONFIG, can name it), or lambda.yaml in
// the task root or beside the executable.
func configPath(l config.Lambda, environ []string) string {
	if l.Config != "" {
		return l.Config
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

// loadConfig loads the configuration the way the gateway does (the same
// keys, through internal/config), in three reads: the environment alone
// names the file (lambda.config); file and environment name the secrets
// (lambda.secrets), resolved from Secrets Manager unless resolve is false;
// then everything, with the secrets as overrides, is loaded and validated.
func loadConfig(ctx context.Context, environ []string, over map[string]any, resolve bool) (*config.Config, string, error) {
	pre, err := config.Read("", environ, over)
	if err != nil {
		return nil, "", err
	}
	path := configPath(pre.Lambda, environ)
	if resolve {
		pre, err = config.Read(path, environ, over)
		if err != nil {
			return nil, "", err
		}
		var refs awsapigw.SecretRefs
		if pre.Lambda.Secrets != "" {
			if refs, err = awsapigw.ParseSecretRefs(pre.Lambda.Secrets); err != nil {
				return nil, "", &fielderr.Error{Key: "lambda.secrets", Err: err}
			}
		}
		secrets, err := awsapigw.ResolveSecrets(ctx, refs, pre.Lambda.SecretsEndpoint)
		if err != nil {
			return nil, "", err
		}
		for k, v := range secrets {
			over[k] = v
		}
	}
	cfg, err := config.Load(path, environ, over)
	return cfg, path, err
}

// senderOptions are the awsapigw.SenderOptions of lambda.* (the
// configuration's defaults apply; awsapigw's own fallbacks never do).
func senderOptions(l config.Lambda) awsapigw.SenderOptions {
	return awsapigw.SenderOptions{Endpoint: l.Endpoint, Workers: l.Workers, Budget: l.PostBudget, PostTimeout: l.PostTimeout,
		Order: awsapigw.OrderOptions{Wait: l.OrderWait, Lease: l.OrderLease}}
}

// handlerOptions are the awsapigw.HandlerOptions of lambda.* (as
// senderOptions); run adds the router, sender, stores, metrics and logger.
func handlerOptions(l config.Lambda) awsapigw.HandlerOptions {
	return awsapigw.HandlerOptions{SweepEvery: l.SweepEvery, SweepLimit: l.SweepLimit, ExpiryEvery: l.ExpiryEvery, MetricsEvery: l.MetricsEvery}
}

// run builds the handler (nil with -check or -warm-cache).
func run(ctx context.Context, args, environ []string, stdout io.Writer, start time.Time) (_ *awsapigw.Handler, err error) {
	fset := flag.NewFlagSet("gateway-lambda", flag.ContinueOnError)
	check := fset.Bool("check", false, "validate the configuration and exit")
	warm := fset.String("warm-cache", "", "compile the configured plugins into this cache directory and exit")
	if err := fset.Parse(args); err != nil {
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
	}
	cfg, path, err := loadConfig(ctx, environ, over, *warm == "")
	if err != nil {
		return nil, err
	}
	le := cfg.Lambda
	if *warm == "" {
		switch {
		case !le.CompileCache:
			cfg.Plugins.CacheDir = ""
		case !hasEnv(environ, "CLASSGATE_PLUGINS__CACHE_DIR"):
			cfg.Plugins.CacheDir = filepath.Join(os.TempDir(), "classgate-wazero")
		}
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
	if cfg.Store.Kind != config.StoreRedis {
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
	opened, err := cfg.OpenStore(ctx)
	if err != nil {
		return nil, err
	}
	store := opened.Redis
	defer func() {
		if err != nil {
			_ = store.Close()
		}
	}()
	pstart := time.Now()
	plugins, err := host.New(ctx, cfg.Plugins, log.With("component", "plugins"))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = plugins.Close(context.Background())
		}
	}()
	pluginInit := time.Since(pstart)
	fn := envValue(environ, "AWS_LAMBDA_FUNCTION_NAME")
	emf := awsapigw.NewEMF(stdout, le.MetricsNamespace, fn, nil)
	emf.SetSamples(le.MetricsSamples)
	so := senderOptions(le)
	if le.Order {
		so.Order.Store = store
	}
	so.Logger, so.Metrics = log, emf
	sender, err := awsapigw.NewSender(ctx, so)
	if err != nil {
		return nil, err
	}
	ro := cfg.LambdaRouterOptions()
	ro.Store, ro.Sender, ro.Plugins, ro.Logger, ro.Observer = store, sender, plugins, log, emf
	router, err := core.NewRouter(ro)
	if err != nil {
		return nil, err
	}
	ho := handlerOptions(le)
	ho.Router, ho.Sender, ho.Metrics, ho.Liveness, ho.Expiry, ho.Logger = router, sender, emf, store, store, log
	h, err := awsapigw.NewHandler(ho)
	if err != nil {
		return nil, err
	}
	initDur := time.Since(start)
	emf.ColdStart(initDur)
	log.Info("initialised", "init_ms", ms(initDur), "plugins_ms", ms(pluginInit), "cache_dir", cfg.Plugins.CacheDir,
		"features", plugins.Features("*"), "redis_mode", cfg.RedisOptions().WithDefaults().Mode, "config", path)
	return h, nil
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
