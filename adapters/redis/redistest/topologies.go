package redistest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// MasterName is the name the Sentinels of StartSentinel monitor.
const MasterName = "classgate"

// StartReplica starts a server replicating primary and waits until its
// replication link is up.
func StartReplica(t testing.TB, primary *Server) *Server {
	t.Helper()
	r := StartServer(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port()))
	WaitFor(t, startTimeout, "replica link up", func() bool {
		return r.Info("replication", "master_link_status") == "up"
	})
	return r
}

// Sentinel is a primary, its replicas and three Sentinels monitoring it
// as MasterName (quorum 2, down after 1s, failover timeout 5s).
type Sentinel struct {
	t         testing.TB
	Primary   *Server
	Replicas  []*Server
	Sentinels []*Server
}

// StartSentinel starts a primary, replicas replicas of it and three
// Sentinels, and waits until the Sentinels know every replica and each
// other, so a failover can happen.
func StartSentinel(t testing.TB, replicas int) *Sentinel {
	t.Helper()
	bin, _ := Binaries(t)
	sn := &Sentinel{t: t, Primary: StartServer(t)}
	for range replicas {
		sn.Replicas = append(sn.Replicas, StartReplica(t, sn.Primary))
	}
	for range 3 {
		port := FreePort(t, false)
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile %s
sentinel monitor %s 127.0.0.1 %d 2
sentinel down-after-milliseconds %s 1000
sentinel failover-timeout %s 5000
sentinel parallel-syncs %s 1
`, port, dir, filepath.Join(dir, "sentinel.log"), MasterName, sn.Primary.Port(), MasterName, MasterName, MasterName)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatalf("redistest: sentinel config: %v", err)
		}
		s := &Server{t: t, port: port, dir: dir, args: []string{conf, "--sentinel"}}
		s.start(bin)
		t.Cleanup(s.Kill)
		sn.Sentinels = append(sn.Sentinels, s)
	}
	sn.waitSettled(t, replicas)
	return sn
}

// waitSettled waits until every Sentinel sees the primary's replicas and
// the two other Sentinels.
func (sn *Sentinel) waitSettled(t testing.TB, replicas int) {
	t.Helper()
	WaitFor(t, 3*startTimeout, "sentinels to discover replicas and each other", func() bool {
		for _, s := range sn.Sentinels {
			v, err := s.Do("SENTINEL", "MASTER", MasterName)
			if err != nil {
				return false
			}
			m := pairs(v)
			if m["num-slaves"] != strconv.Itoa(replicas) || m["num-other-sentinels"] != "2" {
				return false
			}
		}
		return true
	})
}

// Addrs are the Sentinels' addresses, for Options.Addrs.
func (sn *Sentinel) Addrs() []string {
	out := make([]string, len(sn.Sentinels))
	for i, s := range sn.Sentinels {
		out[i] = s.Addr()
	}
	return out
}

// PrimaryAddr asks the Sentinels which server is the primary now.
func (sn *Sentinel) PrimaryAddr() string {
	for _, s := range sn.Sentinels {
		v, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName)
		if l, ok := v.([]any); err == nil && ok && len(l) == 2 {
			return fmt.Sprintf("%v:%v", l[0], l[1])
		}
	}
	return ""
}

// Server returns the process (primary or replica) listening on addr.
func (sn *Sentinel) Server(addr string) *Server {
	for _, s := range append([]*Server{sn.Primary}, sn.Replicas...) {
		if s.Addr() == addr {
			return s
		}
	}
	return nil
}

// WaitFailover waits until the Sentinels name a primary other than old and
// that server reports role:master; it returns the new primary.
func (sn *Sentinel) WaitFailover(old string) *Server {
	sn.t.Helper()
	var now *Server
	WaitFor(sn.t, 6*startTimeout, "sentinel failover away from "+old, func() bool {
		addr := sn.PrimaryAddr()
		if addr == "" || addr == old {
			return false
		}
		now = sn.Server(addr)
		return now != nil && now.Info("replication", "role") == "master"
	})
	return now
}

// Cluster is a Redis Cluster of masters without replicas.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts masters cluster-enabled servers, joins them with
// redis-cli --cluster create (slots spread evenly, no replicas) and waits
// until every node reports cluster_state:ok and knows every node.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	_, cli := Binaries(t)
	c := &Cluster{}
	addrs := make([]string, 0, masters)
	for range masters {
		port := FreePort(t, true)
		s := startServer(t, port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000")
		c.Nodes = append(c.Nodes, s)
		addrs = append(addrs, s.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	WaitFor(t, 3*startTimeout, "cluster_state:ok on every node", func() bool {
		for _, s := range c.Nodes {
			if s.Info("cluster-info", "cluster_state") != "ok" ||
				s.Info("cluster-info", "cluster_known_nodes") != strconv.Itoa(masters) {
				return false
			}
		}
		return true
	})
	return c
}

// Addrs are the nodes' addresses, for Options.Addrs.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.Addr()
	}
	return out
}

// pairs turns a flat [k1 v1 k2 v2 ...] reply into a map.
func pairs(v any) map[string]string {
	l, _ := v.([]any)
	m := make(map[string]string, len(l)/2)
	for i := 0; i+1 < len(l); i += 2 {
		m[fmt.Sprint(l[i])] = strings.TrimSpace(fmt.Sprint(l[i+1]))
	}
	return m
}
