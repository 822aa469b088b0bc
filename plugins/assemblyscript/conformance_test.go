package assemblyscript

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/classgate/classgate/core"
	"github.com/classgate/classgate/plugins/host"
)

// room plays the router and the store for one namespace of one room
// against a real plugin host: it passes the state as of the room's seq
// and commits each result (ops, durable events) as the router does.
type room struct {
	t     *testing.T
	h     *host.Host
	id    string
	seq   uint64
	state map[string][]byte
}

// newRoom loads module path as namespace "poll" with config cfg (nil: {}).
func newRoom(t *testing.T, path string, cfg map[string]any) *room {
	t.Helper()
	return newRooms(t, path, cfg, 0, "class-1")[0]
}

// newRooms is newRoom for several rooms of one host with pool size pool
// (0: the default).
func newRooms(t *testing.T, path string, cfg map[string]any, pool int, ids ...string) []*room {
	t.Helper()
	h, err := host.New(context.Background(), host.Config{CacheDir: cacheDir, Namespaces: map[string]host.Plugin{
		"poll": {Source: path, Config: cfg, FailureBudget: -1, Timeout: callTimeout, PoolSize: pool},
	}}, nil)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	var rs []*room
	for _, id := range ids {
		rs = append(rs, &room{t: t, h: h, id: id, state: map[string][]byte{}})
	}
	return rs
}

func (r *room) do(c *core.Call) *core.Result {
	r.t.Helper()
	c.Room, c.Seq, c.State = r.id, r.seq, r.state
	res, err := r.h.Handler(r.id, "poll").Handle(context.Background(), c)
	if err != nil {
		r.t.Fatalf("%v %s %s: %v", c.Hook, c.Type, c.Data, err)
	}
	if res.Reject != "" {
		return res
	}
	next := map[string][]byte{}
	for k, v := range r.state {
		next[k] = v
	}
	for _, op := range res.Ops {
		switch op.Op {
		case core.OpSet:
			next[op.Key] = op.Value
		case core.OpDel:
			delete(next, op.Key)
		case core.OpClear:
			next = map[string][]byte{}
		}
	}
	r.state = next
	for _, e := range res.Emits {
		if e.Durable {
			r.seq++
		}
	}
	return res
}

func (r *room) join(u core.User) *core.Result {
	return r.do(&core.Call{Hook: core.HookJoin, Sender: u, Conn: core.ConnID("c-" + u.ID), FirstOfUser: true})
}

func (r *room) send(u core.User, typ, data string) *core.Result {
	return r.do(&core.Call{Hook: core.HookMessage, Type: typ, Data: json.RawMessage(data), Sender: u, Conn: core.ConnID("c-" + u.ID)})
}

var (
	tess = core.User{ID: "t1", Name: "Tess", Role: "teacher"}
	sam  = core.User{ID: "s1", Name: "Sam", Role: "student"}
	kim  = core.User{ID: "s2", Name: "Kim", Role: "student"}
	lee  = core.User{ID: "s3", Name: "Lee", Role: "student"}
)

// step is one frame (typ "") or join and what the sender must see.
type step struct {
	name      string
	user      core.User
	typ, data string // "" type: a join
	reject    string
	forbidden bool
	event     string // type of the one durable event, or of the join reply
	want      string // its data
}

// check runs st in r and fails t when the outcome differs.
func (st step) check(t *testing.T, r *room) {
	t.Helper()
	var res *core.Result
	if st.typ == "" {
		res = r.join(st.user)
	} else {
		res = r.send(st.user, st.typ, st.data)
	}
	if res.Reject != st.reject || res.Forbidden != st.forbidden {
		t.Fatalf("%s: reject %q forbidden %v, want %q %v", st.name, res.Reject, res.Forbidden, st.reject, st.forbidden)
	}
	if st.event == "" {
		if len(res.Emits)+len(res.Replies) != 0 {
			t.Fatalf("%s: unexpected output %s", st.name, outcome(res))
		}
		return
	}
	got := append(res.Emits, res.Replies...)
	if len(got) != 1 || got[0].Type != st.event || string(got[0].Data) != st.want || got[0].Durable != (st.typ != "") {
		t.Fatalf("%s: output %s, want %s %s", st.name, outcome(res), st.event, st.want)
	}
}

