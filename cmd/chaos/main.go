// Command chaos proves, on one machine and on loopback only, that no
// acknowledged message is lost while the store fails under a classroom
// load (docs/RELIABILITY.md, "Chaos run"; make chaos).
//
// It starts a Redis primary, a replica and three Sentinels (redis-server
// in sentinel mode), two gateway nodes (bin/gateway, store.redis.mode
// sentinel) and the load generator (bin/loadgen -verify -reconnect
// -phases-stdin) with its members split across the two nodes. After a
// steady phase it injects, one after the other, each fault of the plan
// (see faults), marking each as a phase of the load generator's ledger,
// and lets the system recover before the next:
//
//	redis-restart   SIGKILL the primary, start it again empty (no persistence)
//	redis-aof       AOF switched on (appendfsync everysec), SIGKILL, restart on the AOF
//	redis-pause     CLIENT PAUSE ALL for longer than the store's operation timeout
//	failover        SIGKILL the primary; the Sentinels promote the replica
//	node-kill       SIGKILL one gateway; its clients reconnect to the other with since
//
// The node kill comes last: its clients all move to the surviving node, so
// the Redis faults run while members are split across both nodes.
//
// The load generator checks every acknowledged message against every
// member that stayed joined: delivered exactly once in order, covered by a
// resync (the client re-joined), or lost. chaos prints its per-phase
// table (acked messages, deliveries expected, delivered, resynced, lost,
// time to recover), writes it to -out when given, and exits non-zero when
// anything acknowledged was lost, duplicated or reordered, a member was
// dropped, or a phase did not recover.
//
// Every process is started by chaos, on 127.0.0.1, in a temporary
// directory (kept, with every log, when the run fails or with -keep), and
// killed at the end.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/classgate/classgate/adapters/redis"
)

// masterName is the Sentinel name of the primary.
const masterName = "classgate"

// Sentinel timing: a primary not answering for downAfter is failed over.
// It must exceed every planned outage that is not a failover (the restart
// downtime and the pause), or those would turn into failovers too.
const downAfter = 5 * time.Second

// secret signs the load generator's tokens; the run is loopback only.
const secret = "chaos-secret-chaos-secret-chaos-0123"

// options are the command line.
type options struct {
	bin        string
	redis      string
	rooms      int
	users      int
	rate       float64
	steady     time.Duration
	settle     time.Duration
	down       time.Duration
	pause      time.Duration
	opTimeout  time.Duration
	out        string
	keep       bool
	only       string
	loadgenArg string
}

func main() {
	var o options
	fs := newFlags(&o)
	_ = fs.Parse(os.Args[1:]) // ExitOnError
	if o.pause == 0 {
		o.pause = o.opTimeout + time.Second
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
	}
	os.Exit(code)
}

// newFlags defines the command line into o.
func newFlags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("chaos", flag.ExitOnError)
	fs.StringVar(&o.bin, "bin", "bin", "directory holding the gateway and loadgen binaries (make build)")
	fs.StringVar(&o.redis, "redis-server", "redis-server", "redis-server binary (also run as Sentinel)")
	fs.IntVar(&o.rooms, "rooms", 100, "rooms")
	fs.IntVar(&o.users, "users", 30, "members per room (one publisher), split across the two nodes")
	fs.Float64Var(&o.rate, "rate", 200, "durable chat messages per second, all rooms together")
	fs.DurationVar(&o.steady, "steady", 10*time.Second, "steady load before the first fault")
	fs.DurationVar(&o.settle, "settle", 15*time.Second, "time given to each fault and the recovery from it")
	fs.DurationVar(&o.down, "down", time.Second, "how long Redis stays down when restarted")
	fs.DurationVar(&o.pause, "pause", 0, "CLIENT PAUSE duration; 0 = the store's operation timeout + 1s")
	fs.DurationVar(&o.opTimeout, "op-timeout", redis.DefaultOpTimeout, "the gateways' store.redis.op_timeout (every store operation, a commit included)")
	fs.StringVar(&o.out, "out", "", "also write the result table (Markdown) to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory and its logs even when the run passes")
	fs.StringVar(&o.only, "faults", "", "comma-separated subset of the faults to inject (default: all, in plan order)")
	fs.StringVar(&o.loadgenArg, "loadgen-args", "", "extra arguments for loadgen (space-separated)")
	return fs
}

