package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/classgate/classgate/internal/e2e"
	"github.com/classgate/classgate/internal/proc"
	"github.com/classgate/classgate/plugins/host"
)

// chatWasm copies the built chat plugin to dir/name.
func chatWasm(t *testing.T, dir, name string) string {
	t.Helper()
	root, err := proc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "plugins/embedded/wasm/chat.wasm"))
	if err != nil {
		t.Skipf("chat plugin not built (run make plugins): %v", err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // atomic, as deploy tools do
		t.Fatal(err)
	}
}

const reloadBase = `plugins:
  namespaces:
    presence: {source: "embedded:presence"}
    chat:
      source: %q
      config: {max_length: 500}
%s`

// TestHotReloadUnderTraffic: while 10 rooms chat, the configuration gains
// a canary version of the chat plugin (SIGHUP); then a broken config and a
// broken plugin file are refused. No connection drops, every acknowledged
// message reaches every member once and in order, rooms in use keep the
// version they started with, and new rooms are split by the canary hash.
func TestHotReloadUnderTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a gateway under load")
	}
	dir := t.TempDir()
	stable := chatWasm(t, dir, "chat-v1.wasm")
	canary := chatWasm(t, dir, "chat-v2.wasm")
	cfgPath := filepath.Join(dir, "gateway.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(reloadBase, stable, ""))
	gw, addr := startGatewayArgs(t, []string{"-config", cfgPath}, "CLASSGATE_LOG__LEVEL=info", "CLASSGATE_LIMITS__RATE_PER_SECOND=0")
	url := "ws://" + addr + "/ws"
	dial := func(user string) *e2e.Client {
		return e2e.Dial(t, url, e2e.Token(t, []byte(testSecret), user, "student", []string{"*"}, time.Hour))
	}

	const rooms, perRoom = 10, 3
	type member struct {
		c    *e2e.Client
		room string
	}
	var members []member
	for r := 0; r < rooms; r++ {
		for u := 0; u < perRoom; u++ {
			c := dial(fmt.Sprintf("u%d-%d", r, u))
			c.Join(fmt.Sprint("live-", r), -1)
			members = append(members, member{c, fmt.Sprint("live-", r)})
		}
	}
	long := strings.Repeat("x", 100) // accepted by v1, rejected by v2 (max_length 50)

	// Traffic: the first member of each room sends 60 messages, 5 ms apart.
	var wg sync.WaitGroup
	acked := make([][]uint64, rooms)
	for r := 0; r < rooms; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			s := members[r*perRoom].c
			for i := 0; i < 60; i++ {
				s.Send(map[string]any{"type": "chat.send", "room": fmt.Sprint("live-", r), "id": fmt.Sprint("m", i), "data": map[string]string{"text": long}})
				time.Sleep(5 * time.Millisecond)
			}
		}(r)
	}
	// Mid-traffic: a canary for half of the rooms, with a stricter config.
	time.Sleep(100 * time.Millisecond)
	writeFile(t, cfgPath, fmt.Sprintf(reloadBase, stable, fmt.Sprintf("      canary: {source: %q, percent: 50, config: {max_length: 50}}\n", canary)))
	if err := gw.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	// Every sender got 60 acks (rooms in use kept v1: the long text passed).
	for r := 0; r < rooms; r++ {
		s := members[r*perRoom].c
		for i := 0; i < 60; i++ {
			m := s.ExpectReply(fmt.Sprint("m", i))
			if m.Type != "ack" {
				t.Fatalf("room live-%d message %d during reload: %s", r, i, m.Raw)
			}
			acked[r] = append(acked[r], m.Seq)
		}
	}
	// Every other member got every acked message once, in order (the
	// senders' own copies were skipped while waiting for their acks).
	for i, m := range members {
		if i%perRoom == 0 {
			continue
		}
		r := 0
		fmt.Sscanf(m.room, "live-%d", &r)
		want := map[uint64]bool{}
		for _, s := range acked[r] {
			want[s] = true
		}
		var last uint64
		for len(want) > 0 {
			ev := m.c.ExpectType("chat.message")
			if last != 0 && ev.Seq != last+1 {
				t.Fatalf("%s: seq %d after %d", m.room, ev.Seq, last)
			}
			last = ev.Seq
			delete(want, ev.Seq)
		}
	}
	waitLog(t, gw, "configuration reloaded")

	// New rooms follow the canary split.
	probe := dial("prober")
	canaryRooms, stableRooms := 0, 0
	for i := 0; i < 12; i++ {
		room := fmt.Sprint("fresh-", i)
		probe.Join(room, -1)
		probe.Send(map[string]any{"type": "chat.send", "room": room, "id": "p" + room, "data": map[string]string{"text": long}})
		m := probe.ExpectReply("p" + room)
		wantCanary := host.Bucket(room) < 50
		if gotCanary := m.Code == "rejected"; gotCanary != wantCanary {
			t.Fatalf("room %s (bucket %d): reply %s, canary expected %v", room, host.Bucket(room), m.Raw, wantCanary)
		}
		if wantCanary {
			canaryRooms++
		} else {
			stableRooms++
		}
	}
	if canaryRooms == 0 || stableRooms == 0 {
		t.Logf("probe rooms all on one side (%d canary, %d stable); split still checked per room", canaryRooms, stableRooms)
	}

	// A broken config is refused; the running one keeps serving.
	writeFile(t, cfgPath, "plugins: [\n")
	_ = gw.Signal(syscall.SIGHUP)
	waitLog(t, gw, "reload refused: configuration invalid")
	// A broken plugin file is refused too.
	if err := os.WriteFile(canary, []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfgPath, fmt.Sprintf(reloadBase, stable, fmt.Sprintf("      canary: {source: %q, percent: 50}\n", canary)))
	_ = gw.Signal(syscall.SIGHUP)
	waitLog(t, gw, "reload refused: plugins failed to load")
	members[0].c.Say("live-0", "after-bad-reload", "still serving")
}

func waitLog(t *testing.T, p *proc.Process, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.Output(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("gateway never logged %q:\n%s", s, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