// scenario is the Go poll's scenario (plugins/poll TestPollScenario).
var scenario = []step{
	{"join before any poll", sam, "", "", "", false, "poll.state", `{"open":false}`},
	{"student cannot open", sam, "poll.open", `{"question":"Q?","options":["a","b"]}`, "only teacher can open or close a poll", true, "", ""},
	{"one option", tess, "poll.open", `{"question":"Q?","options":["a"]}`, "options must be an array of 2–10 strings", false, "", ""},
	{"vote before open", sam, "poll.vote", `{"choice":0}`, "no poll is open", false, "", ""},
	{"open", tess, "poll.open", `{"question":"2+2?","options":["3","4","\"5\""]}`, "", false, "poll.opened", `{"question":"2+2?","options":["3","4","\"5\""]}`},
	{"vote", sam, "poll.vote", `{"choice":1}`, "", false, "poll.tally", `{"counts":[0,1,0],"votes":1}`},
	{"vote twice", sam, "poll.vote", `{"choice":0}`, "you have already voted", false, "", ""},
	{"bad choice", kim, "poll.vote", `{"choice":3}`, "choice must be the index of an option, 0–2", false, "", ""},
	{"another vote", kim, "poll.vote", `{"choice":2}`, "", false, "poll.tally", `{"counts":[0,1,1],"votes":2}`},
	{"late joiner", lee, "", "", "", false, "poll.state", `{"open":true,"question":"2+2?","options":["3","4","\"5\""],"counts":[0,1,1],"votes":2}`},
	{"student cannot close", kim, "poll.close", `{}`, "only teacher can open or close a poll", true, "", ""},
	{"close", tess, "poll.close", `{}`, "", false, "poll.closed", `{"counts":[0,1,1],"votes":2}`},
	{"vote after close", lee, "poll.vote", `{"choice":0}`, "no poll is open", false, "", ""},
	{"close twice", tess, "poll.close", `{}`, "no poll is open", false, "", ""},
	{"join after close", kim, "", "", "", false, "poll.state", `{"open":false,"question":"2+2?","options":["3","4","\"5\""],"counts":[0,1,1],"votes":2}`},
	{"reopen clears votes", tess, "poll.open", `{"question":"Again?","options":["y","n"]}`, "", false, "poll.opened", `{"question":"Again?","options":["y","n"]}`},
	{"vote again in the new poll", sam, "poll.vote", `{"choice":0}`, "", false, "poll.tally", `{"counts":[1,0],"votes":1}`},
	{"unknown action", sam, "poll.shout", `{}`, "unknown type poll.shout", false, "", ""},
}

// TestPollScenario is the Go poll's scenario (plugins/poll TestPollScenario)
// through the real host, for both builds: the teacher opens a poll,
// students vote once each (a second vote is refused), tallies go live, a
// late joiner gets the tally, the teacher closes it and votes stop;
// students cannot open or close (forbidden).
func TestPollScenario(t *testing.T) {
	for _, m := range polls() {
		t.Run(m.name, func(t *testing.T) {
			m.need(t)
			r := newRoom(t, m.path, nil)
			for _, st := range scenario {
				st.check(t, r)
			}
			if res := r.do(&core.Call{Hook: core.HookLeave, Sender: sam, Conn: "c-s1", LastOfUser: true, RoomEmpty: true}); len(res.Emits)+len(res.Replies)+len(res.Ops) != 0 || res.Reject != "" {
				t.Fatalf("leave: %s", outcome(res))
			}
		})
	}
}

