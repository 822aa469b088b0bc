package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/classgate/classgate/adapters/redis"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/core"
)

// commitMany commits n durable events to each of rooms from workers
// goroutines per room (dedupe keys tagged with tag), and returns the first
// error.
func commitMany(ctx context.Context, s *redis.Store, tag string, rooms []string, workers, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(rooms)*workers)
	for _, room := range rooms {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n {
					data := json.RawMessage(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))
					if _, err := s.Commit(ctx, core.Commit{Room: room, DedupeKey: fmt.Sprintf("u\x00%s-%d-%d", tag, w, i),
						Durable: []core.Event{{Room: room, Type: "chat.message", Data: data}},
						Ops:     []core.StateOp{{Op: core.OpSet, Key: fmt.Sprint("w", w), Value: data}}, Namespace: "chat"}); err != nil {
						errs <- fmt.Errorf("room %s worker %d commit %d: %w", room, w, i, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// TestPipelinedCommits: commits of many rooms from many goroutines at once
// share round trips (fewer pipelines than calls), and every one is applied
// exactly once: each room's history holds every event, seqs 1..n without
// gap, and each worker's events in the order it committed them.
func TestPipelinedCommits(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t)
	s, err := redis.New(ctx, redis.Options{Addr: srv.Addr(), Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rooms := []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"}
	const workers, n = 4, 40
	calls0, pipes0 := redis.PipelineStats(s)
	if err := commitMany(ctx, s, "m", rooms, workers, n); err != nil {
		t.Fatal(err)
	}
	calls, pipes := redis.PipelineStats(s)
	calls, pipes = calls-calls0, pipes-pipes0
	t.Logf("%d script calls in %d round trips", calls, pipes)
	if calls < int64(len(rooms)*workers*n) {
		t.Fatalf("%d calls went through the pipelines, want at least %d", calls, len(rooms)*workers*n)
	}
	if pipes >= calls {
		t.Fatalf("%d calls from %d goroutines took %d round trips: nothing was batched", calls, len(rooms)*workers, pipes)
	}
	for _, room := range rooms {
		events, last, complete, err := s.History(ctx, room, 0)
		if err != nil || !complete {
			t.Fatalf("history of %s: complete %v, %v", room, complete, err)
		}
		if last != workers*n || len(events) != workers*n {
			t.Fatalf("room %s: seq %d, %d events, want %d", room, last, len(events), workers*n)
		}
		next := map[int]int{}
		for i, e := range events {
			if e.Seq != uint64(i+1) {
				t.Fatalf("room %s: event %d has seq %d", room, i, e.Seq)
			}
			var d struct{ W, I int }
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			if d.I != next[d.W] {
				t.Fatalf("room %s: worker %d's commit %d came where %d was due", room, d.W, d.I, next[d.W])
			}
			next[d.W]++
		}
	}
}

// TestPipelineAfterScriptFlush: when Redis forgot the scripts (a restart, a
// failover, SCRIPT FLUSH) while commits share pipelines, every commit is
// still applied once: NOSCRIPT means not run, and the call is run again.
func TestPipelineAfterScriptFlush(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t)
	s, err := redis.New(ctx, redis.Options{Addr: srv.Addr(), Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rooms := []string{"a", "b", "c", "d"}
	if err := commitMany(ctx, s, "before", rooms, 2, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do("SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	if err := commitMany(ctx, s, "after", rooms, 8, 5); err != nil {
		t.Fatal(err)
	}
	for _, room := range rooms {
		snap, err := s.Snapshot(ctx, room, "chat")
		if err != nil {
			t.Fatal(err)
		}
		if snap.Seq != 2*5+8*5 {
			t.Fatalf("room %s at seq %d after %d commits", room, snap.Seq, 2*5+8*5)
		}
	}
}

// TestPipelineClosedStore: a store used after Close answers with an
// error wrapping core.ErrUnavailable instead of waiting forever.
func TestPipelineClosedStore(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t)
	s, err := redis.New(ctx, redis.Options{Addr: srv.Addr(), Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = s.Commit(ctx, core.Commit{Room: "r", Durable: []core.Event{{Room: "r", Type: "chat.message"}}})
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("commit after close: %v, want ErrUnavailable", err)
	}
}
