package main

import (
	"bufio"
	"context"
	"fmt"
	"github.com/classgate/classgate/internal/resp"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// redisNode is one redis-server (or Sentinel) process chaos runs.
type redisNode struct {
	c    *cluster
	name string
	port int
	dir  string
	args []string // without --port/--dir; changed by enableAOF
	p    *process
}

func (n *redisNode) addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

// newRedis prepares a node with its own port and directory.
func (c *cluster) newRedis(name string, args ...string) (*redisNode, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dir of %s: %w", name, err)
	}
	return &redisNode{c: c, name: name, port: port, dir: dir, args: args}, nil
}

// serverArgs are a data node's options: loopback, no persistence unless
// args turn it on.
func serverArgs(port int, dir string, args []string) []string {
	base := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"}
	return append(base, args...)
}

// run starts the node and waits until it answers PING.
func (n *redisNode) run(ctx context.Context, sentinel bool) error {
	var args []string
	if sentinel {
		args = append([]string{filepath.Join(n.dir, "sentinel.conf"), "--sentinel"}, n.args...)
	} else {
		args = serverArgs(n.port, n.dir, n.args)
	}
	p, err := n.c.spawn(n.name, n.c.o.redis, nil, args...)
	if err != nil {
		return err
	}
	n.p = p
	err = waitFor(ctx, 20*time.Second, n.name+" answering PING", func() bool {
		v, err := n.do("PING")
		return err == nil && v == "PONG"
	})
	if err != nil {
		return fmt.Errorf("%w (log: %s)", err, p.log)
	}
	return nil
}

// do sends one command and returns its reply: string, int64, []any or nil.
func (n *redisNode) do(args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", n.addr(), time.Second)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.name, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := resp.WriteCommand(conn, args...); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", n.name, args[0], err)
	}
	v, err := resp.ReadReply(bufio.NewReader(conn))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", n.name, args[0], err)
	}
	return v, nil
}

// info returns one field of INFO section ("" when unavailable).
func (n *redisNode) info(section, field string) string {
	v, err := n.do("INFO", section)
	s, ok := v.(string)
	if err != nil || !ok {
		return ""
	}
	for _, line := range strings.Split(s, "\n") {
		if k, val, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == field {
			return val
		}
	}
	return ""
}