// TestPollRoomsAlternating runs the scenario in two rooms at once, step
// by step, on a pool of one instance: the host resets the instance between
// the rooms' calls (ABI.md §2, restoring its memory and globals from a
// snapshot), and each room still sees exactly its own poll.
func TestPollRoomsAlternating(t *testing.T) {
	for _, m := range polls() {
		t.Run(m.name, func(t *testing.T) {
			m.need(t)
			rs := newRooms(t, m.path, nil, 1, "class-1", "class-2")
			for _, st := range scenario {
				for _, r := range rs {
					st.check(t, r)
				}
			}
		})
	}
}

// TestPollForty: 40 students vote once each (each second vote refused); a
// late joiner and the close see all 40.
func TestPollForty(t *testing.T) {
	for _, m := range polls() {
		t.Run(m.name, func(t *testing.T) {
			m.need(t)
			r := newRoom(t, m.path, nil)
			step{"open", tess, "poll.open", `{"question":"Q?","options":["a","b","c"]}`, "", false, "poll.opened", `{"question":"Q?","options":["a","b","c"]}`}.check(t, r)
			for i := range 40 {
				u := core.User{ID: fmt.Sprintf("s%d", i), Role: "student"}
				if res := r.send(u, "poll.vote", fmt.Sprintf(`{"choice":%d}`, i%3)); res.Reject != "" || len(res.Emits) != 1 {
					t.Fatalf("vote %d: %s", i, outcome(res))
				}
				if res := r.send(u, "poll.vote", `{"choice":0}`); res.Reject != "you have already voted" {
					t.Fatalf("second vote %d: %s", i, outcome(res))
				}
			}
			want := `{"counts":[14,13,13],"votes":40}`
			step{"late joiner", core.User{ID: "late", Role: "student"}, "", "", "", false, "poll.state", `{"open":true,"question":"Q?","options":["a","b","c"],` + want[1:]}.check(t, r)
			step{"close", tess, "poll.close", `{}`, "", false, "poll.closed", want}.check(t, r)
			if r.seq != 42 {
				t.Fatalf("seq %d after open, 40 votes and close, want 42", r.seq)
			}
		})
	}
}

// TestPollConfig: both builds read the same configuration keys, with the
// same defaults, and refuse the same bad values at load.
func TestPollConfig(t *testing.T) {
	ta := core.User{ID: "a1", Name: "Ari", Role: "ta"}
	cfg := map[string]any{"open_roles": []any{"ta", "head"}, "max_options": 3, "max_question": 6, "max_option": 2}
	steps := []step{
		{"teacher not listed", tess, "poll.open", `{"question":"Q?","options":["a","b"]}`, "only ta, head can open or close a poll", true, "", ""},
		{"four options", ta, "poll.open", `{"question":"Q?","options":["a","b","c","d"]}`, "options must be an array of 2–3 strings", false, "", ""},
		{"long question", ta, "poll.open", `{"question":"Really?","options":["a","b"]}`, "question must be a non-empty string of at most 6 bytes", false, "", ""},
		{"long option", ta, "poll.open", `{"question":"Q?","options":["abc","b"]}`, "each option must be a non-empty string of at most 2 bytes", false, "", ""},
		{"open", ta, "poll.open", `{"question":"Q?","options":["ab","b","c"]}`, "", false, "poll.opened", `{"question":"Q?","options":["ab","b","c"]}`},
		{"close", ta, "poll.close", `{}`, "", false, "poll.closed", `{"counts":[0,0,0],"votes":0}`},
	}
	for _, m := range polls() {
		t.Run(m.name, func(t *testing.T) {
			m.need(t)
			r := newRoom(t, m.path, cfg)
			for _, st := range steps {
				st.check(t, r)
			}
			for _, bad := range []map[string]any{
				{"max_options": "ten"},
				{"max_options": 2.5},
				{"open_roles": "teacher"},
				{"open_roles": []any{1}},
				{"max_question": true},
			} {
				h, err := host.New(context.Background(), host.Config{CacheDir: cacheDir, Namespaces: map[string]host.Plugin{"poll": {Source: m.path, Config: bad}}}, nil)
				if err == nil {
					h.Close(context.Background())
					t.Fatalf("config %v loaded, want a load error", bad)
				}
			}
		})
	}
}

