package assemblyscript

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/classgate/classgate/internal/e2e"
	"github.com/classgate/classgate/internal/proc"
	"github.com/classgate/classgate/plugins/embedded"
	"github.com/classgate/classgate/plugins/host"
)

// TestCheckCommand: `classgate-plugin check` (the real binary) passes on
// both builds with the poll's frames, sent by a student and a teacher.
func TestCheckCommand(t *testing.T) {
	bin := proc.Build(t, "classgate-plugin")
	for _, m := range polls() {
		t.Run(m.name, func(t *testing.T) {
			m.need(t)
			// check names the namespace after the file: poll.
			file := filepath.Join(t.TempDir(), "poll.wasm")
			b, err := os.ReadFile(m.path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "check",
				"-frame", `poll.open={"question":"Q?","options":["a","b"]}`,
				"-frame", `poll.vote={"choice":1}`,
				"-frame", `poll.close={}`,
				file).CombinedOutput()
			if err != nil {
				t.Fatalf("check: %v\n%s", err, out)
			}
			// The student's open and close are refused, the teacher's and
			// both votes are answered: 2 joins, 6 frames, 2 leaves.
			for _, want := range []string{": ok (10 calls)", "reason: only teacher can open or close a poll"} {
				if !strings.Contains(string(out), want) {
					t.Fatalf("check output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

const testSecret = "assemblyscript-test-secret-0123456789"

// TestPollThroughGateway runs the poll scenario through the real gateway
// binary, once per build (namespace poll from the module's file, and from
// the AssemblyScript module the binary embeds), with
// real WebSocket clients on loopback: the teacher opens, students vote once
// (a second vote is rejected), tallies reach everyone live, a late joiner
// gets the tally, a student cannot open or close (forbidden), the teacher
// closes.
func TestPollThroughGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a gateway")
	}
	bin := proc.Build(t, "gateway")
	// The AssemblyScript poll as make plugins embeds it in the binary.
	embeddedAS := module{"assemblyscript-embedded", host.EmbeddedPrefix + "poll-as"}
	for _, m := range append(polls(), embeddedAS) {
		t.Run(m.name, func(t *testing.T) {
			m.need(t)
			if m == embeddedAS {
				if _, err := embedded.Get("poll-as"); err != nil {
					t.Skipf("%v (make plugins builds it when node/npm are installed)", err)
				}
			}
			addr := proc.FreeAddr(t)
			p := proc.Start(t, bin, []string{
				"CLASSGATE_SERVER__LISTEN=" + addr, "CLASSGATE_AUTH__HS256_SECRET=" + testSecret, "CLASSGATE_LOG__LEVEL=warn",
				"CLASSGATE_PLUGINS__CACHE_DIR=" + cacheDir,
				"CLASSGATE_PLUGINS__NAMESPACES__POLL__SOURCE=" + m.path,
				// Generous: CI runs the race detector on 2 shared cores.
				"CLASSGATE_PLUGINS__NAMESPACES__POLL__TIMEOUT=3s",
				"CLASSGATE_PLUGINS__NAMESPACES__PRESENCE__TIMEOUT=3s",
				"CLASSGATE_PLUGINS__NAMESPACES__CHAT__TIMEOUT=3s",
				"CLASSGATE_PLUGINS__NAMESPACES__WHITEBOARD__TIMEOUT=3s",
			})
			if err := proc.WaitHTTP("http://"+addr+"/readyz", 60*time.Second); err != nil {
				t.Fatalf("%v\n%s", err, p.Output())
			}
			pollThroughGateway(t, "ws://"+addr+"/ws")
		})
	}
}

func pollThroughGateway(t *testing.T, url string) {
	const r = "class-7"
	// dial connects user, joins the room and returns the client and its
	// join state.
	dial := func(user, role string) (*member, string) {
		t.Helper()
		c := &member{t: t, c: e2e.Dial(t, url, e2e.Token(t, []byte(testSecret), user, role, []string{"class-*"}, time.Hour))}
		c.c.Send(map[string]any{"type": "join", "room": r, "id": "j"})
		if joined := c.reply("j"); joined.Type != "joined" || !strings.Contains(strings.Join(joined.Features, ","), "poll") {
			t.Fatalf("joined %s without the poll feature: %s", r, joined.Raw)
		}
		return c, string(c.expect("poll.state").Data)
	}
	// newcomer is dial before any poll.
	newcomer := func(user, role string) *member {
		t.Helper()
		c, st := dial(user, role)
		if st != `{"open":false}` {
			t.Fatalf("%s's join state before any poll: %s", user, st)
		}
		return c
	}
	n := 0
	request := func(c *member, typ, data string) e2e.Msg {
		t.Helper()
		n++
		id := fmt.Sprintf("r%d", n)
		c.c.Send(map[string]any{"type": typ, "room": r, "id": id, "data": rawJSON(data)})
		return c.reply(id)
	}
	teacher := newcomer("tess", "teacher")
	students := []*member{newcomer("sam", "student"), newcomer("kim", "student"), newcomer("lee", "student")}
	everyone := append([]*member{teacher}, students...)
	// expectAll waits for the durable event typ with data want at seq on
	// every client.
	expectAll := func(typ, want string, seq uint64) {
		t.Helper()
		for _, c := range everyone {
			m := c.expect(typ)
			if string(m.Data) != want || m.Seq != seq {
				t.Fatalf("%s: %s, want data %s seq %d", typ, m.Raw, want, seq)
			}
		}
	}

	if m := request(students[0], "poll.open", `{"question":"Q?","options":["a","b"]}`); m.Type != "error" || m.Code != "forbidden" || m.Message != "only teacher can open or close a poll" {
		t.Fatalf("a student's poll.open: %s, want error forbidden", m.Raw)
	}
	open := request(teacher, "poll.open", `{"question":"2+2?","options":["3","4","\"5\""]}`)
	if open.Type != "ack" || open.Seq == 0 {
		t.Fatalf("poll.open: %s", open.Raw)
	}
	expectAll("poll.opened", `{"question":"2+2?","options":["3","4","\"5\""]}`, open.Seq)
	var lastVote uint64
	for i, tc := range []struct{ choice, want string }{
		{"1", `{"counts":[0,1,0],"votes":1}`},
		{"2", `{"counts":[0,1,1],"votes":2}`},
		{"1", `{"counts":[0,2,1],"votes":3}`},
	} {
		ack := request(students[i], "poll.vote", `{"choice":`+tc.choice+`}`)
		if ack.Type != "ack" || ack.Seq != open.Seq+uint64(i)+1 {
			t.Fatalf("vote %d: %s", i, ack.Raw)
		}
		expectAll("poll.tally", tc.want, ack.Seq)
		lastVote = ack.Seq
	}
	if m := request(students[0], "poll.vote", `{"choice":0}`); m.Type != "error" || m.Code != "rejected" || m.Message != "you have already voted" {
		t.Fatalf("second vote: %s, want error rejected", m.Raw)
	}
	late, st := dial("late", "student")
	if st != `{"open":true,"question":"2+2?","options":["3","4","\"5\""],"counts":[0,2,1],"votes":3}` {
		t.Fatalf("late joiner's state: %s", st)
	}
	if m := request(late, "poll.close", `{}`); m.Type != "error" || m.Code != "forbidden" {
		t.Fatalf("a student's poll.close: %s, want error forbidden", m.Raw)
	}
	closed := request(teacher, "poll.close", `{}`)
	if closed.Type != "ack" || closed.Seq <= lastVote { // the late joiner's presence came between
		t.Fatalf("poll.close: %s", closed.Raw)
	}
	expectAll("poll.closed", `{"counts":[0,2,1],"votes":3}`, closed.Seq)
	if m := request(late, "poll.vote", `{"choice":0}`); m.Type != "error" || m.Code != "rejected" || m.Message != "no poll is open" {
		t.Fatalf("vote after close: %s", m.Raw)
	}
}

// member is a client whose frames are read in order: those read while
// waiting for something else are kept for later (the sender of a frame may
// get its event before or after its ack).
type member struct {
	t    *testing.T
	c    *e2e.Client
	seen []e2e.Msg
}

// next returns the first kept or arriving frame that match accepts.
func (m *member) next(what string, match func(e2e.Msg) bool) e2e.Msg {
	m.t.Helper()
	for i, f := range m.seen {
		if match(f) {
			m.seen = append(m.seen[:i], m.seen[i+1:]...)
			return f
		}
	}
	for {
		f := m.c.Next(10 * time.Second)
		if match(f) {
			return f
		}
		m.seen = append(m.seen, f)
		if len(m.seen) > 1000 {
			m.t.Fatalf("no %s among 1000 frames", what)
		}
	}
}

// reply returns the answer to the client's frame id.
func (m *member) reply(id string) e2e.Msg {
	m.t.Helper()
	return m.next("reply to "+id, func(f e2e.Msg) bool { return f.ID == id })
}

// expect returns the next event of type typ.
func (m *member) expect(typ string) e2e.Msg {
	m.t.Helper()
	return m.next(typ, func(f e2e.Msg) bool { return f.Type == typ })
}

// rawJSON is data sent as it is written.
type rawJSON string

// MarshalJSON returns the text itself.
func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }
