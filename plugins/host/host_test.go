package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
)

var teacher = core.User{ID: "u1", Name: "Ann", Role: "teacher"}

func msg(room, typ, data string) *core.Call {
	return &core.Call{Hook: core.HookMessage, Type: typ, Room: room, Data: json.RawMessage(data), Sender: teacher, Conn: "c1"}
}

func call(t *testing.T, h *Host, c *core.Call) (*core.Result, error) {
	t.Helper()
	ns, _, _ := core.SplitType(c.Type)
	if c.Hook != core.HookMessage {
		ns = "t"
	}
	hd := h.Handler(c.Room, ns)
	if hd == nil {
		t.Fatalf("no handler for %s in %s", ns, c.Room)
	}
	return hd.Handle(context.Background(), c)
}

func guestHost(t *testing.T, mutate func(*Plugin)) *Host {
	p := Plugin{Source: wasmPath("guest"), Timeout: 2 * time.Second}
	if mutate != nil {
		mutate(&p)
	}
	return newHost(t, one("t", p))
}

func TestEcho(t *testing.T) {
	h := guestHost(t, nil)
	c := msg("r1", "t.echo", `{"n":1}`)
	c.Seq = 41
	c.State = map[string][]byte{}
	res, err := call(t, h, c)
	if err != nil {
		t.Fatal(err)
	}
	want := &core.Result{
		Emits: []core.Emit{
			{Type: "t.echo", Data: json.RawMessage(`{"version":"a","seq":41,"data":{"n":1}}`), Durable: true},
			{Type: "t.others", To: core.Target{Kind: core.TargetOthers, Conn: "c1"}},
			{Type: "t.teachers", Data: json.RawMessage(`1`), To: core.Target{Kind: core.TargetRole, Value: "teacher"}},
		},
		Replies: []core.Emit{{Type: "t.ok", Data: json.RawMessage(`{}`)}},
		Ops:     []core.StateOp{{Op: core.OpSet, Key: "last", Value: []byte(`{"n":1}`)}},
	}
	if g, w := fmt.Sprintf("%+v", res), fmt.Sprintf("%+v", want); g != w {
		t.Fatalf("result\n got %s\nwant %s", g, w)
	}
}

func TestStateReadsAndOverlay(t *testing.T) {
	h := guestHost(t, nil)
	c := msg("r1", "t.state", `{}`)
	c.State = map[string][]byte{"last": []byte(`"L"`), "x:1": []byte(`1`), "x:3": []byte(`3`), "y": []byte(`0`)}
	res, err := call(t, h, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 1 || string(res.Replies[0].Data) != `{"last":"L","keys":["x:2=\"two\"","x:3=3"]}` {
		t.Fatalf("replies = %+v", res.Replies)
	}
	if len(c.State) != 4 || string(c.State["x:1"]) != "1" {
		t.Fatal("the host modified the call's state")
	}
}

// TestFailures covers a failing call of each kind: the error, whether the
// instance was kept (clean errors) or discarded (traps, corruption, ABI
// violations), and that the host keeps serving (the next call succeeds on
// a healthy instance).
func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		action  string
		want    error
		text    string
		timeout time.Duration
		kept    bool
	}{
		{"panic", ErrFailed, "panic: boom", 0, false},
		{"error", ErrFailed, "plugin says no", 0, true},
		{"loop", ErrTimeout, "timed out after 300ms", 0, false},
		{"bomb", ErrCrashed, "out of memory", 20 * time.Second, false},
		{"exit", ErrCrashed, "exited with code 3", 0, false},
		{"badjson", ErrBadOutput, "data is not valid UTF-8 JSON", 0, true},
		{"badutf8", ErrBadOutput, "data is not valid UTF-8 JSON", 0, true},
		{"badtype", ErrBadOutput, `type "t.Bad Type" is not a valid event type`, 0, true},
		{"longtype", ErrBadOutput, "type of 72 bytes, max 64", 0, true},
		{"bigreply", ErrLimit, `emit "t.big": 1048585 bytes of data`, 0, true},
		{"badtarget", ErrProtocol, "needs a value", 0, false},
		{"many", ErrLimit, "more than 64 emits", 0, true},
	} {
		t.Run(tc.action, func(t *testing.T) {
			h := guestHost(t, func(p *Plugin) {
				p.Timeout = 300 * time.Millisecond
				if tc.timeout > 0 {
					p.Timeout = tc.timeout
				}
				p.MemoryPages = 256
				p.PoolSize = 1
			})
			before := idleInstance(t, h, "t")
			_, err := call(t, h, msg("r1", "t."+tc.action, `{}`))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), "plugin t") {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.text)
			}
			if kept := idleInstance(t, h, "t") == before; kept != tc.kept {
				t.Fatalf("instance kept = %v, want %v", kept, tc.kept)
			}
			for i := 0; i < 2; i++ {
				res, err := call(t, h, msg("r1", "t.echo", `{}`))
				if err != nil || len(res.Emits) != 3 {
					t.Fatalf("call %d after failure: %+v, %v", i, res, err)
				}
			}
		})
	}
}