// outcome renders everything a result carries, for comparison.
func outcome(res *core.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "reject=%q forbidden=%v", res.Reject, res.Forbidden)
	for _, e := range res.Emits {
		fmt.Fprintf(&b, " emit{%s durable=%v to=%+v %s}", e.Type, e.Durable, e.To, e.Data)
	}
	for _, e := range res.Replies {
		fmt.Fprintf(&b, " reply{%s to=%+v %s}", e.Type, e.To, e.Data)
	}
	for _, op := range res.Ops {
		fmt.Fprintf(&b, " op{%v %q %q}", op.Op, op.Key, op.Value)
	}
	return b.String()
}

// pair runs every call in the Go poll and in the AssemblyScript poll,
// each in its own room, and fails when their results differ in anything:
// reason, events, data bytes, targets, state operations.
type pair struct {
	t      *testing.T
	gop    *room
	as     *room
	nsteps int
}

func newPair(t *testing.T) *pair {
	t.Helper()
	ms := polls()
	ms[1].need(t)
	return &pair{t: t, gop: newRoom(t, ms[0].path, nil), as: newRoom(t, ms[1].path, nil)}
}

func (p *pair) do(c core.Call) string {
	p.t.Helper()
	p.nsteps++
	c2 := c
	want, got := outcome(p.gop.do(&c)), outcome(p.as.do(&c2))
	if want != got {
		p.t.Fatalf("step %d %v %s %s by %s:\n go: %s\n as: %s", p.nsteps, c.Hook, c.Type, c.Data, c.Sender.Role, want, got)
	}
	return want
}

func (p *pair) send(u core.User, typ, data string) string {
	return p.do(core.Call{Hook: core.HookMessage, Type: typ, Data: json.RawMessage(data), Sender: u, Conn: core.ConnID("c-" + u.ID)})
}

func (p *pair) join(u core.User) string {
	return p.do(core.Call{Hook: core.HookJoin, Sender: u, Conn: core.ConnID("c-" + u.ID), FirstOfUser: true})
}

