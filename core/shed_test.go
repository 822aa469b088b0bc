package core_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/classgate/classgate/core"
)

// shedCounter counts Observer.Shed.
type shedCounter struct {
	core.NopObserver
	n atomic.Int64
}

func (o *shedCounter) Shed() { o.n.Add(1) }

// TestShed: a frame the transport found queued too long (Router.Shed) is
// answered rate_limited, with its id, and not applied when it is a plugin
// frame; every other frame Shed leaves alone (reported not handled,
// nothing sent) and Receive answers it as usual; a refused frame's retry
// (same id) is then applied once.
func TestShed(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		want  []string
		shed  bool // counted by Observer.Shed, nothing applied
	}{
		{"a plugin frame with an id", `{"type":"board.draw","room":"r","id":"d1","data":{"id":"e1"}}`,
			[]string{`{"type":"error","id":"d1","code":"rate_limited"}`}, true},
		{"a plugin frame without an id", `{"type":"board.draw","room":"r","data":{"id":"e1"}}`,
			[]string{`{"type":"error","id":null,"code":"rate_limited"}`}, true},
		{"ping is answered", `{"type":"ping","id":"p"}`, []string{`{"type":"pong","id":"p"}`}, false},
		{"leave is handled", `{"type":"leave","room":"r","id":"l"}`, []string{`{"type":"ack","id":"l"}`}, false},
		{"a malformed frame gets its usual error", `{"type":`, []string{`{"type":"error","code":"bad_request"}`}, false},
		{"a plugin frame is shed before any room lookup", `{"type":"board.draw","room":"other","id":"x","data":{"id":"e"}}`,
			[]string{`{"type":"error","id":"x","code":"rate_limited"}`}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			modes(t, func(t *testing.T, direct bool) {
				obs := &shedCounter{}
				f := newHFix(t, direct, core.Options{Observer: obs})
				f.connect(t, "a", "ann", "teacher")
				f.recv(t, "a", `{"type":"join","room":"r"}`)
				before := roomSeq(t, f)
				handled, err := f.r.Shed(context.Background(), "a", []byte(tt.frame))
				if err != nil {
					t.Fatal(err)
				}
				if handled != tt.shed {
					t.Fatalf("Shed reported handled=%v, want %v", handled, tt.shed)
				}
				if !handled {
					// Left for Receive, untouched: no reply yet.
					if got := f.snd.take("a"); len(got) != 0 {
						t.Fatalf("Shed answered a frame it left alone: %q", got)
					}
					if err := f.r.Receive(context.Background(), "a", []byte(tt.frame)); err != nil {
						t.Fatal(err)
					}
				}
				got := f.snd.take("a")
				if len(got) != len(tt.want) {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
				for i, w := range tt.want {
					if err := subset(decode(t, w), decode(t, got[i])); err != nil {
						t.Fatalf("frame %d: %v\n got %s\nwant %s", i, err, got[i], w)
					}
				}
				if n := obs.n.Load(); (n == 1) != tt.shed || n > 1 {
					t.Fatalf("Observer.Shed counted %d, want shed=%v", n, tt.shed)
				}
				if tt.shed && roomSeq(t, f) != before {
					t.Fatalf("a shed frame was applied: room seq %d → %d", before, roomSeq(t, f))
				}
			})
		})
	}
	t.Run("the retry of a shed frame is applied once", func(t *testing.T) {
		modes(t, func(t *testing.T, direct bool) {
			f := newHFix(t, direct, core.Options{})
			f.connect(t, "a", "ann", "teacher")
			f.recv(t, "a", `{"type":"join","room":"r"}`)
			frame := `{"type":"board.draw","room":"r","id":"d1","data":{"id":"e1"}}`
			if handled, err := f.r.Shed(context.Background(), "a", []byte(frame)); err != nil || !handled {
				t.Fatalf("Shed = %v, %v; want it handled", handled, err)
			}
			f.snd.take("a")
			seq := roomSeq(t, f)
			got := f.recv(t, "a", frame)
			if len(got) == 0 || subset(decode(t, `{"type":"ack","id":"d1"}`), decode(t, got[len(got)-1])) != nil {
				t.Fatalf("retry answered %q, want an ack", got)
			}
			if roomSeq(t, f) != seq+1 {
				t.Fatalf("room seq %d after the retry, want %d", roomSeq(t, f), seq+1)
			}
		})
	})
}

func roomSeq(t *testing.T, f *hfix) uint64 {
	t.Helper()
	s, err := f.st.Snapshot(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	return s.Seq
}
