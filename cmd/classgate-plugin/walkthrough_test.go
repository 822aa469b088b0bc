package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/classgate/classgate/internal/e2e"
	"github.com/classgate/classgate/internal/proc"
	"github.com/classgate/classgate/plugins/host"
)

// walkSecret signs the tokens of the walkthrough's gateway.
const walkSecret = "walkthrough-secret-0123456789abcdef"

// TestNewOutOfTree follows plugins/README.md's "A product team's plugin,
// out of tree, step by step" with the real binaries, from an empty
// directory to a plugin enabled for 10 % and then 20 % of a running
// gateway's rooms:
//
//  1. classgate-plugin new -sdk CHECKOUT quiz (the built binary);
//  2. go mod tidy && go test ./... in the new module;
//  3. ./build.sh, whose sha256 the config pins;
//  4. classgate-plugin check -frame 'quiz.say={"text":"hi"}' quiz.wasm;
//  5. the gateway binary with the README's config (rollout: 10 for
//     class-*), 100 rooms joined by 100 WebSocket clients: exactly the
//     rooms whose host.RolloutBucket is below 10 list the feature in
//     joined.features, answer quiz.say with an ack and count it; the
//     others, and a room outside the pattern whose bucket is below 10,
//     answer unknown_type (docs/PROTOCOL.md, "Errors");
//  6. rollout: 20 by editing the file and SIGHUP: the reload log line
//     names the live rooms, the rooms that had the feature keep it and
//     their state, and exactly the rooms below bucket 20 have it.
//
// Module downloads are off: everything comes from the checkout and the
// local module cache.
func TestNewOutOfTree(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// Built before leaving the checkout (proc finds it from the cwd).
	pluginBin := proc.Build(t, "classgate-plugin")
	var gatewayBin string
	if !testing.Short() {
		gatewayBin = proc.Build(t, "gateway")
	}
	work := t.TempDir()
	t.Chdir(work)
	const name = "quiz"
	var out strings.Builder
	if err := run([]string{"new", name}, &out); err == nil || !strings.Contains(err.Error(), "pass -sdk") {
		t.Fatalf("new outside a checkout without -sdk: %v", err)
	}
	sh := func(dir, bin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	// Step 1.
	sh(work, pluginBin, "new", "-sdk", root, name)
	if err := run([]string{"new", "-sdk", root, name}, &out); err == nil {
		t.Fatal("scaffolding over an existing module succeeded")
	}
	dir := filepath.Join(work, name)
	for _, f := range []string{"go.mod", "main.go", name + "_test.go", "build.sh"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("step 1 did not create %s: %v", f, err)
		}
	}
	// Step 2.
	sh(dir, "go", "mod", "tidy")
	sh(dir, "go", "test", "./...")
	// Step 3.
	built := sh(dir, "./build.sh")
	m := regexp.MustCompile(`sha256 ([0-9a-f]{64})`).FindStringSubmatch(built)
	if m == nil {
		t.Fatalf("build.sh printed no sha256:\n%s", built)
	}
	sum := m[1]
	wasm := filepath.Join(dir, name+".wasm")
	// Step 4.
	checked := sh(dir, pluginBin, "check", "-frame", name+`.say={"text":"hi"}`, name+".wasm")
	if !strings.Contains(checked, name+".say") || !strings.Contains(checked, ": ok (6 calls)") {
		t.Fatalf("check output:\n%s", checked)
	}
	if testing.Short() {
		t.Skip("steps 5–6 run the gateway")
	}

	// Step 5: the README's config, rollout 10 for the class-* rooms.
	cfgPath := filepath.Join(work, "gateway.yaml")
	config := func(rollout int) {
		t.Helper()
		body := fmt.Sprintf("plugins:\n  namespaces:\n    %s:\n      source: %s\n      sha256: %s\n      enable: [\"class-*\"]\n      rollout: %d\n", name, wasm, sum, rollout)
		if err := os.WriteFile(cfgPath+".tmp", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(cfgPath+".tmp", cfgPath); err != nil {
			t.Fatal(err)
		}
	}
	config(10)
	addr := proc.FreeAddr(t)
	gw := proc.Start(t, gatewayBin, []string{
		"CLASSGATE_SERVER__LISTEN=" + addr, "CLASSGATE_AUTH__HS256_SECRET=" + walkSecret,
		"CLASSGATE_LOG__LEVEL=info", "CLASSGATE_LOG__FORMAT=text",
		"CLASSGATE_PLUGINS__CACHE_DIR=" + filepath.Join(work, "wazero-cache"),
		"CLASSGATE_LIMITS__RATE_PER_SECOND=0",
		// Generous deadlines: tests share 2 cores with the race detector.
		"CLASSGATE_PLUGINS__NAMESPACES__" + strings.ToUpper(name) + "__TIMEOUT=3s",
		"CLASSGATE_PLUGINS__NAMESPACES__PRESENCE__TIMEOUT=3s",
	}, "-config", cfgPath)
	if err := proc.WaitHTTP("http://"+addr+"/readyz", 60*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, gw.Output())
	}
	url := "ws://" + addr + "/ws"
	dial := func(user string) *e2e.Client {
		return e2e.Dial(t, url, e2e.Token(t, []byte(walkSecret), user, "student", []string{"*"}, time.Hour))
	}
	// say sends quiz.say and returns the reply and the quiz.said event
	// seen before it, if any (the broadcast may overtake the ack).
	say := func(c *e2e.Client, room, id string) (reply, said e2e.Msg) {
		t.Helper()
		c.Send(map[string]any{"type": name + ".say", "room": room, "id": id, "data": map[string]string{"text": "hi " + room}})
		reply = c.Expect("reply to "+id, func(m e2e.Msg) bool {
			if m.Type == name+".said" && m.Room == room {
				said = m
			}
			return m.ID == id
		})
		return reply, said
	}
	// wantOn is the documented selection: enable pattern, then the
	// namespace's rollout bucket below the percentage.
	wantOn := func(room string, rollout int) bool {
		return strings.HasPrefix(room, "class-") && host.RolloutBucket(name, room) < rollout
	}
	// joinCount joins room with c and returns the feature flag of the
	// joined frame and, when on, the join hook's quiz.count reply.
	joinCount := func(c *e2e.Client, room string) (bool, string) {
		t.Helper()
		j := c.Join(room, -1)
		on := slices.Contains(j.Features, name)
		if !on {
			return false, ""
		}
		r := c.Expect(name+".count in "+room, func(m e2e.Msg) bool { return m.Type == name+".count" && m.Room == room })
		return true, string(r.Data)
	}

	rooms := make([]string, 100)
	for i := range rooms {
		rooms[i] = fmt.Sprint("class-", i)
	}
	// A room the pattern excludes whose bucket would enable it.
	outside := ""
	for i := 0; outside == ""; i++ {
		if r := fmt.Sprint("exam-", i); host.RolloutBucket(name, r) < 10 {
			outside = r
		}
	}
	clients := map[string]*e2e.Client{}
	var on10 []string
	for i, room := range append(slices.Clone(rooms), outside) {
		c := dial(fmt.Sprint("u", i))
		clients[room] = c
		on, count := joinCount(c, room)
		if on != wantOn(room, 10) {
			t.Fatalf("rollout 10: room %s (bucket %d) joined with features %v", room, host.RolloutBucket(name, room), on)
		}
		if on {
			if count != `{"said":0}` {
				t.Fatalf("room %s: join reply %s", room, count)
			}
			on10 = append(on10, room)
		}
	}
	// The hash is fixed, so this share is too; both sides must be tested.
	if len(on10) == 0 || len(on10) == len(rooms) {
		t.Fatalf("rollout 10 enabled %d of %d rooms", len(on10), len(rooms))
	}
	t.Logf("rollout 10: %d of 100 rooms: %v", len(on10), on10)
	for room, c := range clients {
		r, ev := say(c, room, "s1")
		if wantOn(room, 10) {
			if r.Type != "ack" || r.Seq == 0 {
				t.Fatalf("%s.say in enabled room %s: %s", name, room, r.Raw)
			}
			if ev.Type == "" {
				ev = c.Expect(name+".said in "+room, func(m e2e.Msg) bool { return m.Type == name+".said" && m.Room == room })
			}
			if ev.Seq != r.Seq || !strings.Contains(string(ev.Data), "hi "+room) {
				t.Fatalf("room %s: event %s", room, ev.Raw)
			}
		} else if r.Type != "error" || r.Code != "unknown_type" {
			t.Fatalf("%s.say in disabled room %s: %s, want unknown_type", name, room, r.Raw)
		}
	}

	// Step 6: ramp to 20 % by editing the file and SIGHUP.
	config(20)
	if err := gw.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`msg="plugins reloaded" component=plugins plugin=` + name + ` role=stable sha256=` + sum + ` .* rollout=20 rooms=(\d+) room_ids="?\[([^\]]*)\]`)
	deadline := time.Now().Add(20 * time.Second)
	var logged []string
	for logged == nil {
		if l := line.FindStringSubmatch(gw.Output()); l != nil {
			logged = l
		} else if time.Now().After(deadline) {
			t.Fatalf("no reload log line for %s at rollout 20:\n%s", name, gw.Output())
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The line counts the live rooms running the plugin: those of the 10 %.
	if logged[1] != fmt.Sprint(len(on10)) {
		t.Fatalf("reload log says rooms=%s, want %d: %s", logged[1], len(on10), logged[0])
	}
	for _, id := range strings.Fields(logged[2]) {
		if !slices.Contains(on10, id) {
			t.Fatalf("reload log names room %s, not one of the 10 %%: %s", id, logged[0])
		}
	}
	var on20 []string
	for room, c := range clients {
		r, _ := say(c, room, "s2")
		switch {
		case wantOn(room, 20):
			if r.Type != "ack" {
				t.Fatalf("%s.say in room %s after the ramp: %s", name, room, r.Raw)
			}
			on20 = append(on20, room)
		case wantOn(room, 10):
			t.Fatalf("room %s had the feature at 10 %% but not at 20 %%", room)
		default:
			if r.Type != "error" || r.Code != "unknown_type" {
				t.Fatalf("%s.say in disabled room %s after the ramp: %s", name, room, r.Raw)
			}
		}
	}
	if len(on20) <= len(on10) {
		t.Fatalf("rollout 20 enabled %d rooms, 10 enabled %d", len(on20), len(on10))
	}
	// Rooms that had the feature kept their state (two says); the new
	// rooms start from theirs (one say, after the ramp).
	for _, room := range on20 {
		late := dial("late-" + room)
		want := `{"said":1}`
		if slices.Contains(on10, room) {
			want = `{"said":2}`
		}
		on, count := joinCount(late, room)
		if !on || count != want {
			t.Fatalf("late join of %s after the ramp: features on=%v, count %s, want %s", room, on, count, want)
		}
	}
	t.Logf("rollout 20: %d of 100 rooms", len(on20))
}
