package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/classgate/classgate/internal/config"
	"github.com/classgate/classgate/plugins/host"
)

// reloader applies configuration changes without a restart: on SIGHUP, or
// when the config file or a plugin file changes on disk. What can change
// live: the plugins section (new versions, canaries, room patterns, limits)
// and log.level. A new configuration that does not load or validate, or a
// plugin that fails to load, is refused and logged; the old one keeps
// serving. Other keys apply at the next restart.
type reloader struct {
	path    string
	environ []string
	over    map[string]any
	level   *slog.LevelVar
	log     *slog.Logger
	plugins *host.Host
	stamps  map[string]time.Time
}

// watch reloads on SIGHUP and polls file modification times every interval
// until ctx ends.
func (r *reloader) watch(ctx context.Context, interval time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(interval)
	defer t.Stop()
	r.stamps = r.files(nil)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.log.Info("SIGHUP: reloading configuration")
			_ = r.reload(ctx)
		case <-t.C:
			now := r.files(nil)
			if changed(r.stamps, now) {
				r.log.Info("configuration or plugin file changed: reloading")
				_ = r.reload(ctx)
			}
		}
	}
}

// files returns the modification times of the config file and of every
// plugin file the configuration names.
func (r *reloader) files(cfg *config.Config) map[string]time.Time {
	out := map[string]time.Time{}
	paths := []string{}
	if r.path != "" {
		paths = append(paths, r.path)
	}
	if cfg == nil {
		if c, err := config.Load(r.path, r.environ, r.over); err == nil {
			cfg = c
		}
	}
	if cfg != nil {
		for _, p := range cfg.Plugins.Namespaces {
			for _, src := range []string{p.Source, p.Canary.Source} {
				if src != "" && !strings.HasPrefix(src, host.EmbeddedPrefix) {
					paths = append(paths, src)
				}
			}
		}
	}
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			out[p] = fi.ModTime()
		}
	}
	return out
}

func changed(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return true
	}
	for k, v := range a {
		if !b[k].Equal(v) {
			return true
		}
	}
	return false
}

// reload loads and applies the configuration once.
func (r *reloader) reload(ctx context.Context) error {
	cfg, err := config.Load(r.path, r.environ, r.over)
	if err != nil {
		r.log.Error("reload refused: configuration invalid; keeping the running one", "err", err)
		r.stamps = r.files(nil)
		return err
	}
	if err := r.plugins.Reload(ctx, cfg.Plugins); err != nil {
		r.log.Error("reload refused: plugins failed to load; keeping the running ones", "err", err)
		r.stamps = r.files(cfg)
		return err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(cfg.Log.Level)); err == nil {
		r.level.Set(lv)
	}
	r.stamps = r.files(cfg)
	r.log.Info("configuration reloaded", "log_level", cfg.Log.Level)
	return nil
}
