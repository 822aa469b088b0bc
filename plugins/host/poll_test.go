package host

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/classgate/classgate/core"
)

// TestPollThroughHost runs the example poll plugin, enabled by config for
// some rooms, through the host: a teacher opens, 40 students vote once
// each (a second vote is refused), a late joiner gets the tally, the
// teacher closes.
func TestPollThroughHost(t *testing.T) {
	h := newHost(t, one("poll", Plugin{Source: wasmPath("poll"), Enable: []string{"class-*"}}))
	if h.Handler("staffroom", "poll") != nil {
		t.Fatal("poll enabled outside its rooms")
	}
	r := &room{t: t, h: h, id: "class-9", state: map[string]map[string][]byte{}}
	tess := core.User{ID: "t1", Name: "Tess", Role: "teacher"}
	if res := r.send(tess, "c0", "poll.open", `{"question":"Q?","options":["a","b","c"]}`); res.Reject != "" || len(res.Emits) != 1 {
		t.Fatalf("open: %+v", res)
	}
	for i := 0; i < 40; i++ {
		u := core.User{ID: fmt.Sprintf("s%d", i), Role: "student"}
		conn := core.ConnID(fmt.Sprintf("c%d", i+1))
		if res := r.send(u, conn, "poll.vote", fmt.Sprintf(`{"choice":%d}`, i%3)); res.Reject != "" {
			t.Fatalf("vote %d: %s", i, res.Reject)
		}
		if res := r.send(u, conn, "poll.vote", `{"choice":0}`); res.Reject != "you have already voted" {
			t.Fatalf("second vote %d: %+v", i, res)
		}
	}
	late := r.join(core.User{ID: "late", Role: "student"}, "c99", true)
	var st struct {
		Open   bool  `json:"open"`
		Counts []int `json:"counts"`
		Votes  int   `json:"votes"`
	}
	if err := json.Unmarshal(late["poll.state"], &st); err != nil || !st.Open || st.Votes != 40 || fmt.Sprint(st.Counts) != "[14 13 13]" {
		t.Fatalf("late joiner's state %s (%v)", late["poll.state"], err)
	}
	if res := r.send(tess, "c0", "poll.close", `{}`); res.Reject != "" || string(res.Emits[0].Data) != `{"counts":[14,13,13],"votes":40}` {
		t.Fatalf("close: %+v", res)
	}
}
