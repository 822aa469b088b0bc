package host

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// Watch polls, every interval, the plugin files of the current configuration
// plus extra files (e.g. the config file), and when any of them changes
// (size or modification time, or appears/disappears) calls load and Reload
// with its result. A failed load or reload is passed to onError (may be nil)
// and the running configuration stays. Watch returns when ctx is done.
// The embedding program also calls Reload directly, e.g. on SIGHUP.
func (h *Host) Watch(ctx context.Context, interval time.Duration, load func() (Config, error), onError func(error), extra ...string) {
	if onError == nil {
		onError = func(error) {}
	}
	last := h.fingerprint(extra)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := h.fingerprint(extra)
		if now == last {
			continue
		}
		last = now
		cfg, err := load()
		if err == nil {
			err = h.Reload(ctx, cfg)
		}
		if err != nil {
			onError(err)
			continue
		}
		h.logger.Info("plugins reloaded after a file change")
		last = h.fingerprint(extra) // the new config may watch other files
	}
}

// fingerprint describes the watched files' sizes and modification times.
func (h *Host) fingerprint(extra []string) string {
	var files []string
	cfg := h.currentCfg()
	for _, ns := range cfg.sortedNamespaces() {
		p := cfg.Namespaces[ns]
		for _, src := range []string{p.Source, p.Canary.Source} {
			if src != "" && !strings.HasPrefix(src, EmbeddedPrefix) {
				files = append(files, src)
			}
		}
	}
	files = append(files, extra...)
	var b strings.Builder
	for _, f := range files {
		b.WriteString(f)
		if st, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "|%d|%d", st.Size(), st.ModTime().UnixNano())
		}
		b.WriteByte(0)
	}
	return b.String()
}