// idleInstance returns the idle instance of a pool of size 1 (nil when it
// has none), putting it back.
func idleInstance(t *testing.T, h *Host, ns string) *instance {
	t.Helper()
	idle := h.cur.Load().entries[ns].stable.pool.idleInstances()
	if len(idle) == 0 {
		return nil
	}
	return idle[0]
}

func TestRejectAndLog(t *testing.T) {
	h := guestHost(t, nil)
	for _, tc := range []struct {
		action, reason string
		forbidden      bool
	}{
		{"reject", "nope", false},
		{"forbid", "teachers only", true},
	} {
		res, err := call(t, h, msg("r1", "t."+tc.action, `{}`))
		if err != nil || res.Reject != tc.reason || res.Forbidden != tc.forbidden || len(res.Emits)+len(res.Ops) != 0 {
			t.Fatalf("%s: %+v %v", tc.action, res, err)
		}
	}
	if _, err := call(t, h, msg("r1", "t.log", `{}`)); err != nil {
		t.Fatal(err)
	}
}

func TestRawGuestProtocolViolations(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want error
		text string
	}{
		{"status", ErrProtocol, "unknown status 77"},
		{"oob", ErrProtocol, "out of range"},
		{"namespace", ErrProtocol, `type "chat.message" is not <raw>.<action>`},
		{"ok", nil, ""},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			h := newHost(t, one("raw", Plugin{Source: wasmPath("rawguest"), Config: map[string]any{"mode": tc.mode}}))
			res, err := call(t, h, msg("r1", "raw.go", `{}`))
			if tc.want == nil {
				if err != nil || len(res.Emits) != 1 || res.Emits[0].Type != "raw.event" {
					t.Fatalf("%+v %v", res, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.wasm")
	if err := os.WriteFile(empty, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.wasm")
	if err := os.WriteFile(junk, []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := func(path string) string {
		_, d, err := readSource(path, "")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		name string
		p    Plugin
		text []string
	}{
		{"abi version 2", Plugin{Source: wasmPath("abi2guest")}, []string{"plugin quiz", "ABI version 2", "supports version 1"}},
		{"not a plugin", Plugin{Source: empty}, []string{"plugin quiz", "not a classgate plugin"}},
		{"not wasm", Plugin{Source: junk}, []string{"plugin quiz", "compile"}},
		{"missing file", Plugin{Source: filepath.Join(dir, "nope.wasm")}, []string{"plugin quiz", "no such file"}},
		{"sha256 mismatch", Plugin{Source: wasmPath("guest"), SHA256: strings.Repeat("ab", 32)}, []string{"plugin quiz", "sha256 mismatch"}},
		{"init fails", Plugin{Source: wasmPath("guest"), Config: map[string]any{"fail_init": true}}, []string{"plugin quiz", "init refused by config"}},
		{"memory too small", Plugin{Source: wasmPath("guest"), MemoryPages: 2}, []string{"plugin quiz", "pages"}},
		{"canary broken", Plugin{Source: wasmPath("guest"), Canary: Canary{Source: wasmPath("abi2guest"), Percent: 5}}, []string{"plugin quiz@canary", "ABI version 2"}},
		{"not built", Plugin{Source: "embedded:nosuch"}, []string{"plugin nosuch not built: run make plugins"}},
		{"invalid config", Plugin{Source: wasmPath("guest"), OnFailure: "explode"}, []string{"namespaces.quiz.on_failure"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), Config{CacheDir: cacheDir, Namespaces: map[string]Plugin{"quiz": tc.p}}, nil)
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, s := range tc.text {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
	t.Run("sha256 match", func(t *testing.T) {
		newHost(t, one("quiz", Plugin{Source: wasmPath("guest"), SHA256: strings.ToUpper(sum(wasmPath("guest")))}))
	})
}

func TestSelection(t *testing.T) {
	g := wasmPath("guest")
	h := newHost(t, Config{Namespaces: map[string]Plugin{
		"t":    {Source: g, Disable: []string{"exam-*"}},
		"quiz": {Source: g, Enable: []string{"exam-*", "lab"}, Disable: []string{"exam-final"}},
	}})
	for _, tc := range []struct {
		room string
		want []string
	}{
		{"r1", []string{"t"}},
		{"exam-1", []string{"quiz"}},
		{"exam-final", []string{}},
		{"lab", []string{"quiz", "t"}},
	} {
		got := h.Features(tc.room)
		if strings.Join(got, ",") != strings.Join(tc.want, ",") || got == nil {
			t.Errorf("Features(%s) = %v, want %v", tc.room, got, tc.want)
		}
		for _, ns := range []string{"t", "quiz", "nosuch"} {
			enabled := strings.Contains(","+strings.Join(tc.want, ",")+",", ","+ns+",")
			if (h.Handler(tc.room, ns) != nil) != enabled {
				t.Errorf("Handler(%s, %s) enabled = %v", tc.room, ns, !enabled)
			}
		}
	}
}

func versionOf(t *testing.T, h *Host, room string) string {
	t.Helper()
	res, err := call(t, h, msg(room, "t.echo", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Version string }
	if err := json.Unmarshal(res.Emits[0].Data, &v); err != nil {
		t.Fatal(err)
	}
	return v.Version
}

func canaryConfig(percent int) Config {
	g := wasmPath("guest")
	return one("t", Plugin{Source: g, Config: map[string]any{"version": "a"},
		Canary: Canary{Source: g, Percent: percent, Config: map[string]any{"version": "b"}}})
}

func TestCanary(t *testing.T) {
	h := newHost(t, canaryConfig(30))
	rooms := make([]string, 60)
	for i := range rooms {
		rooms[i] = fmt.Sprintf("room-%d", i)
	}
	first := map[string]string{}
	canaries := 0
	for _, r := range rooms {
		want := "a"
		if Bucket(r) < 30 {
			want = "b"
			canaries++
		}
		if got := versionOf(t, h, r); got != want {
			t.Fatalf("room %s (bucket %d): version %s, want %s", r, Bucket(r), got, want)
		}
		first[r] = want
	}
	if canaries == 0 || canaries == len(rooms) {
		t.Fatalf("canary split %d of %d rooms", canaries, len(rooms))
	}

	// Raise the canary to 100%: rooms keep the version they started with,
	// new rooms get the canary.
	if err := h.Reload(context.Background(), canaryConfig(100)); err != nil {
		t.Fatal(err)
	}
	for _, r := range rooms {
		if got := versionOf(t, h, r); got != first[r] {
			t.Fatalf("room %s switched to %s after reload", r, got)
		}
	}
	if got := versionOf(t, h, "brand-new-room"); got != "b" {
		t.Fatalf("new room got %s", got)
	}

	// A stable room empties: it is forgotten and starts again on the canary.
	var stableRoom string
	for _, r := range rooms {
		if first[r] == "a" {
			stableRoom = r
			break
		}
	}
	leave := &core.Call{Hook: core.HookLeave, Room: stableRoom, Sender: teacher, Conn: "c1", LastOfUser: true, RoomEmpty: true}
	if _, err := h.Handler(stableRoom, "t").Handle(context.Background(), leave); err != nil {
		t.Fatal(err)
	}
	if got := versionOf(t, h, stableRoom); got != "b" {
		t.Fatalf("emptied room %s restarted on %s, want the canary", stableRoom, got)
	}
	first[stableRoom] = "b"

	// Remove the canary: its live rooms keep it (role "previous")...
	if err := h.Reload(context.Background(), canaryConfig(0)); err != nil {
		t.Fatal(err)
	}
	stableOnly := one("t", Plugin{Source: wasmPath("guest"), Config: map[string]any{"version": "a"}})
	if err := h.Reload(context.Background(), stableOnly); err != nil {
		t.Fatal(err)
	}
	for _, r := range rooms {
		if got := versionOf(t, h, r); got != first[r] {
			t.Fatalf("room %s moved to %s when the canary was removed", r, got)
		}
		if want := map[string]string{"a": RoleStable, "b": RolePrevious}[first[r]]; h.Version(r, "t") != want {
			t.Fatalf("room %s on %s reports role %s, want %s", r, first[r], h.Version(r, "t"), want)
		}
	}
	if got := versionOf(t, h, "another-new-room"); got != "a" {
		t.Fatalf("a new room got %s after the canary was removed", got)
	}
	// ...until the operator forces the move (a rollback).
	stableOnly.Namespaces["t"] = Plugin{Source: wasmPath("guest"), Config: map[string]any{"version": "a"}, MoveLiveRooms: true}
	if err := h.Reload(context.Background(), stableOnly); err != nil {
		t.Fatal(err)
	}
	for _, r := range rooms {
		if got := versionOf(t, h, r); got != "a" {
			t.Fatalf("room %s on %s after the forced move", r, got)
		}
	}
	// The 60 rooms and another-new-room run the stable version; the
	// canary's brand-new-room was unpinned by the move and has not called
	// since; nothing runs a previous version any more.
	if live := h.Live(); len(live) != 1 || live[0].Role != RoleStable || live[0].Rooms != len(rooms)+1 {
		t.Fatalf("Live after the forced move: %+v", live)
	}
}

func TestReload(t *testing.T) {
	g := wasmPath("guest")
	h := newHost(t, one("t", Plugin{Source: g, Config: map[string]any{"version": "a"}}))
	if v := versionOf(t, h, "r1"); v != "a" {
		t.Fatal(v)
	}
	for _, bad := range []Config{
		one("t", Plugin{Source: wasmPath("abi2guest")}),
		one("t", Plugin{Source: g, Config: map[string]any{"version": "b", "fail_init": true}}),
		one("t", Plugin{Source: g, Timeout: -1}),
		{Namespaces: map[string]Plugin{"t": {Source: g}, "x": {Source: "/nonexistent.wasm"}}},
	} {
		if err := h.Reload(context.Background(), bad); err == nil {
			t.Fatalf("bad reload %+v accepted", bad)
		}
		if v := versionOf(t, h, "r1"); v != "a" {
			t.Fatalf("after a refused reload the room runs %s", v)
		}
	}
	if err := h.Reload(context.Background(), one("t", Plugin{Source: g, Config: map[string]any{"version": "b"}})); err != nil {
		t.Fatal(err)
	}
	// The live room keeps its version; a new room gets the new one; the
	// live room moves once it empties, or when a reload forces it.
	if v := versionOf(t, h, "r1"); v != "a" {
		t.Fatalf("after reload the live room runs %s", v)
	}
	if v := versionOf(t, h, "r2"); v != "b" {
		t.Fatalf("after reload a new room runs %s", v)
	}
	leave := &core.Call{Hook: core.HookLeave, Room: "r2", Sender: teacher, Conn: "c1", LastOfUser: true, RoomEmpty: true}
	if _, err := h.Handler("r2", "t").Handle(context.Background(), leave); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(context.Background(), one("t", Plugin{Source: g, Config: map[string]any{"version": "b"}, MoveLiveRooms: true})); err != nil {
		t.Fatal(err)
	}
	if v := versionOf(t, h, "r1"); v != "b" {
		t.Fatalf("after a forced move the room runs %s", v)
	}
	if err := h.Reload(context.Background(), one("t2", Plugin{Source: g})); err != nil {
		t.Fatal(err)
	}
	if h.Handler("r1", "t") != nil || h.Handler("r1", "t2") == nil {
		t.Fatal("namespaces not swapped")
	}
}

// TestReloadUnderLoad reloads back and forth while calls run concurrently;
// every call must succeed on one of the two versions.
func TestReloadUnderLoad(t *testing.T) {
	g := wasmPath("guest")
	cfgs := []Config{
		one("t", Plugin{Source: g, PoolSize: 2, Timeout: 10 * time.Second, Config: map[string]any{"version": "a"}}),
		one("t", Plugin{Source: g, PoolSize: 2, Timeout: 10 * time.Second, Config: map[string]any{"version": "b"}}),
	}
	h := newHost(t, cfgs[0])
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				room := fmt.Sprintf("r%d-%d", w, i%3)
				res, err := h.Handler(room, "t").Handle(context.Background(), msg(room, "t.echo", `{}`))
				if err != nil || len(res.Emits) != 3 {
					errc <- fmt.Errorf("call during reload: %+v, %w", res, err)
					return
				}
			}
		}()
	}
	for i := 1; i <= 4; i++ {
		if err := h.Reload(context.Background(), cfgs[i%2]); err != nil {
			t.Error(err)
		}
	}
	cancel()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func TestFailurePolicies(t *testing.T) {
	t.Run("pass", func(t *testing.T) {
		h := guestHost(t, func(p *Plugin) { p.OnFailure = PolicyPass })
		obs := &recObserver{}
		h.SetObserver(obs)
		// The frame goes on only as an ephemeral, marked event to the
		// room: never durable, no state op, and counted as the failure.
		for _, tc := range []struct{ typ, data, want, outcome string }{
			{"t.panic", `{"k":1}`, `{"type":"t.panic","data":{"k":1}}`, "t/stable/panic"},
			{"t.error", `"x"`, `{"type":"t.error","data":"x"}`, "t/stable/error"},
			{"t.exit", ``, `{"type":"t.exit"}`, "t/stable/crash"},
		} {
			res, err := call(t, h, msg("r1", tc.typ, tc.data))
			if err != nil || len(res.Emits) != 1 || len(res.Ops)+len(res.Replies) != 0 {
				t.Fatalf("%s: %+v %v", tc.typ, res, err)
			}
			em := res.Emits[0]
			if em.Durable || em.Type != "t."+PassedAction || em.To != (core.Target{Kind: core.TargetRoom}) || string(em.Data) != tc.want {
				t.Fatalf("%s passed as %+v (data %s), want ephemeral t.%s to the room with %s", tc.typ, em, em.Data, PassedAction, tc.want)
			}
			if got := obs.last(); got != tc.outcome {
				t.Fatalf("%s observed as %q, want %q", tc.typ, got, tc.outcome)
			}
		}
		join := &core.Call{Hook: core.HookJoin, Room: "r1", Sender: teacher, Conn: "c1"}
		if res, err := call(t, h, join); err != nil || len(res.Replies) != 1 {
			t.Fatalf("join after pass: %+v %v", res, err)
		}
		// What the host refused to relay is not passed through either.
		for _, c := range []*core.Call{msg("r1", "t.badutf8", `{}`), msg("r1", "t.panic", "{\"t\":\"\xff\"}")} {
			if res, err := call(t, h, c); err == nil {
				t.Fatalf("%s with on_failure pass: %+v, want the failure", c.Type, res)
			}
		}
	})
	t.Run("reload", func(t *testing.T) {
		h := guestHost(t, func(p *Plugin) { p.OnFailure = PolicyReload; p.PoolSize = 2 })
		if _, err := call(t, h, msg("r1", "t.panic", `{}`)); !errors.Is(err, ErrFailed) {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if _, err := call(t, h, msg("r1", "t.echo", `{}`)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestConcurrentRooms(t *testing.T) {
	h := guestHost(t, func(p *Plugin) { p.PoolSize = 3; p.FailureBudget = -1 })
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			room := fmt.Sprintf("room-%d", w)
			for i := 0; i < 20; i++ {
				action := "echo"
				if i%7 == 3 {
					action = "panic"
				}
				_, err := h.Handler(room, "t").Handle(context.Background(), msg(room, "t."+action, `{}`))
				if (err != nil) != (action == "panic") {
					errs <- fmt.Errorf("%s: %v", action, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCloseRefusesCalls(t *testing.T) {
	h := guestHost(t, nil)
	hd := h.Handler("r1", "t")
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := hd.Handle(context.Background(), msg("r1", "t.echo", `{}`)); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v", err)
	}
	if err := h.Reload(context.Background(), one("t", Plugin{Source: wasmPath("guest")})); !errors.Is(err, ErrClosed) {
		t.Fatalf("reload after close: %v", err)
	}
}
