package host

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
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

// memObserver is a CallObserver that also measures memory.
type memObserver struct {
	recObserver
	mem []CallMemory
}

func (m *memObserver) ObserveCallMemory(_, _ string, c CallMemory) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mem = append(m.mem, c)
}

// TestMemoryObserver: an observer that implements MemoryObserver gets, for
// each call, the pages it newly wrote and how much it grew the memory: a
// call on a fresh instance writes pages, repeating it writes fewer (or
// none), and a call that grows the heap reports the growth.
func TestMemoryObserver(t *testing.T) {
	h := newHost(t, one("snoop", Plugin{Source: wasmPath("snoop"), PoolSize: 1}))
	obs := &memObserver{}
	h.SetObserver(obs)
	v := h.gen.entries["snoop"].stable
	if v.snap == nil || v.snap.file == nil {
		t.Skip("no snapshot file on this platform")
	}
	for _, data := range []string{`{"put":"a"}`, `{"put":"a"}`, `{"putbig":"b"}`} {
		if _, err := h.Handler("r1", "snoop").Handle(context.Background(), &core.Call{Hook: core.HookMessage, Type: "snoop.x", Room: "r1", Conn: "c1",
			Sender: core.User{ID: "u1", Role: "student"}, Data: json.RawMessage(data)}); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.mem) != 3 {
		t.Fatalf("%d memory reports for 3 calls", len(obs.mem))
	}
	first, again, big := obs.mem[0], obs.mem[1], obs.mem[2]
	if first.PagesWritten <= 0 || first.GrewBytes != 0 || first.Size != uint32(len(v.snap.mem)) {
		t.Errorf("first call on a fresh instance: %+v (snapshot %d bytes)", first, len(v.snap.mem))
	}
	if again.PagesWritten < 0 || again.PagesWritten >= first.PagesWritten {
		t.Errorf("the same call again wrote %d new pages, the first %d", again.PagesWritten, first.PagesWritten)
	}
	if big.GrewBytes == 0 || big.Size != again.Size+big.GrewBytes {
		t.Errorf("putbig: %+v after %+v", big, again)
	}
}
