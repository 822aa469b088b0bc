package host

import (
	"context"
	"errors"
	"testing"
	"time"
)

// testPool is a pool of bare instances (no module): create counts them,
// reset unbinds one from its room and counts the resets.
type testPool struct {
	*pool
	created, resets int
}

func newTestPool(size int) *testPool {
	tp := &testPool{}
	tp.pool = newPool(size, func(_ context.Context, epoch uint64) (*instance, error) {
		tp.created++ // under the test's control: calls never overlap here
		return &instance{epoch: epoch}, nil
	})
	tp.reset = func(in *instance) bool { tp.resets++; in.room = ""; return true }
	return tp
}

// borrow gets an instance for room and binds it, as variant.handle does.
func (tp *testPool) borrow(t *testing.T, ctx context.Context, room string) *instance {
	t.Helper()
	in, err := tp.get(ctx, room)
	if err != nil {
		t.Fatalf("get(%q): %v", room, err)
	}
	in.room = room
	return in
}

// waitQueued waits until n calls wait for an instance.
func (tp *testPool) waitQueued(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tp.mu.Lock()
		got := len(tp.waiters)
		tp.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls waiting, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

type getResult struct {
	room string
	in   *instance
	err  error
}

// queue starts a waiting get per room, in order, each queued before the next.
func (tp *testPool) queue(t *testing.T, ctx context.Context, rooms ...string) <-chan getResult {
	t.Helper()
	got := make(chan getResult, len(rooms))
	tp.mu.Lock()
	base := len(tp.waiters)
	tp.mu.Unlock()
	for i, room := range rooms {
		go func() {
			in, err := tp.get(ctx, room)
			got <- getResult{room, in, err}
		}()
		tp.waitQueued(t, base+i+1)
	}
	return got
}

func TestPoolWakesOneWaiterInOrder(t *testing.T) {
	ctx := context.Background()
	tp := newTestPool(1)
	in := tp.borrow(t, ctx, "held")
	rooms := []string{"a", "b", "c", "d"}
	got := tp.queue(t, ctx, rooms...)
	for i, want := range rooms {
		tp.put(in) // one instance back: one waiter runs, the rest still wait
		r := <-got
		if r.err != nil || r.room != want {
			t.Fatalf("return %d went to %q (err %v), want %q: waiters are served in arrival order", i, r.room, r.err, want)
		}
		tp.waitQueued(t, len(rooms)-i-1)
		in = r.in
		in.room = r.room
	}
	if tp.created != 1 {
		t.Errorf("created %d instances, want 1 (pool size)", tp.created)
	}
}

func TestPoolWakesSameRoomFirst(t *testing.T) {
	ctx := context.Background()
	tp := newTestPool(1)
	in := tp.borrow(t, ctx, "a")
	got := tp.queue(t, ctx, "b", "a")
	tp.put(in)
	r := <-got
	if r.room != "a" || r.in != in {
		t.Fatalf("the instance of room a went to %q, want the call waiting for room a", r.room)
	}
	if tp.resets != 0 {
		t.Errorf("%d resets, want 0: the room's own instance needs none", tp.resets)
	}
	tp.waitQueued(t, 1) // b still waits
	r.in.room = "a"
	tp.put(r.in)
	if r := <-got; r.room != "b" || tp.resets != 1 {
		t.Fatalf("next return went to %q with %d resets, want b after 1 reset", r.room, tp.resets)
	}
}

func TestPoolWaiterGivingUp(t *testing.T) {
	tests := []struct {
		name  string
		woken bool // the instance came back, and woke the waiter, before it gave up
	}{
		{"still queued", false},
		{"woken as it gave up", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			tp := newTestPool(1)
			in := tp.borrow(t, ctx, "held")
			other := tp.queue(t, ctx, "o")
			// A waiter ahead of the other one, whose call gives up.
			quitter := &waiter{room: "q", wake: make(chan struct{}, 1)}
			tp.mu.Lock()
			tp.waiters = append([]*waiter{quitter}, tp.waiters...)
			tp.mu.Unlock()
			if tt.woken {
				tp.put(in)
				select {
				case <-quitter.wake:
				default:
					t.Fatal("the first waiter was not the one woken")
				}
				tp.giveUp(quitter)
			} else {
				tp.giveUp(quitter)
				tp.put(in)
			}
			select {
			case r := <-other:
				if r.err != nil || r.in != in {
					t.Fatalf("other waiter: %v, want the returned instance", r.err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the other waiter was never woken: a wake-up was lost")
			}
		})
	}
}

func TestPoolCloseWakesWaiters(t *testing.T) {
	ctx := context.Background()
	tp := newTestPool(1)
	tp.borrow(t, ctx, "held") // kept busy: close does not touch it
	got := tp.queue(t, ctx, "a", "b", "c")
	tp.mu.Lock()
	tp.closed = true
	tp.wakeAll()
	tp.mu.Unlock()
	for i := 0; i < 3; i++ {
		select {
		case r := <-got:
			if !errors.Is(r.err, ErrClosed) {
				t.Fatalf("waiter for %s: %v, want ErrClosed", r.room, r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of 3 waiters woken by close", i)
		}
	}
}