// startRedis starts the primary, its replica and three Sentinels, and
// waits until the Sentinels know the replica and each other.
func (c *cluster) startRedis(ctx context.Context) error {
	var err error
	if c.primary, err = c.newRedis("redis-1"); err != nil {
		return err
	}
	if err := c.primary.run(ctx, false); err != nil {
		return err
	}
	if c.replica, err = c.newRedis("redis-2", "--replicaof", "127.0.0.1", strconv.Itoa(c.primary.port)); err != nil {
		return err
	}
	if err := c.replica.run(ctx, false); err != nil {
		return err
	}
	if err := c.replicaInSync(ctx); err != nil {
		return err
	}
	for i := range 3 {
		s, err := c.newRedis(fmt.Sprintf("sentinel-%d", i+1))
		if err != nil {
			return err
		}
		conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
			"sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s 10000\n"+
			"sentinel parallel-syncs %s 1\n",
			s.port, s.dir, masterName, c.primary.port, masterName, downAfter.Milliseconds(), masterName, masterName)
		if err := os.WriteFile(filepath.Join(s.dir, "sentinel.conf"), []byte(conf), 0o600); err != nil {
			return fmt.Errorf("sentinel config: %w", err)
		}
		if err := s.run(ctx, true); err != nil {
			return err
		}
		c.sentinels = append(c.sentinels, s)
	}
	err = waitFor(ctx, 60*time.Second, "sentinels to know the replica and each other", func() bool {
		for _, s := range c.sentinels {
			m := pairs(s.do("SENTINEL", "MASTER", masterName))
			if m["num-slaves"] != "1" || m["num-other-sentinels"] != "2" {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	c.logf("redis primary %s, replica %s, sentinels %s %s %s (down-after %s)", c.primary.addr(), c.replica.addr(),
		c.sentinels[0].addr(), c.sentinels[1].addr(), c.sentinels[2].addr(), downAfter)
	return nil
}

// pairs turns a flat [k1 v1 k2 v2 ...] reply into a map.
func pairs(v any, err error) map[string]string {
	l, _ := v.([]any)
	m := make(map[string]string, len(l)/2)
	for i := 0; err == nil && i+1 < len(l); i += 2 {
		m[fmt.Sprint(l[i])] = fmt.Sprint(l[i+1])
	}
	return m
}

// replicaInSync waits until the replica's link to the primary is up and
// it has caught up with the primary's replication offset.
func (c *cluster) replicaInSync(ctx context.Context) error {
	return waitFor(ctx, 60*time.Second, "replica in sync", func() bool {
		if c.replica.info("replication", "master_link_status") != "up" {
			return false
		}
		po := c.primary.info("replication", "master_repl_offset")
		ro := c.replica.info("replication", "master_repl_offset")
		p, err1 := strconv.ParseInt(po, 10, 64)
		r, err2 := strconv.ParseInt(ro, 10, 64)
		return err1 == nil && err2 == nil && r >= p-1024*1024 // caught up but for traffic in flight
	})
}

// restartPrimary SIGKILLs the primary and starts it again, with the same
// options and directory, after -down.
func (c *cluster) restartPrimary(ctx context.Context) error {
	c.logf("SIGKILL redis primary (pid %d)%s", c.primary.p.cmd.Process.Pid, map[bool]string{true: ", AOF on", false: ", no persistence"}[c.aof])
	c.primary.p.kill()
	if !sleep(ctx, c.o.down) {
		return ctx.Err()
	}
	if err := c.primary.run(ctx, false); err != nil {
		return err
	}
	keys, _ := c.primary.do("DBSIZE")
	c.logf("redis primary back after %s with %v keys", c.o.down, keys)
	return nil
}

// enableAOF switches the primary to AOF (appendfsync everysec), waits
// until the AOF holds the whole data set, and has later restarts load it.
func (c *cluster) enableAOF(ctx context.Context) error {
	if _, err := c.primary.do("CONFIG", "SET", "appendfsync", "everysec"); err != nil {
		return err
	}
	if _, err := c.primary.do("CONFIG", "SET", "appendonly", "yes"); err != nil {
		return err
	}
	err := waitFor(ctx, 60*time.Second, "AOF rewrite done", func() bool {
		return c.primary.info("persistence", "aof_enabled") == "1" &&
			c.primary.info("persistence", "aof_rewrite_in_progress") == "0" &&
			c.primary.info("persistence", "aof_rewrite_scheduled") == "0"
	})
	if err != nil {
		return err
	}
	c.primary.args = append(c.primary.args, "--appendonly", "yes", "--appendfsync", "everysec")
	c.aof = true
	return nil
}

// failover SIGKILLs the primary and waits until the Sentinels have
// promoted the replica.
func (c *cluster) failover(ctx context.Context) error {
	old := c.primary.addr()
	c.logf("SIGKILL redis primary %s (pid %d); waiting for the Sentinels (down-after %s)", old, c.primary.p.cmd.Process.Pid, downAfter)
	c.primary.p.kill()
	t0 := time.Now()
	err := waitFor(ctx, downAfter+30*time.Second, "sentinel failover", func() bool {
		v, err := c.sentinels[0].do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName)
		l, ok := v.([]any)
		return err == nil && ok && len(l) == 2 && fmt.Sprintf("%v:%v", l[0], l[1]) == c.replica.addr() &&
			c.replica.info("replication", "role") == "master"
	})
	if err != nil {
		return err
	}
	c.logf("sentinels promoted %s after %.1fs", c.replica.addr(), time.Since(t0).Seconds())
	c.primary, c.replica = c.replica, nil
	return nil
}
