package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/classgate/classgate/core/auth"
)

// Connection, token and memory cases of the hostile-client suite: what
// one account can make a node spend (connections, rooms), and tokens the
// gateway must refuse (docs/PROTOCOL.md "Handshake", docs/OPERATIONS.md).
func init() {
	registerHostile("ConnManyRoomsMemoryFlat", testManyRoomsMemory)
	registerHostile("ConnPerUserCap", testPerUserCap)
	registerHostile("TokenNotYetValid", testTokenNotBefore)
	registerHostile("TokenLifetimeTooLong", testTokenLifetime)
	registerHostile("TokenRoomsClaimWithComma", testRoomsClaimComma)
}

// hostileToken signs claims with the target's secret.
func hostileToken(t *testing.T, tg Target, c auth.Claims) string {
	t.Helper()
	if c.Name == "" {
		c.Name = "Name " + c.Subject
	}
	if c.Role == "" {
		c.Role = "student"
	}
	tok, err := auth.SignHS256(tg.Secret, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// expectRefused dials with token and wants HTTP status.
func expectRefused(t *testing.T, url, token string, status int) {
	t.Helper()
	c, resp, err := TryDial(url, token)
	if err == nil {
		c.Release()
		t.Fatalf("handshake accepted, want HTTP %d", status)
	}
	if resp == nil || resp.StatusCode != status {
		t.Fatalf("handshake refused with %v (%v), want HTTP %d", resp, err, status)
	}
}

// stillServes shows the deployment still serves a room after an attack.
func stillServes(t *testing.T, tg Target) {
	t.Helper()
	r := room("after-attack")
	a, b := tg.dial(t, "after-a", "student"), tg.dialPeer(t, "after-b", "student")
	a.Join(r, -1)
	b.Join(r, -1)
	a.Say(r, "after-1", "still here")
	if m := b.ExpectType("chat.message"); text(m) != "still here" {
		t.Fatalf("after the attack: %s", m.Raw)
	}
}

// heap returns the node's live heap (HeapAlloc after a forced GC), read
// from its admin listener's pprof heap profile (?gc=1 collects first).
func heap(t *testing.T, tg Target) uint64 {
	t.Helper()
	req, err := http.NewRequest("GET", tg.AdminURL+"/debug/pprof/heap?gc=1&debug=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tg.AdminToken)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("read the heap: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("read the heap: HTTP %d (is admin.pprof on?)", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatalf("HeapAlloc %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("no HeapAlloc in the heap profile (%v)", sc.Err())
	return 0
}

// churnRooms makes clients join and leave n distinct rooms with long
// names, pipelined in small batches (each connection stays within its
// rate limit and room cap). It returns the first problem seen.
func churnRooms(t *testing.T, tg Target, prefix string, n, clients int) error {
	t.Helper()
	pad := strings.Repeat("x", 180) // room ids of ~200 bytes, under the documented limit
	cs := make([]*Client, clients)
	for i := range cs {
		cs[i] = tg.dial(t, fmt.Sprintf("%s-u%d", prefix, i), "student")
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i, c := range cs {
		wg.Add(1)
		go func(i int, c *Client) {
			defer wg.Done()
			// await reads up to the answer to id; an error frame is a
			// problem.
			await := func(id string) error {
				for {
					m, ok := c.TryNext(30 * time.Second)
					if !ok {
						return fmt.Errorf("client %d: no answer to %s (closed: %v)", i, id, c.isClosed())
					}
					if m.Type == "error" {
						return fmt.Errorf("client %d: %s", i, m.Raw)
					}
					if m.ID == id {
						return nil
					}
				}
			}
			// send writes a frame; on Lambda, whose invocations may run
			// a connection's frames concurrently (docs/LAMBDA.md), it
			// also waits for its answer so that a leave never overtakes
			// its join.
			send := func(frame, id string) error {
				if err := c.TrySend(frame); err != nil {
					return err
				}
				if tg.differs(ConcurrentFramesOfOneConnection) {
					return await(id)
				}
				return nil
			}
			const batch = 20
			for from := i; from < n; from += clients * batch {
				var last string
				for k := from; k < min(from+clients*batch, n); k += clients {
					r := fmt.Sprintf("%s-%s-%d", prefix, pad, k)
					last = fmt.Sprint("l", k)
					if err := send(fmt.Sprintf(`{"type":"join","room":%q,"id":"j%d"}`, r, k), fmt.Sprint("j", k)); err != nil {
						errs <- err
						return
					}
					if err := send(fmt.Sprintf(`{"type":"leave","room":%q,"id":%q}`, r, last), last); err != nil {
						errs <- err
						return
					}
				}
				if !tg.differs(ConcurrentFramesOfOneConnection) {
					if err := await(last); err != nil {
						errs <- err
						return
					}
				}
			}
		}(i, c)
	}
	wg.Wait()
	close(errs)
	for _, c := range cs {
		c.Close()
	}
	return <-errs
}

// isClosed reports whether the connection has ended.
func (c *Client) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// testManyRoomsMemory: 5,000 distinct short-lived rooms with long names
// (join, leave) leave the node's heap where it was once their history has
// aged out (docs/OPERATIONS.md "Memory"): a node that kept every room
// would hold megabytes more. On Lambda there is no heap to read
// (NoReadableHeap; Target.AdminURL is empty there) — memory
// is the function's, recycled with its environments — so a smaller run
// only shows that the deployment keeps serving.
func testManyRoomsMemory(t *testing.T, tg Target) {
	const rooms, clients = 5000, 10
	if tg.AdminURL == "" {
		if err := churnRooms(t, tg, room("churn"), 200, 2); err != nil {
			t.Fatal(err)
		}
		stillServes(t, tg)
		t.Skip("no readable heap on this deployment (Lambda): 200 rooms churned, heap not measured")
	}
	// Warm up: plugin instance pools, the runtime's caches, the store's
	// tables reach their working size.
	if err := churnRooms(t, tg, room("warm"), 1000, clients); err != nil {
		t.Fatal(err)
	}
	before := heap(t, tg)
	if err := churnRooms(t, tg, room("churn"), rooms, clients); err != nil {
		t.Fatal(err)
	}
	// 5,000 rooms kept cost about 14 MB on the memory store (their
	// ~200-byte names, registry, history and plugin state: measured right
	// after the churn, before their history ages out); a node that frees
	// them ends within a few MB of where it started whatever the number
	// of rooms (about 2 MB after 5,000 or 15,000 on Redis nodes: pools
	// and buffers at their working size), so the bound catches any leak
	// above ~800 bytes per room.
	const bound = 4 << 20
	after := heap(t, tg)
	t.Logf("heap %d → %d bytes right after %d rooms", before, after, rooms)
	deadline := time.Now().Add(tg.HistoryAge + time.Minute)
	for after > before+bound {
		if time.Now().After(deadline) {
			t.Fatalf("heap grew by %d bytes over %d short-lived rooms and stayed there (bound %d)", after-before, rooms, bound)
		}
		time.Sleep(2 * time.Second)
		after = heap(t, tg)
	}
	t.Logf("heap %d → %d bytes after %d rooms", before, after, rooms)
	stillServes(t, tg)
}

// testPerUserCap: one user cannot hold more than
// server.max_connections_per_user connections to a node; past it the
// handshake gets 503 while other users still connect, and a closed
// connection frees its place. On Lambda, API Gateway holds the sockets
// (its account quota bounds them) and no function instance sees a user's
// other connections: there is no per-user cap to check.
func testPerUserCap(t *testing.T, tg Target) {
	if tg.MaxConnsPerUser == 0 {
		t.Skip("no per-user connection cap on this deployment (API Gateway holds the sockets)")
	}
	user := fmt.Sprint("greedy-", roomSeq.Add(1))
	tok := hostileToken(t, tg, auth.Claims{Subject: user, Rooms: []string{"*"}, Expiry: time.Now().Add(time.Hour).Unix()})
	var mine []*Client
	for range tg.MaxConnsPerUser {
		mine = append(mine, Dial(t, tg.URL, tok))
	}
	expectRefused(t, tg.URL, tok, http.StatusServiceUnavailable)
	// Other users are not affected, nor are the user's open connections.
	stillServes(t, tg)
	mine[0].Send(`{"type":"ping","id":"p"}`)
	mine[0].ExpectReply("p")
	mine[1].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _, err := TryDial(tg.URL, tok)
		if err == nil {
			c.Release()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed connection did not free its place: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testTokenNotBefore: a token whose nbf is in the future is refused with
// 401 everywhere (standalone handshake and Lambda authorizer alike); one
// whose nbf has passed is accepted.
func testTokenNotBefore(t *testing.T, tg Target) {
	now := time.Now()
	future := hostileToken(t, tg, auth.Claims{Subject: "nbf", Rooms: []string{"*"}, Expiry: now.Add(time.Hour).Unix(), NotBefore: now.Add(10 * time.Minute).Unix()})
	expectRefused(t, tg.URL, future, http.StatusUnauthorized)
	past := hostileToken(t, tg, auth.Claims{Subject: "nbf", Rooms: []string{"*"}, Expiry: now.Add(time.Hour).Unix(), NotBefore: now.Add(-time.Minute).Unix()})
	c := Dial(t, tg.URL, past)
	c.Send(`{"type":"ping","id":"p"}`)
	c.ExpectReply("p")
}

// testTokenLifetime: with the default auth.max_token_lifetime (24h) a
// token valid for 30 days, or whose exp − iat exceeds 24h, is refused
// with 401; a one-hour token is accepted.
func testTokenLifetime(t *testing.T, tg Target) {
	now := time.Now()
	tests := []struct {
		name   string
		claims auth.Claims
	}{
		{"exp in 30 days", auth.Claims{Subject: "long", Expiry: now.Add(30 * 24 * time.Hour).Unix()}},
		{"exp − iat above 24h", auth.Claims{Subject: "long", IssuedAt: now.Add(-2 * time.Hour).Unix(), Expiry: now.Add(23 * time.Hour).Unix()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectRefused(t, tg.URL, hostileToken(t, tg, tt.claims), http.StatusUnauthorized)
		})
	}
	c := Dial(t, tg.URL, hostileToken(t, tg, auth.Claims{Subject: "short", IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix()}))
	c.Send(`{"type":"ping","id":"p"}`)
	c.ExpectReply("p")
}

// testRoomsClaimWithComma: a rooms claim entry holding a comma is one
// pattern, not two: "class-7a,*" grants neither "*" nor "class-7a" — on
// Lambda too, where the claim crosses the authorizer context.
func testRoomsClaimComma(t *testing.T, tg Target) {
	mine := room("comma-own")
	tok := hostileToken(t, tg, auth.Claims{Subject: "comma", Rooms: []string{"class-7a,*", mine}, Expiry: time.Now().Add(time.Hour).Unix()})
	c := Dial(t, tg.URL, tok)
	c.frameLimit = tg.FrameLimit
	for i, r := range []string{room("comma-other"), "class-7a"} {
		id := fmt.Sprint("jc", i)
		c.Send(map[string]any{"type": "join", "room": r, "id": id})
		if m := c.ExpectReply(id); m.Type != "error" || m.Code != "forbidden" {
			t.Fatalf("join %q with rooms [\"class-7a,*\", …]: %s, want error forbidden", r, m.Raw)
		}
	}
	// The claim's other entry still grants its room.
	c.Join(mine, -1)
}
