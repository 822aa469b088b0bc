//go:build !wasip1

package sdk

import (
	"errors"
	"strings"
	"testing"
)

// TestWarm runs registered samples through Harness.Warm: what the handler
// sees of each (namespace, type, room, sender, flags), how many times, and
// which handler outcomes make the warm-up fail — as the host would log it.
func TestWarm(t *testing.T) {
	defer func(s []Sample) { samples = s }(samples)
	samples = nil
	Warmup(Sample{Action: "send", Data: `{"text":"x"}`}, Sample{Hook: HookJoin, Sender: User{ID: "t", Name: "T", Role: "student"}})

	for _, tc := range []struct {
		name    string
		outcome func(c *Call) error
		wantErr string
	}{
		{"handled", func(c *Call) error { return c.Broadcast("message", []byte(`{}`)) }, ""},
		{"rejected", func(c *Call) error { return c.Reject("no") }, ""},
		{"error", func(c *Call) error { return errors.New("broken sample") }, "broken sample"},
		{"panic", func(c *Call) error { panic("sample panicked") }, "sample panicked"},
		{"bad output", func(c *Call) error { _ = c.Broadcast("BAD TYPE", nil); return nil }, "warm-up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen []string
			h, err := NewHarness("chat", func(Config) (Handler, error) {
				return func(c *Call) error {
					seen = append(seen, c.Hook.String()+" "+c.Namespace+" "+c.Type+" room="+c.Room+" "+c.Sender.ID+"/"+c.Sender.Role+" "+string(c.Data))
					if c.Hook == HookJoin && !c.FirstOfUser {
						t.Error("a join sample is the user's first connection")
					}
					return tc.outcome(c)
				}, nil
			}, "")
			if err != nil {
				t.Fatal(err)
			}
			err = h.Warm()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				want := []string{`message chat chat.send room= cg-warmup/teacher {"text":"x"}`, "join chat  room= t/student "}
				if len(seen) != 2*(warmRounds+1) || seen[0] != want[0] || seen[1] != want[1] {
					t.Fatalf("handler saw %q, want %q × %d", seen, want, warmRounds+1)
				}
				if len(h.State) != 0 || len(h.Logs) != 0 {
					t.Fatalf("warm-up touched the harness: %v %v", h.State, h.Logs)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrPluginFailed) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Warm() = %v, want ErrPluginFailed mentioning %q", err, tc.wantErr)
			}
			if len(seen) != 1 {
				t.Fatalf("warm-up went on after a failure: %q", seen)
			}
		})
	}
}
