package main

import (
	"fmt"
	"testing"

	"github.com/classgate/classgate/plugins/sdk"
)

var (
	tess = sdk.User{ID: "t1", Name: "Tess", Role: "teacher"}
	sam  = sdk.User{ID: "s1", Name: "Sam", Role: "student"}
	kim  = sdk.User{ID: "s2", Name: "Kim", Role: "student"}
)

// TestPollScenario: the teacher opens a poll, students vote once each,
// tallies go live, a late joiner gets the tally, the teacher closes it and
// votes stop; students cannot open or close.
func TestPollScenario(t *testing.T) {
	h, err := sdk.NewHarness("poll", New, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		name      string
		user      sdk.User
		typ, data string // "" type: a join
		reject    string
		forbidden bool
		event     string // type of the one durable event, or of the join reply
		want      string // its data
	}{
		{"join before any poll", sam, "", "", "", false, "poll.state", `{"open":false}`},
		{"student cannot open", sam, "poll.open", `{"question":"Q?","options":["a","b"]}`, "only teacher can open or close a poll", true, "", ""},
		{"one option", tess, "poll.open", `{"question":"Q?","options":["a"]}`, "options must be an array of 2–10 strings", false, "", ""},
		{"vote before open", sam, "poll.vote", `{"choice":0}`, "no poll is open", false, "", ""},
		{"open", tess, "poll.open", `{"question":"2+2?","options":["3","4","\"5\""]}`, "", false, "poll.opened", `{"question":"2+2?","options":["3","4","\"5\""]}`},
		{"vote", sam, "poll.vote", `{"choice":1}`, "", false, "poll.tally", `{"counts":[0,1,0],"votes":1}`},
		{"vote twice", sam, "poll.vote", `{"choice":0}`, "you have already voted", false, "", ""},
		{"bad choice", kim, "poll.vote", `{"choice":3}`, "choice must be the index of an option, 0–2", false, "", ""},
		{"another vote", kim, "poll.vote", `{"choice":2}`, "", false, "poll.tally", `{"counts":[0,1,1],"votes":2}`},
		{"late joiner", sdk.User{ID: "s3", Role: "student"}, "", "", "", false, "poll.state", `{"open":true,"question":"2+2?","options":["3","4","\"5\""],"counts":[0,1,1],"votes":2}`},
		{"student cannot close", kim, "poll.close", `{}`, "only teacher can open or close a poll", true, "", ""},
		{"close", tess, "poll.close", `{}`, "", false, "poll.closed", `{"counts":[0,1,1],"votes":2}`},
		{"vote after close", sdk.User{ID: "s3", Role: "student"}, "poll.vote", `{"choice":0}`, "no poll is open", false, "", ""},
		{"join after close", kim, "", "", "", false, "poll.state", `{"open":false,"question":"2+2?","options":["3","4","\"5\""],"counts":[0,1,1],"votes":2}`},
		{"reopen clears votes", tess, "poll.open", `{"question":"Again?","options":["y","n"]}`, "", false, "poll.opened", `{"question":"Again?","options":["y","n"]}`},
		{"vote again in the new poll", sam, "poll.vote", `{"choice":0}`, "", false, "poll.tally", `{"counts":[1,0],"votes":1}`},
	} {
		var res *sdk.Result
		if st.typ == "" {
			res, err = h.Join(st.user, "c-"+st.user.ID, true)
		} else {
			res, err = h.Message(st.user, "c-"+st.user.ID, st.typ, st.data)
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if res.Reject != st.reject || res.Forbidden != st.forbidden {
			t.Fatalf("%s: reject %q forbidden %v, want %q %v", st.name, res.Reject, res.Forbidden, st.reject, st.forbidden)
		}
		if st.event == "" {
			continue
		}
		got := append(res.Emits, res.Replies...)
		if len(got) != 1 || got[0].Type != st.event || got[0].Data != st.want || got[0].Durable != (st.typ != "") {
			t.Fatalf("%s: output %+v, want %s %s", st.name, got, st.event, st.want)
		}
	}
}

// TestPollForty: 40 students vote once each; the tally counts 40.
func TestPollForty(t *testing.T) {
	h, err := sdk.NewHarness("poll", New, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Message(tess, "c0", "poll.open", `{"question":"Q","options":["a","b"]}`); err != nil {
		t.Fatal(err)
	}
	var last string
	for i := 0; i < 40; i++ {
		u := sdk.User{ID: fmt.Sprintf("s%d", i), Role: "student"}
		for try := 0; try < 2; try++ {
			res, err := h.Message(u, "c", "poll.vote", fmt.Sprintf(`{"choice":%d}`, i%2))
			if err != nil || (try == 0) != (res.Reject == "") {
				t.Fatalf("student %d try %d: %+v %v", i, try, res, err)
			}
			if try == 0 {
				last = res.Emits[0].Data
			}
		}
	}
	if last != `{"counts":[20,20],"votes":40}` {
		t.Fatalf("final tally %s", last)
	}
}
