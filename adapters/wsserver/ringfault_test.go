package wsserver_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/wsserver"
	"github.com/classgate/classgate/internal/e2e"
	"github.com/classgate/classgate/internal/uring"
)

// lockedBuf is a log destination safe for the server's goroutines.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// errRing is what a ring that failed reports (as Do does: the error of
// io_uring_enter, e.g. a seccomp profile's EPERM).
var errRing = fmt.Errorf("uring: io_uring_enter: %w", syscall.EPERM)

// refuse is a submission the kernel refused: nothing sent, every op
// carries the ring's error.
func refuse(ops []uring.Op) error {
	for i := range ops {
		ops[i].N, ops[i].Err = 0, errRing
	}
	return errRing
}

// TestRingFaultsDeliver makes the io_uring ring fail in the ways it can
// (the submission refused, a failure halfway through a batch, sends that
// complete with an error that is not the socket's) and checks, over real
// WebSocket clients, that every member still receives every frame in
// order, nobody is closed, and that repeated faults switch io_uring off
// with one log line while a single one does not.
func TestRingFaultsDeliver(t *testing.T) {
	tests := []struct {
		name string
		// do replaces (*uring.Ring).Do; call is its 1-based call number.
		do           func(r *uring.Ring, ops []uring.Op, call int64) error
		wantDisabled bool
	}{
		{"submission refused", func(_ *uring.Ring, ops []uring.Op, _ int64) error { return refuse(ops) }, true},
		{"fails halfway", func(r *uring.Ring, ops []uring.Op, _ int64) error {
			half := len(ops) / 2
			if err := r.Do(ops[:half]); err != nil {
				return err
			}
			return refuse(ops[half:])
		}, true},
		{"sends complete with non-socket errors", func(r *uring.Ring, ops []uring.Op, _ int64) error {
			half := len(ops) / 2
			if err := r.Do(ops[:half]); err != nil {
				return err
			}
			for i := half; i < len(ops); i++ {
				ops[i].N, ops[i].Err = 0, []error{syscall.EINVAL, syscall.ECANCELED, syscall.ENOMEM}[i%3]
			}
			return nil
		}, true},
		{"one refusal, then healthy", func(r *uring.Ring, ops []uring.Op, call int64) error {
			if call == 1 {
				return refuse(ops)
			}
			return r.Do(ops)
		}, false},
	}
	const members, messages = 7, 2*wsserver.RingFaultLimit + 2
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &lockedBuf{}
			var slow atomic.Int64
			g := start(t, cfg{ws: wsserver.Options{
				Logger:   slog.New(slog.NewTextHandler(logs, nil)),
				Observer: slowFunc(func() { slow.Add(1) }),
			}})
			if !g.srv.IOUring() {
				t.Skip("io_uring is not available on this kernel")
			}
			var calls atomic.Int64
			wsserver.SetRingDo(g.srv, func(r *uring.Ring, ops []uring.Op) error {
				return tt.do(r, ops, calls.Add(1))
			})
			fanOut(t, g, members, messages)
			if calls.Load() == 0 {
				t.Fatal("no fan-out went through the ring: the fault was never exercised")
			}
			checkAfterFaults(t, g, logs, &slow, tt.wantDisabled)
		})
	}
}

// fanOut has member 0 of a room of members send messages and checks that
// every other member receives each, in order, and is still connected.
func fanOut(t *testing.T, g *gw, members, messages int) {
	t.Helper()
	const room = "ringfault"
	var cs []*e2e.Client
	for i := range members {
		c := dial(t, g, fmt.Sprintf("m%d", i))
		c.Join(room, -1)
		cs = append(cs, c)
	}
	// The sender's own copies may pass before its acks (Say skips them),
	// so the members checked are the others.
	for i := range messages {
		cs[0].Say(room, fmt.Sprintf("s%d", i), fmt.Sprintf("msg %d", i))
	}
	for j, c := range cs[1:] {
		for i := range messages {
			want := fmt.Sprintf("msg %d", i)
			m := c.Expect(want, func(m e2e.Msg) bool { return m.Type == "chat.message" })
			if got := chatText(m); got != want {
				t.Fatalf("member %d: got %q, want %q (lost or out of order)", j+1, got, want)
			}
		}
		if err := c.Ping(5 * time.Second); err != nil {
			t.Fatalf("member %d no longer answers: %v", j+1, err)
		}
	}
}

// checkAfterFaults: nobody was closed as a slow consumer, and io_uring is
// off, with exactly one log line, iff disabled.
func checkAfterFaults(t *testing.T, g *gw, logs *lockedBuf, slow *atomic.Int64, disabled bool) {
	t.Helper()
	if n := slow.Load(); n != 0 {
		t.Fatalf("%d members closed as slow consumers", n)
	}
	if g.srv.IOUring() == disabled {
		t.Fatalf("IOUring() = %v after the faults, want %v", g.srv.IOUring(), !disabled)
	}
	want := 0
	if disabled {
		want = 1
	}
	if n := strings.Count(logs.String(), "io_uring disabled"); n != want {
		t.Fatalf("%d log lines about disabling io_uring, want %d:\n%s", n, want, logs)
	}
}

func chatText(m e2e.Msg) string {
	var d struct{ Text string }
	_ = json.Unmarshal(m.Data, &d)
	return d.Text
}

// TestRingFaultLimitDocumented: docs/OPERATIONS.md quotes ringFaultLimit.
func TestRingFaultLimitDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("after %d batches in a row with a ring fault", wsserver.RingFaultLimit)
	if !strings.Contains(string(b), want) {
		t.Fatalf("docs/OPERATIONS.md does not say %q", want)
	}
}
