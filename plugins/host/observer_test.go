package host

import (
	"errors"
	"sync"
	"testing"
	"time"
)

type recObserver struct {
	mu    sync.Mutex
	calls []string
}

func (r *recObserver) ObservePluginCall(plugin, version, outcome string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d <= 0 {
		outcome += "(no duration)"
	}
	r.calls = append(r.calls, plugin+"/"+version+"/"+outcome)
}

func (r *recObserver) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		return ""
	}
	return r.calls[len(r.calls)-1]
}

func TestObserverOutcomes(t *testing.T) {
	h := guestHost(t, func(p *Plugin) { p.Timeout = 300 * time.Millisecond; p.PoolSize = 1; p.FailureBudget = -1 })
	obs := &recObserver{}
	h.SetObserver(obs)
	tests := []struct {
		typ  string
		want string
	}{
		{"t.echo", "t/stable/ok"},
		{"t.error", "t/stable/error"},
		{"t.loop", "t/stable/timeout"},
		{"t.badjson", "t/stable/bad_output"},
		{"t.badtarget", "t/stable/abi"},
		{"t.panic", "t/stable/panic"},
		{"t.exit", "t/stable/crash"},
		{"t.reject", "t/stable/rejected"},
		{"t.many", "t/stable/limit"},
	}
	for _, tt := range tests {
		_, err := call(t, h, msg("r1", tt.typ, `{}`))
		if tt.want == "t/stable/ok" && err != nil {
			t.Fatalf("%s: %v", tt.typ, err)
		}
		obs.mu.Lock()
		got := obs.calls[len(obs.calls)-1]
		obs.mu.Unlock()
		if got != tt.want {
			t.Fatalf("%s observed as %q, want %q (err %v)", tt.typ, got, tt.want, errors.Unwrap(err))
		}
	}
}
