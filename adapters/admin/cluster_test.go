package admin_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/classgate/classgate/adapters/admin"
)

// clusterNode is a Node that also reaches other nodes (admin.Cluster).
type clusterNode struct {
	admin.NodeFuncs
	kick  func(user, room string) (admin.Remote, error)
	drain func(node string) (admin.Remote, error)
}

func (c clusterNode) KickOthers(_ context.Context, user, room string) (admin.Remote, error) {
	return c.kick(user, room)
}

func (c clusterNode) DrainOthers(_ context.Context, node string) (admin.Remote, error) {
	return c.drain(node)
}

// TestClusterActions: with a Node that implements admin.Cluster, kick
// adds the other nodes' answers to this node's, drain can name another
// node or every node; without one, naming another node is 501.
func TestClusterActions(t *testing.T) {
	var localDrains int
	local := admin.NodeFuncs{
		KickFunc:  func(context.Context, string, string) (int, error) { return 1, nil },
		DrainFunc: func(context.Context) error { localDrains++; return nil },
	}
	remote := admin.Remote{Nodes: 2, Closed: 3, Unanswered: 1, Errors: []string{"n4: boom"}}
	cluster := clusterNode{NodeFuncs: local,
		kick: func(string, string) (admin.Remote, error) { return remote, nil },
		drain: func(node string) (admin.Remote, error) {
			if node == "gone" {
				return admin.Remote{Unanswered: 0}, nil
			}
			return admin.Remote{Nodes: 1, Closed: 5}, nil
		}}
	down := clusterNode{NodeFuncs: local,
		kick: func(string, string) (admin.Remote, error) { return admin.Remote{}, errors.New("redis down") }}
	tests := []struct {
		name         string
		node         admin.Node
		path, body   string
		code         int
		want         []string
		wantLocalInc int // local drains this call makes
	}{
		{"kick sums the nodes", cluster, "/admin/kick", `{"user":"sam"}`, 200,
			[]string{`"closed": 4`, `"nodes": 3`, `"unanswered": 1`, `n4: boom`}, 0},
		{"kick when others are unreachable keeps this node's", down, "/admin/kick", `{"user":"sam"}`, 200,
			[]string{`"closed": 1`, `"nodes": 1`, `"unanswered": -1`, "other nodes not reached: redis down"}, 0},
		{"kick on a lone node", local, "/admin/kick", `{"user":"sam"}`, 200, []string{`"closed": 1`, `"nodes": 1`}, 0},
		{"drain another node", cluster, "/admin/drain", `{"node":"n2"}`, 200,
			[]string{`"draining": true`, `"complete": false`, `"nodes": 1`, `"closed": 5`}, 0},
		{"drain a node that does not answer", cluster, "/admin/drain", `{"node":"gone"}`, 404, []string{`did not answer`}, 0},
		{"drain every node", cluster, "/admin/drain", `{"node":"*"}`, 200, []string{`"complete": true`, `"nodes": 1`, `"closed": 5`}, 1},
		{"drain this node by its id", cluster, "/admin/drain", `{"node":"self"}`, 200, []string{`"complete": true`}, 1},
		{"drain with no body", cluster, "/admin/drain", ``, 200, []string{`"complete": true`}, 1},
		{"drain another node without a cluster", local, "/admin/drain", `{"node":"n2"}`, 501, []string{"shared store"}, 0},
		{"drain refuses unknown fields", cluster, "/admin/drain", `{"nodes":"n2"}`, 400, []string{"unknown field"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api, err := admin.New(admin.Options{Token: token, Node: tt.node, NodeID: "self"})
			if err != nil {
				t.Fatal(err)
			}
			before := localDrains
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+token)
			api.ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("HTTP %d %s, want %d", rec.Code, rec.Body, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("answer %s lacks %s", rec.Body, w)
				}
			}
			if got := localDrains - before; got != tt.wantLocalInc {
				t.Errorf("%d local drains, want %d", got, tt.wantLocalInc)
			}
		})
	}
}
