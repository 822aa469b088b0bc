package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/core/coretest"
	"github.com/classgate/classgate/core/memory"
)

func TestConformance(t *testing.T) {
	newStore := func(cfg coretest.Config) core.Store {
		return memory.New(memory.Options{HistoryLimit: cfg.HistoryLimit, HistoryAge: cfg.HistoryAge, LivenessTTL: cfg.LivenessTTL})
	}
	coretest.RunStore(t, coretest.Factory{
		New: func(t *testing.T, cfg coretest.Config) core.Store { return newStore(cfg) },
		// The memory store's data lives and dies with its process: a
		// restarted gateway has a new, empty store.
		Lose: func(t *testing.T, _ core.Store) core.Store {
			return newStore(coretest.Config{HistoryLimit: 50, HistoryAge: time.Hour, LivenessTTL: time.Hour})
		},
	})
}

// Snapshots share the store's state maps (copy on write): a snapshot never
// changes after later commits, even while they run concurrently with its
// readers (run with -race), and a new snapshot sees every commit.
func TestSnapshotCopyOnWrite(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.Options{})
	set := func(k, v string) {
		t.Helper()
		if _, err := s.Commit(ctx, core.Commit{Room: "r", Namespace: "wb", Ops: []core.StateOp{{Op: core.OpSet, Key: k, Value: []byte(v)}}}); err != nil {
			t.Fatal(err)
		}
	}
	set("a", "1")
	old, err := s.Snapshot(ctx, "r", "wb")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // a reader of the old snapshot while commits go on
		defer close(done)
		for i := 0; i < 1000; i++ {
			if string(old.State["wb"]["a"]) != "1" || len(old.State["wb"]) != 1 {
				t.Error("snapshot changed under its reader")
				return
			}
		}
	}()
	for i := 0; i < 100; i++ {
		set(fmt.Sprint("k", i), "x")
		if _, err := s.Snapshot(ctx, "r", "wb"); err != nil { // lend again
			t.Fatal(err)
		}
	}
	set("a", "2")
	<-done
	tests := []struct {
		key, want string
	}{{"a", "2"}, {"k0", "x"}, {"k99", "x"}}
	now, err := s.Snapshot(ctx, "r", "wb")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		if got := string(now.State["wb"][tt.key]); got != tt.want {
			t.Errorf("new snapshot: %s = %q, want %q", tt.key, got, tt.want)
		}
	}
	if len(old.State["wb"]) != 1 || string(old.State["wb"]["a"]) != "1" {
		t.Fatalf("old snapshot changed: %v", old.State["wb"])
	}
	if _, err := s.Commit(ctx, core.Commit{Room: "r", Namespace: "wb", Ops: []core.StateOp{{Op: core.OpClear}}}); err != nil {
		t.Fatal(err)
	}
	if len(now.State["wb"]) != 101 { // a, k0…k99
		t.Fatalf("clear reached an earlier snapshot: %d keys", len(now.State["wb"]))
	}
}

// TestSnapshotRelease: a commit writes the state map in place only when
// every snapshot sharing it was released; one still held keeps its view,
// and releasing twice does not release someone else's hold.
func TestSnapshotRelease(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.Options{})
	set := func(k string) {
		t.Helper()
		if _, err := s.Commit(ctx, core.Commit{Room: "r", Namespace: "ns", Ops: []core.StateOp{{Op: core.OpSet, Key: k, Value: []byte("v")}}}); err != nil {
			t.Fatal(err)
		}
	}
	snap := func() core.Snapshot {
		t.Helper()
		sn, err := s.Snapshot(ctx, "r", "ns")
		if err != nil {
			t.Fatal(err)
		}
		if sn.Release == nil {
			t.Fatal("snapshot of a non-empty namespace has no Release")
		}
		return sn
	}
	set("a")
	held, released := snap(), snap()
	released.Release()
	released.Release() // a second call must not count as held's release
	set("b")
	if len(held.State["ns"]) != 1 {
		t.Fatalf("a commit wrote into a map a snapshot still holds: %v", held.State["ns"])
	}
	held.Release()

	last := snap()
	m := last.State["ns"]
	last.Release()
	set("c")
	if _, ok := m["c"]; !ok {
		t.Error("with every snapshot released the commit copied the map instead of writing it in place")
	}
	if got := snap().State["ns"]; len(got) != 3 {
		t.Errorf("state = %v, want a, b and c", got)
	}
}