// fault is one step of the plan.
type fault struct {
	name string
	what string // for the table
	// prepare runs before the phase starts (not counted in it).
	prepare func(ctx context.Context, c *cluster) error
	inject  func(ctx context.Context, c *cluster) error
}

// faults is the plan, in order.
var faults = []fault{
	{
		name: "redis-restart", what: "Redis primary SIGKILLed and restarted empty (no persistence)",
		inject: func(ctx context.Context, c *cluster) error { return c.restartPrimary(ctx) },
	},
	{
		name: "redis-aof", what: "AOF on (appendfsync everysec); primary SIGKILLed and restarted on its AOF",
		prepare: func(ctx context.Context, c *cluster) error { return c.enableAOF(ctx) },
		inject:  func(ctx context.Context, c *cluster) error { return c.restartPrimary(ctx) },
	},
	{
		name: "redis-pause", what: "CLIENT PAUSE ALL on the primary, longer than the commit timeout",
		inject: func(ctx context.Context, c *cluster) error {
			_, err := c.primary.do("CLIENT", "PAUSE", strconv.FormatInt(c.o.pause.Milliseconds(), 10), "ALL")
			return err
		},
	},
	{
		name: "failover", what: "primary SIGKILLed; Sentinels promote the replica",
		prepare: func(ctx context.Context, c *cluster) error { return c.replicaInSync(ctx) },
		inject:  func(ctx context.Context, c *cluster) error { return c.failover(ctx) },
	},
	{
		name: "node-kill", what: "one gateway SIGKILLed; its clients reconnect to the other with since",
		inject: func(ctx context.Context, c *cluster) error {
			c.logf("SIGKILL gateway b (pid %d)", c.gateways[1].cmd.Process.Pid)
			return c.gateways[1].cmd.Process.Signal(syscall.SIGKILL)
		},
	},
}

func run(ctx context.Context, o options) (int, error) {
	plan, err := selectFaults(o.only)
	if err != nil {
		return 2, err
	}
	for _, b := range []string{"gateway", "loadgen"} {
		if _, err := os.Stat(filepath.Join(o.bin, b)); err != nil {
			return 2, fmt.Errorf("%s: %w (run make build)", filepath.Join(o.bin, b), err)
		}
	}
	if p, err := exec.LookPath(o.redis); err != nil {
		return 2, fmt.Errorf("redis-server: %w (make deps installs it)", err)
	} else {
		o.redis = p
	}
	dir, err := os.MkdirTemp("", "classgate-chaos-")
	if err != nil {
		return 2, fmt.Errorf("work dir: %w", err)
	}
	c := &cluster{o: o, dir: dir, start: time.Now()}
	defer c.stopAll()
	res, err := c.run(ctx, plan)
	if err == nil && res != nil && res.Pass && !o.keep {
		c.stopAll()
		_ = os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "chaos: logs kept in %s\n", dir)
	}
	if err != nil {
		return 1, err
	}
	if !res.Pass {
		return 1, fmt.Errorf("FAIL: %s", strings.Join(res.Failures, "; "))
	}
	return 0, nil
}