// TestSameOutputAsGo holds the AssemblyScript poll to the Go poll's exact
// output on inputs where a port goes wrong: escapes, non-ASCII and
// invalid text, Unicode white space, byte (not character) lengths,
// duplicate keys, numbers that are not plain indexes, data of the wrong
// kind or none.
func TestSameOutputAsGo(t *testing.T) {
	p := newPair(t)
	opens := []string{
		`{"question":"  ","options":["a","b"]}`,
		`{"question":"\u3000\t\u2028\u0085","options":["a","b"]}`,
		`{"question":"\u00a0x","options":["a","b"]}`,
		`{"question":"é \ud83d\ude00 \u2028\u2029 \ud800 \udc00x \t\u0001\u001f \"q\" \\ \/ <&>","options":["a\u2029","\ud800x"]}`,
		`{"question":null,"options":["a","b"]}`,
		`{"question":5,"options":["a","b"]}`,
		`{"question":"Q","question":"R","options":["a","b"],"options":["c","d"]}`,
		`{"question":"Q","options":"ab"}`,
		`{"question":"Q","options":["a",2]}`,
		`{"question":"Q","options":["a",""]}`,
		`{"question":"Q","options":["a",null]}`,
		`{"question":"Q","options":["a","b","c","d","e","f","g","h","i","j","k"]}`,
		`{"question":"Q","options":["a","b","c","d","e","f","g","h","i","j"]}`,
		`{"question":"` + strings.Repeat("q", 300) + `","options":["a","b"]}`,
		`{"question":"` + strings.Repeat("q", 301) + `","options":["a","b"]}`,
		`{"question":"` + strings.Repeat("é", 150) + `","options":["a","b"]}`,
		`{"question":"` + strings.Repeat("é", 151) + `","options":["a","b"]}`,
		`{"question":"` + strings.Repeat(`\u00e9`, 151) + `","options":["a","b"]}`,
		`{"question":"Q","options":["` + strings.Repeat("o", 100) + `","` + strings.Repeat("€", 34) + `"]}`,
		`{"question":"Q","options":["` + strings.Repeat("o", 101) + `","b"]}`,
		`{ "question" : "spaced" , "options" : [ "a" , "b" ] , "extra" : {"x":[1,2,{"y":null}]} }`,
		`{"\u0071uestion":"escaped key","options":["a","b"]}`,
		`[]`, `"x"`, `null`, `7`, `{}`, ``,
	}
	for _, data := range opens {
		p.send(sam, "poll.open", data)
		p.send(tess, "poll.open", data)
		p.join(lee)
	}
	p.send(tess, "poll.open", `{"question":"Pick","options":["a","b","c"]}`)
	votes := []string{
		`{"choice":"1"}`, `{"choice":1.0}`, `{"choice":1e0}`, `{"choice":-1}`, `{"choice":3}`,
		`{"choice":99999999999999999999}`, `{"choice":null}`, `{"choice":true}`, `{}`, `[]`, `[1]`, `""`, `null`, ``,
		`{"x":{"choice":2},"choice":1}`, `{"choice":0,"choice":2}`, `{"choice":-0}`, `{ "choice" : 2 }`,
	}
	for i, data := range votes {
		p.send(core.User{ID: fmt.Sprintf("v%d", i), Role: "student"}, "poll.vote", data)
	}
	p.join(lee)
	p.send(tess, "poll.close", `{"ignored":true}`)
	p.send(tess, "poll.close", ``)
	p.join(lee)
	p.send(sam, "poll.nope", `{}`)
	p.send(sam, "poll.", `{}`)
}

// TestSameOutputAsGoGenerated drives both builds through the same 600
// generated frames and joins (fixed seed: every run is the same) — opens,
// votes, closes and junk from teachers and students — and compares every
// result.
func TestSameOutputAsGoGenerated(t *testing.T) {
	p := newPair(t)
	rng := rand.New(rand.NewPCG(7, 11))
	users := []core.User{tess, {ID: "t2", Role: "teacher"}, sam, kim, lee, {ID: "s4", Role: "student"}, {ID: "s5", Role: "student"}, {ID: "g", Role: "guest"}}
	pieces := []string{"a", "é", "€", "😀", " ", `\"`, `\\`, `\n`, `\u2028`, `\u0000`, `\ud83d\ude00`, `\udfff`, "<", "0"}
	str := func(max int) string {
		var b strings.Builder
		for range rng.IntN(max + 1) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	for range 600 {
		u := users[rng.IntN(len(users))]
		switch rng.IntN(6) {
		case 0:
			opts := make([]string, rng.IntN(5)+rng.IntN(2)*8)
			for i := range opts {
				opts[i] = `"` + str(3) + `"`
			}
			p.send(u, "poll.open", `{"question":"`+str(4)+`","options":[`+strings.Join(opts, ",")+`]}`)
		case 1, 2:
			p.send(u, "poll.vote", fmt.Sprintf(`{"choice":%d}`, rng.IntN(6)-1))
		case 3:
			p.send(u, "poll.close", `{}`)
		case 4:
			p.join(u)
		default:
			p.send(u, []string{"poll.open", "poll.vote", "poll.close", "poll.x"}[rng.IntN(4)], []string{``, `{}`, `[]`, `{"choice":"0"}`, `{"question":"Q","options":["a","b"],"choice":0}`}[rng.IntN(5)])
		}
	}
	if p.gop.seq == 0 {
		t.Fatal("the generated run committed no durable event: it tests nothing")
	}
}
