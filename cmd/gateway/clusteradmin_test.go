package main

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/classgate/classgate/adapters/admin/admintest"
	"github.com/classgate/classgate/adapters/redis/redistest"
	"github.com/classgate/classgate/internal/e2e"
	"github.com/classgate/classgate/internal/proc"
)

// TestClusterAdmin: two real gateway nodes on one real Redis. The
// operations API of node A kicks users whose connections are on node B
// (close 4003, counted in A's answer), with and without a room, and
// drains node B (its clients get 1012, its /readyz fails) while A keeps
// serving.
func TestClusterAdmin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and two gateways")
	}
	rs := redistest.StartServer(t)
	prefix := redistest.Prefix(t)
	const token = "cluster-admin-token-0123456789"
	adminAddr := proc.FreeAddr(t)
	adminEnv := []string{"CLASSGATE_ADMIN__LISTEN=" + adminAddr, "CLASSGATE_ADMIN__TOKEN=" + token}
	_, a := redisNode(t, rs.Addr(), prefix, "node-a", adminEnv...)
	bAdmin := proc.FreeAddr(t)
	_, b := redisNode(t, rs.Addr(), prefix, "node-b", "CLASSGATE_ADMIN__LISTEN="+bAdmin, "CLASSGATE_ADMIN__TOKEN="+token)
	adm := &admintest.Client{Base: "http://" + adminAddr, Token: token}
	ctx := context.Background()
	dial := func(addr, user string) *e2e.Client {
		return e2e.Dial(t, "ws://"+addr+"/ws", e2e.Token(t, []byte(testSecret), user, "student", []string{"*"}, time.Hour))
	}
	const room = "history-3"
	ann := dial(a, "ann") // stays on node A throughout
	ann.Join(room, -1)

	samB := dial(b, "sam")
	samB.Join(room, -1)
	kimB := dial(b, "kim")
	kimB.Join("elsewhere", -1)
	twoA, twoB := dial(a, "two"), dial(b, "two")

	tests := []struct {
		name       string
		user, room string
		closed     int
		nodes      int
		gone       []*e2e.Client
	}{
		{"user only on the other node", "sam", "", 1, 2, []*e2e.Client{samB}},
		{"room the user is not in", "kim", room, 0, 2, nil},
		{"user on both nodes", "two", "", 2, 2, []*e2e.Client{twoA, twoB}},
		{"room the user is in, other node", "kim", "elsewhere", 1, 2, []*e2e.Client{kimB}},
		{"nobody", "nobody", "", 0, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := adm.KickAll(ctx, tt.user, tt.room)
			if err != nil {
				t.Fatal(err)
			}
			if r.Closed != tt.closed || r.Nodes != tt.nodes || r.Unanswered != 0 {
				t.Fatalf("kick %s in %q = %+v, want closed %d by %d nodes, none unanswered", tt.user, tt.room, r, tt.closed, tt.nodes)
			}
			for _, c := range tt.gone {
				if code := c.ExpectClose(10 * time.Second); code != 4003 {
					t.Fatalf("closed with %v, want 4003", code)
				}
			}
		})
	}

	t.Run("drain an unknown node", func(t *testing.T) {
		_, err := adm.DrainNode(ctx, "node-z")
		var ae *admintest.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
			t.Fatalf("drain node-z = %v, want 404", err)
		}
	})
	t.Run("drain the other node", func(t *testing.T) {
		onB := []*e2e.Client{dial(b, "lea"), dial(b, "max")}
		r, err := adm.DrainNode(ctx, "node-b")
		if err != nil {
			t.Fatal(err)
		}
		if !r.Draining || r.Nodes != 1 || r.Closed != len(onB) || r.Unanswered != 0 {
			t.Fatalf("drain node-b = %+v, want 1 node closing %d connections", r, len(onB))
		}
		for _, c := range onB {
			if code := c.ExpectClose(10 * time.Second); code != websocket.StatusServiceRestart {
				t.Fatalf("node B client closed with %v, want 1012", code)
			}
		}
		redistest.WaitFor(t, 10*time.Second, "node B's /readyz to fail", func() bool {
			resp, err := http.Get("http://" + b + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusServiceUnavailable
		})
		bAdm := &admintest.Client{Base: "http://" + bAdmin, Token: token}
		if st, err := bAdm.Stats(ctx); err != nil || !st.Draining {
			t.Fatalf("node B's /admin/stats after the drain: %+v, %v; want draining", st, err)
		}
		if _, _, err := e2e.TryDial("ws://"+b+"/ws", e2e.Token(t, []byte(testSecret), "late", "student", []string{"*"}, time.Hour)); err == nil {
			t.Fatal("node B accepted a handshake after its drain")
		}
	})
	// Node A was not drained: its client is still served.
	ann.Say(room, "after", "still here")
	resp, err := http.Get("http://" + a + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("node A /readyz after draining B: %s", resp.Status)
	}
}