// selectFaults returns the plan, or the named subset of it in plan order.
func selectFaults(only string) ([]fault, error) {
	if strings.TrimSpace(only) == "" {
		return faults, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var plan []fault
	for _, f := range faults {
		if want[f.name] {
			plan = append(plan, f)
			delete(want, f.name)
		}
	}
	if len(want) > 0 {
		var names []string
		for _, f := range faults {
			names = append(names, f.name)
		}
		return nil, fmt.Errorf("-faults: unknown %v (known: %s)", keys(want), strings.Join(names, ","))
	}
	return plan, nil
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// cluster is everything one run started.
type cluster struct {
	o     options
	dir   string
	start time.Time

	mu        sync.Mutex
	procs     []*process
	primary   *redisNode
	replica   *redisNode
	sentinels []*redisNode
	gateways  []*process
	urls      []string
	aof       bool
}

func (c *cluster) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[chaos %6.1fs] %s\n", time.Since(c.start).Seconds(), fmt.Sprintf(format, args...))
}

// report is the part of loadgen's JSON report chaos reads.
type report struct {
	Settings struct {
		Rooms int     `json:"rooms"`
		Users int     `json:"users_per_room"`
		Rate  float64 `json:"rate"`
	} `json:"settings"`
	Connections struct {
		Connected     int64  `json:"connected"`
		Reconnects    uint64 `json:"reconnects"`
		RejoinRetries uint64 `json:"rejoin_retries"`
	} `json:"connections"`
	Messages struct {
		Retries uint64 `json:"retries"`
	} `json:"messages"`
	Order struct {
		Resyncs uint64 `json:"resyncs"`
	} `json:"order"`
	Errors map[string]uint64 `json:"errors"`
	Verify *struct {
		Phases []phaseResult `json:"phases"`
		Total  phaseResult   `json:"total"`
		// Members verified and dropped.
		Members    int      `json:"members"`
		Dropped    int      `json:"dropped"`
		LostSample []string `json:"lost_sample"`
		LateSample []string `json:"late_sample"`
	} `json:"verify"`
	Pass     bool     `json:"pass"`
	Failures []string `json:"failures"`
}

type phaseResult struct {
	Phase      string  `json:"phase"`
	Acked      uint64  `json:"acked"`
	Expected   uint64  `json:"expected"`
	Delivered  uint64  `json:"delivered"`
	Resynced   uint64  `json:"resynced"`
	Lost       uint64  `json:"lost"`
	Duplicates uint64  `json:"duplicates"`
	OutOfOrder uint64  `json:"out_of_order"`
	Unacked    uint64  `json:"unacked"`
	Recovery   float64 `json:"recovery_s"`
	Recovered  bool    `json:"recovered"`
	Slowest    string  `json:"slowest"`
}

func (c *cluster) run(ctx context.Context, plan []fault) (*report, error) {
	if err := c.startRedis(ctx); err != nil {
		return nil, err
	}
	for _, id := range []string{"a", "b"} {
		if err := c.startGateway(ctx, id); err != nil {
			return nil, err
		}
	}
	lg, err := c.startLoadgen(ctx)
	if err != nil {
		return nil, err
	}
	c.logf("steady load for %s", c.o.steady)
	if !sleep(ctx, c.o.steady) {
		return nil, ctx.Err()
	}
	for _, f := range plan {
		if f.prepare != nil {
			if err := f.prepare(ctx, c); err != nil {
				return nil, fmt.Errorf("prepare %s: %w", f.name, err)
			}
		}
		c.logf("fault %s: %s", f.name, f.what)
		if err := lg.send("phase " + f.name); err != nil {
			return nil, err
		}
		if err := f.inject(ctx, c); err != nil {
			return nil, fmt.Errorf("fault %s: %w", f.name, err)
		}
		if !sleep(ctx, c.o.settle) {
			return nil, ctx.Err()
		}
	}
	c.logf("stopping the load; loadgen drains and checks its ledger")
	if err := lg.send("stop"); err != nil {
		return nil, err
	}
	rep, err := lg.wait(ctx, 3*time.Minute)
	if err != nil {
		return nil, err
	}
	c.print(rep, plan)
	return rep, nil
}

// print writes the result table to stdout and -out.
func (c *cluster) print(rep *report, plan []fault) {
	var b strings.Builder
	fmt.Fprintf(&b, "Chaos run: %d rooms × %d members (one publisher each) over 2 gateway nodes, %.0f msg/s; machine: %d CPUs; %s\n\n",
		rep.Settings.Rooms, rep.Settings.Users, rep.Settings.Rate, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	what := map[string]string{"steady": "no fault (steady load)"}
	for _, f := range plan {
		what[f.name] = f.what
	}
	b.WriteString("| phase | fault | acked msgs | deliveries expected | delivered | resynced | lost | dup | out of order | unacked msgs | time to recover |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	if v := rep.Verify; v != nil {
		for _, p := range append(v.Phases, v.Total) {
			rec := "not recovered"
			if p.Recovered {
				rec = fmt.Sprintf("%.2f s", p.Recovery)
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %s |\n",
				p.Phase, what[p.Phase], p.Acked, p.Expected, p.Delivered, p.Resynced, p.Lost, p.Duplicates, p.OutOfOrder, p.Unacked, rec)
		}
		fmt.Fprintf(&b, "\nmembers verified %d, dropped %d; reconnections %d; resync frames %d (re-joins sent again after an error %d); retries after an internal error %d\n",
			v.Members, v.Dropped, rep.Connections.Reconnects, rep.Order.Resyncs, rep.Connections.RejoinRetries, rep.Messages.Retries)
		for _, p := range v.Phases {
			if p.Slowest != "" {
				fmt.Fprintf(&b, "%s: recovery waited last for %s\n", p.Phase, p.Slowest)
			}
		}
		for _, l := range v.LostSample {
			fmt.Fprintf(&b, "lost: %s\n", l)
		}
		for _, l := range v.LateSample {
			fmt.Fprintf(&b, "out of order: %s\n", l)
		}
	}
	if len(rep.Errors) > 0 {
		fmt.Fprintf(&b, "errors seen by clients (expected during faults): %v\n", rep.Errors)
	}
	if rep.Pass {
		b.WriteString("result: PASS\n")
	} else {
		fmt.Fprintf(&b, "result: FAIL: %s\n", strings.Join(rep.Failures, "; "))
	}
	fmt.Print(b.String())
	if c.o.out != "" {
		if err := os.WriteFile(c.o.out, []byte(b.String()), 0o644); err != nil {
			c.logf("write %s: %v", c.o.out, err)
		}
	}
}

// --- processes ---

// process is one child process; its output goes to a log file.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func (c *cluster) spawn(name, bin string, env []string, args ...string) (*process, error) {
	logPath := filepath.Join(c.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log of %s: %w", name, err)
	}
	p := &process{name: name, cmd: exec.Command(bin, args...), log: logPath, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	// Children die with chaos, whatever happens to it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = p.cmd.Wait(); f.Close(); close(p.done) }()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

// kill SIGKILLs the process and waits for it.
func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (c *cluster) stopAll() {
	c.mu.Lock()
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].kill()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitFor polls cond every 50 ms until it holds or d passes.
func waitFor(ctx context.Context, d time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s", what, d)
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// --- gateways ---

func (c *cluster) startGateway(ctx context.Context, id string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var sentinels []string
	for _, s := range c.sentinels {
		sentinels = append(sentinels, s.addr())
	}
	env := []string{
		"CLASSGATE_NODE__ID=" + id,
		"CLASSGATE_SERVER__LISTEN=" + addr,
		"CLASSGATE_AUTH__HS256_SECRET=" + secret,
		"CLASSGATE_STORE__KIND=redis",
		"CLASSGATE_STORE__REDIS__MODE=sentinel",
		"CLASSGATE_STORE__REDIS__ADDRS=" + strings.Join(sentinels, ","),
		"CLASSGATE_STORE__REDIS__MASTER_NAME=" + masterName,
		"CLASSGATE_STORE__REDIS__OP_TIMEOUT=" + c.o.opTimeout.String(),
		"CLASSGATE_LOG__LEVEL=warn",
	}
	p, err := c.spawn("gateway-"+id, filepath.Join(c.o.bin, "gateway"), env)
	if err != nil {
		return err
	}
	err = waitFor(ctx, 30*time.Second, "gateway "+id+" ready", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return fmt.Errorf("%w (log: %s)", err, p.log)
	}
	c.gateways = append(c.gateways, p)
	c.urls = append(c.urls, "ws://"+addr+"/ws")
	c.logf("gateway %s on %s (pid %d)", id, addr, p.cmd.Process.Pid)
	return nil
}

// --- loadgen ---

type loadgen struct {
	p      *process
	stdin  io.WriteCloser
	stdout *strings.Builder
	outMu  *sync.Mutex
	exited chan struct{}
}

func (c *cluster) startLoadgen(ctx context.Context) (*loadgen, error) {
	args := []string{
		"-url", strings.Join(c.urls, ","), "-secret", secret,
		"-rooms", strconv.Itoa(c.o.rooms), "-users", strconv.Itoa(c.o.users), "-publishers", "1",
		"-rate", strconv.FormatFloat(c.o.rate, 'f', -1, 64), "-mix", "chat=1",
		"-verify", "-reconnect", "-retry", "3", "-phases-stdin", "-json",
		"-drain", "60s", "-settle", "0s", "-connect-concurrency", "64",
	}
	if c.o.loadgenArg != "" {
		args = append(args, strings.Fields(c.o.loadgenArg)...)
	}
	cmd := exec.Command(filepath.Join(c.o.bin, "loadgen"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("loadgen stdin: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("loadgen stderr: %w", err)
	}
	lg := &loadgen{stdin: stdin, stdout: &strings.Builder{}, outMu: &sync.Mutex{}, exited: make(chan struct{})}
	cmd.Stdout = lockedWriter{lg.outMu, lg.stdout}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start loadgen: %w", err)
	}
	lg.p = &process{name: "loadgen", cmd: cmd, done: lg.exited}
	c.mu.Lock()
	c.procs = append(c.procs, lg.p)
	c.mu.Unlock()
	publishing := make(chan struct{})
	go func() {
		// Progress lines go to chaos's stderr, once every 5 s.
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		n := 0
		for sc.Scan() {
			line := sc.Text()
			if line == "loadgen: publishing" {
				once.Do(func() { close(publishing) })
			}
			if !strings.HasPrefix(line, "[") || n%5 == 0 {
				fmt.Fprintln(os.Stderr, "  "+line)
			}
			if strings.HasPrefix(line, "[") {
				n++
			}
		}
		_ = cmd.Wait()
		close(lg.exited)
	}()
	c.logf("loadgen: %d rooms × %d members over %d nodes, %.0f msg/s", c.o.rooms, c.o.users, len(c.urls), c.o.rate)
	select {
	case <-publishing:
		return lg, nil
	case <-lg.exited:
		return nil, errors.New("loadgen exited before publishing")
	case <-time.After(5 * time.Minute):
		return nil, errors.New("loadgen not publishing after 5 minutes")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (lg *loadgen) send(line string) error {
	if _, err := io.WriteString(lg.stdin, line+"\n"); err != nil {
		return fmt.Errorf("tell loadgen %q: %w", line, err)
	}
	return nil
}

// wait waits for loadgen to exit and decodes its report.
func (lg *loadgen) wait(ctx context.Context, d time.Duration) (*report, error) {
	select {
	case <-lg.exited:
	case <-time.After(d):
		return nil, fmt.Errorf("loadgen still running %s after stop", d)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	lg.outMu.Lock()
	out := lg.stdout.String()
	lg.outMu.Unlock()
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		return nil, fmt.Errorf("loadgen report: %w\n%.2000s", err, out)
	}
	if rep.Verify == nil {
		return nil, errors.New("loadgen report has no verification")
	}
	return &rep, nil
}
