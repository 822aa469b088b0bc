package host

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"testing"

	"github.com/classgate/classgate/core"
)

// TestResetRestoresEveryByte writes into a chat instance's memory and
// globals the way a call could, resets it, and checks that every byte and
// every global is the snapshot's again, whichever way reset took: copying
// back the written pages, mapping the snapshot afresh (too many pages
// written), or copying all of it (memory not mapped from the file). An
// instance whose memory grew is not reset (the pool replaces it).
func TestResetRestoresEveryByte(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pages   func(n int) []int // pages to scribble on, of n
		unmap   bool              // memory treated as not mapped from the file
		grow    bool
		wantOK  bool
		wantHow string // "copied", "mapped" or "full"
	}{
		{"a few pages written: copied back", func(n int) []int { return []int{0, 1, n / 2, n - 1} }, false, false, true, "copied"},
		{"most pages written: mapped afresh", func(n int) []int { return seq(0, n, 2) }, false, false, true, "mapped"},
		{"memory not mapped: copied whole", func(n int) []int { return []int{3, n - 2} }, true, false, true, "full"},
		{"memory grew: refused", func(n int) []int { return []int{5} }, false, true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, one("chat", Plugin{Source: wasmPath("chat"), PoolSize: 1}))
			v := h.gen.entries["chat"].stable
			in := v.pool.idleInstances()[0]
			if in.snap == nil || in.snap.file == nil || in.lin == nil {
				t.Skip("no snapshot file on this platform")
			}
			// Map the snapshot once, as the first reset does, so the cases
			// start from the state every later instance is in.
			if !in.reset() {
				t.Fatal("first reset failed")
			}
			in.resets = resetStats{}
			if tc.unmap {
				in.lin = nil
			}
			mem := in.mod.Memory()
			n := int(mem.Size()) / pageSize
			for _, p := range tc.pages(n) {
				if !mem.Write(uint32(p*pageSize+100), []byte("room A's secret")) {
					t.Fatalf("write page %d", p)
				}
			}
			for _, g := range in.globals {
				g.Set(g.Get() + 1)
			}
			if tc.grow {
				if _, ok := mem.Grow(1); !ok {
					t.Fatal("grow")
				}
			}
			if ok := in.reset(); ok != tc.wantOK {
				t.Fatalf("reset = %v, want %v", ok, tc.wantOK)
			}
			if !tc.wantOK {
				return
			}
			view, _ := mem.Read(0, mem.Size())
			if !bytes.Equal(view, in.snap.mem) {
				t.Fatalf("memory differs from the snapshot at %d", firstDiff(view, in.snap.mem))
			}
			for i, g := range in.globals {
				if g.Get() != in.snap.globals[i] {
					t.Fatalf("global %d = %d, snapshot %d", i, g.Get(), in.snap.globals[i])
				}
			}
			got := map[string]bool{"copied": in.resets.copiedPages > 0, "mapped": in.resets.mapped > 0, "full": in.resets.full > 0}
			for how, did := range got {
				if did != (how == tc.wantHow) {
					t.Errorf("reset stats %+v, want only %q", in.resets, tc.wantHow)
				}
			}
			if tc.wantHow == "copied" && in.resets.copiedPages < len(tc.pages(n)) {
				t.Errorf("copied %d pages, %d were written", in.resets.copiedPages, len(tc.pages(n)))
			}
		})
	}
}

// TestInstanceFromSnapshot: an instance made from the snapshot (no
// _initialize, no cg_init) starts with the snapshot's memory and globals
// and answers a call exactly as an instance that ran cg_init does.
func TestInstanceFromSnapshot(t *testing.T) {
	h := newHost(t, one("chat", Plugin{Source: wasmPath("chat"), PoolSize: 1}))
	v := h.gen.entries["chat"].stable
	if v.snap == nil || v.snap.file == nil {
		t.Skip("no snapshot file on this platform")
	}
	ctx := context.Background()
	fresh, err := newInstance(ctx, v, v.rt, v.cm, v.globalNames, v.cfg, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.close()
	in, err := newInstanceFromSnapshot(ctx, v.rt, v.cm, v.globalNames, v.snap, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer in.close()
	view, _ := in.mod.Memory().Read(0, in.mod.Memory().Size())
	if !bytes.Equal(view, v.snap.mem) {
		t.Fatalf("memory differs from the snapshot at %d", firstDiff(view, v.snap.mem))
	}
	for i, g := range in.globals {
		if g.Get() != v.snap.globals[i] {
			t.Fatalf("global %d = %d, snapshot %d", i, g.Get(), v.snap.globals[i])
		}
	}
	st := chatState()
	for i := 0; i < 3; i++ {
		want, _, err := fresh.call(ctx, v, "chat", chatSend("r1", st))
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := in.call(ctx, v, "chat", chatSend("r1", st))
		if err != nil {
			t.Fatal(err)
		}
		// chat stamps each stored message with the wall clock (ts), which
		// may tick between the two calls: compare with it masked.
		if a, b := mustJSON(t, withoutTS(want)), mustJSON(t, withoutTS(got)); a != b {
			t.Fatalf("call %d: from snapshot %s, initialised %s", i, b, a)
		}
	}
}

func seq(from, to, step int) []int {
	var out []int
	for i := from; i < to; i += step {
		out = append(out, i)
	}
	return out
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// tsField matches the wall-clock stamp chat writes into stored messages.
var tsField = regexp.MustCompile(`"ts":[0-9]+`)

// withoutTS is res with every "ts" in its state values set to 0.
func withoutTS(res *core.Result) *core.Result {
	out := *res
	out.Ops = make([]core.StateOp, len(res.Ops))
	for i, op := range res.Ops {
		op.Value = tsField.ReplaceAll(op.Value, []byte(`"ts":0`))
		out.Ops[i] = op
	}
	return &out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(fmt.Errorf("marshal: %w", err))
	}
	return string(b)
}
