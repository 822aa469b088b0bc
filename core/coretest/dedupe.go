package coretest

import (
	"errors"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
)

// testDedupeAnswers: SnapshotDedupe reports what a dedupe key was
// answered (a commit's first seq, or a remembered refusal) within its
// TTL, so the router can answer a retry before calling any plugin; a
// commit's answer wins over a refusal, and the first refusal stays. The
// snapshot it returns with the answer is the room's, as Snapshot reads it.
func testDedupeAnswers(t *testing.T, s core.Store, _ Factory) {
	ctx := ctxT(t)
	lookup := func(room, key string) (core.DedupeAnswer, bool) {
		t.Helper()
		snap, ans, found, err := s.SnapshotDedupe(ctx, room, key, "ns")
		must(t, err)
		want, err := s.Snapshot(ctx, room, "ns")
		must(t, err)
		if snap.Seq != want.Seq || snap.Version != want.Version || snap.Epoch != want.Epoch || len(snap.State["ns"]) != len(want.State["ns"]) {
			t.Fatalf("SnapshotDedupe(%s) read seq %d version %d epoch %q state %v; Snapshot reads %d %d %q %v",
				room, snap.Seq, snap.Version, snap.Epoch, snap.State, want.Seq, want.Version, want.Epoch, want.State)
		}
		for _, sn := range []core.Snapshot{snap, want} {
			if sn.Release != nil {
				sn.Release()
			}
		}
		return ans, found
	}
	if _, found := lookup("da", ""); found {
		t.Fatal("the empty key found")
	}
	if _, found := lookup("da", "ann\x00m1"); found {
		t.Fatal("unused key found")
	}
	commit1(t, s, "da", 1)
	c := core.Commit{Room: "da", DedupeKey: "ann\x00m1", DedupeTTL: time.Minute, Durable: []core.Event{ev("da", "t.e", 2)},
		Namespace: "ns", Ops: []core.StateOp{{Op: core.OpSet, Key: "k", Value: []byte("v")}}}
	r, err := s.Commit(ctx, c)
	must(t, err)
	tests := []struct {
		name, room, key string
		found           bool
		want            core.DedupeAnswer
	}{
		{"committed key", "da", "ann\x00m1", true, core.DedupeAnswer{Seq: r.FirstSeq}},
		{"other user", "da", "bob\x00m1", false, core.DedupeAnswer{}},
		{"other room", "db", "ann\x00m1", false, core.DedupeAnswer{}},
	}
	for _, tt := range tests {
		if ans, found := lookup(tt.room, tt.key); found != tt.found || ans != tt.want {
			t.Fatalf("%s: %+v %v, want %+v %v", tt.name, ans, found, tt.want, tt.found)
		}
	}
	if r.FirstSeq != 2 {
		t.Fatalf("first seq %d", r.FirstSeq)
	}
	// A commit without durable events answers seq 0.
	must(t, commitErr(s.Commit(ctx, core.Commit{Room: "da", DedupeKey: "ann\x00eph", DedupeTTL: time.Minute, Ephemeral: []core.Event{ev("da", "t.e", 3)}})))
	if ans, found := lookup("da", "ann\x00eph"); !found || ans != (core.DedupeAnswer{}) {
		t.Fatalf("ephemeral commit: %+v %v", ans, found)
	}

	refused := core.DedupeAnswer{Code: core.CodeRejected, Message: "no such element \"e1\" ✓"}
	must(t, s.RememberRefusal(ctx, "da", "ann\x00x1", refused, time.Minute))
	if ans, found := lookup("da", "ann\x00x1"); !found || ans != refused {
		t.Fatalf("refusal: %+v %v", ans, found)
	}
	// The first refusal stays the answer.
	must(t, s.RememberRefusal(ctx, "da", "ann\x00x1", core.DedupeAnswer{Code: core.CodeForbidden, Message: "other"}, time.Minute))
	if ans, _ := lookup("da", "ann\x00x1"); ans != refused {
		t.Fatalf("second refusal replaced the first: %+v", ans)
	}
	// A refusal never replaces a commit's answer.
	must(t, s.RememberRefusal(ctx, "da", "ann\x00m1", refused, time.Minute))
	if ans, _ := lookup("da", "ann\x00m1"); ans != (core.DedupeAnswer{Seq: r.FirstSeq}) {
		t.Fatalf("refusal replaced a commit: %+v", ans)
	}
	// The commit of a racing retry still deduplicates atomically.
	if _, err := s.Commit(ctx, c); !errors.Is(err, core.ErrDuplicate) {
		t.Fatalf("repeat commit: %v", err)
	}
	// A short window expires.
	must(t, s.RememberRefusal(ctx, "dc", "k", refused, time.Second))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, found := lookup("dc", "k"); !found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("refusal never expired")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func commitErr(_ core.CommitResult, err error) error { return err }
