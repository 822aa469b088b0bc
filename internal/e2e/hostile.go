package e2e

import (
	"sort"
	"sync"
	"testing"
)

// hostileCase is one test of the hostile-client suite: what a student
// token (or an unauthenticated peer) could do to break a room for others.
type hostileCase struct {
	name string
	run  func(t *testing.T, tg Target)
}

var (
	hostileMu    sync.Mutex
	hostileCases []hostileCase
)

// registerHostile adds a case to RunHostile. The cases live in
// hostile_*.go, one file per area (frames, plugins, connections), and
// register themselves from init.
func registerHostile(name string, run func(t *testing.T, tg Target)) {
	hostileMu.Lock()
	defer hostileMu.Unlock()
	hostileCases = append(hostileCases, hostileCase{name, run})
}

// RunHostile runs the hostile-client suite against tg: every case holds the
// deployment to docs/PROTOCOL.md (v1.1) and shows that the server keeps
// serving the room's other members afterwards. It runs against the
// standalone server, two nodes on Redis and the Lambda emulator.
func RunHostile(t *testing.T, tg Target) {
	hostileMu.Lock()
	cases := append([]hostileCase(nil), hostileCases...)
	hostileMu.Unlock()
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, tg) })
	}
}
