package host

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/classgate/classgate/core"
)

// TestFailureBudget: a student sending looping frames gets FailureBudget
// timeouts, then every further frame to the plugin is refused without
// calling it (ErrRefused, outcome "refused"); the teacher in the same room
// and the student's join are served as usual; the window's end restores
// the student; a negative budget never refuses.
func TestFailureBudget(t *testing.T) {
	student := core.User{ID: "s1", Name: "Sam", Role: "student"}
	from := func(u core.User, conn core.ConnID, typ string) *core.Call {
		c := msg("r1", typ, `{}`)
		c.Sender, c.Conn = u, conn
		return c
	}
	for _, tc := range []struct {
		name    string
		budget  int
		frames  int
		wantRun int // frames that reached the plugin (and timed out)
	}{
		{"default budget", 0, 8, DefaultFailureBudget},
		{"budget 1", 1, 5, 1},
		{"no budget", -1, 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := guestHost(t, func(p *Plugin) {
				p.Timeout = 50 * time.Millisecond
				p.FailureBudget = tc.budget
				p.FailureWindow = time.Hour
			})
			obs := &recObserver{}
			h.SetObserver(obs)
			now := time.Now()
			h.budgets.now = func() time.Time { return now }
			ran, refused := 0, 0
			for i := 0; i < tc.frames; i++ {
				// Two connections of one user share the budget.
				_, err := call(t, h, from(student, core.ConnID(fmt.Sprintf("c%d", i%2)), "t.loop"))
				switch {
				case errors.Is(err, ErrTimeout) && obs.last() == "t/stable/timeout":
					ran++
				case errors.Is(err, ErrRefused) && obs.last() == "t/stable/refused":
					refused++
				default:
					t.Fatalf("frame %d: %v (observed %s)", i, err, obs.last())
				}
			}
			if ran != tc.wantRun || refused != tc.frames-tc.wantRun {
				t.Fatalf("%d frames ran, %d refused; want %d ran", ran, refused, tc.wantRun)
			}
			if tc.budget < 0 {
				return
			}
			// Any frame of the student to this plugin is refused, not only
			// the looping one; the teacher and the student's join are not.
			if _, err := call(t, h, from(student, "c9", "t.echo")); !errors.Is(err, ErrRefused) {
				t.Fatalf("student's echo after the budget: %v, want ErrRefused", err)
			}
			if _, err := call(t, h, from(teacher, "t1", "t.echo")); err != nil {
				t.Fatalf("teacher's echo: %v", err)
			}
			join := &core.Call{Hook: core.HookJoin, Room: "r1", Sender: student, Conn: "c9"}
			if res, err := call(t, h, join); err != nil || len(res.Replies) != 1 {
				t.Fatalf("student's join after the budget: %+v %v", res, err)
			}
			now = now.Add(time.Hour)
			if _, err := call(t, h, from(student, "c0", "t.echo")); err != nil {
				t.Fatalf("student's echo after the window: %v", err)
			}
		})
	}
}

// TestFailureBudgetTableBounded: however many senders fail, the host tracks
// at most MaxBudgetEntries of them.
func TestFailureBudgetTableBounded(t *testing.T) {
	b := newBudgets()
	for i := 0; i < MaxBudgetEntries+500; i++ {
		b.charge("t", fmt.Sprintf("u:%d", i), 3, time.Minute)
	}
	if n := b.len(); n > MaxBudgetEntries {
		t.Fatalf("%d entries, max %d", n, MaxBudgetEntries)
	}
	if !b.spent("t", "u:x", 3, time.Minute) {
		for i := 0; i < 3; i++ {
			b.charge("t", "u:x", 3, time.Minute)
		}
		if !b.spent("t", "u:x", 3, time.Minute) {
			t.Fatal("a full table stopped counting new failures")
		}
	}
}
