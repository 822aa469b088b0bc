package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// functionConfig describes one Lambda function.
type functionConfig struct {
	Name     string
	Bin      string   // the bootstrap executable
	Env      []string // extra environment (KEY=VALUE)
	MemoryMB int
	Timeout  time.Duration
	// Max is the most execution environments run at once (reserved
	// concurrency); Prewarm are started at once.
	Max, Prewarm int
	Region       string
	// Output receives the function's stdout and stderr, line by line,
	// prefixed with "[name/envN] ".
	Output io.Writer
	Log    *slog.Logger
	// Wrapper, when set, runs Bin through it (e.g. qemu-aarch64-static to
	// run an arm64 package on an x86_64 machine).
	Wrapper string
}

// function is a Lambda function served through the Lambda Runtime API: a
// pool of execution environments, each one process of Bin polling its own
// Runtime API endpoint. An invocation takes an idle environment, or starts
// a new one (a cold start) while fewer than Max run, or waits.
type function struct {
	c   functionConfig
	sem chan struct{} // one token per environment that may be busy

	mu    sync.Mutex
	idle  []*execEnv
	all   map[int]*execEnv
	next  int
	stats fnStats
	wg    sync.WaitGroup
	done  chan struct{}
}

// fnStats are a function's counters, for /_emulator/stats.
type fnStats struct {
	Invocations int       `json:"invocations"`
	Errors      int       `json:"errors"`
	ColdStarts  int       `json:"cold_starts"`
	InitMs      []float64 `json:"init_ms"`
	durations   []float64 // a bounded reservoir of durations (ms)
}

func newFunction(c functionConfig) (*function, error) {
	if c.Max < 1 {
		c.Max = 1
	}
	if _, err := os.Stat(c.Bin); err != nil {
		return nil, fmt.Errorf("function %s: %w", c.Name, err)
	}
	f := &function{c: c, sem: make(chan struct{}, c.Max), all: map[int]*execEnv{}, done: make(chan struct{})}
	for range min(c.Prewarm, c.Max) {
		env, err := f.start()
		if err != nil {
			return nil, err
		}
		f.idle = append(f.idle, env)
	}
	return f, nil
}

// funcError is an error a function reported through /error (or the
// runtime's own: timeout, exit).
type funcError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

func (e *funcError) Error() string { return e.Type + ": " + e.Message }

// invoke runs one invocation and returns the function's response payload.
func (f *function) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: waiting for an execution environment: %w", f.c.Name, ctx.Err())
	case <-f.done:
		return nil, errors.New(f.c.Name + ": shutting down")
	}
	defer func() { <-f.sem }()
	f.mu.Lock()
	var env *execEnv
	if n := len(f.idle); n > 0 {
		env = f.idle[n-1]
		f.idle = f.idle[:n-1]
	}
	f.mu.Unlock()
	if env == nil {
		var err error
		if env, err = f.start(); err != nil {
			return nil, err
		}
	}
	body, err, healthy := env.run(ctx, payload)
	f.mu.Lock()
	f.stats.Invocations++
	if err != nil {
		f.stats.Errors++
	}
	if healthy {
		f.idle = append(f.idle, env)
	} else {
		delete(f.all, env.id)
	}
	f.mu.Unlock()
	if !healthy {
		env.kill()
	}
	return body, err
}

// recordInit and recordDuration feed the stats.
func (f *function) recordInit(d time.Duration) {
	f.mu.Lock()
	f.stats.ColdStarts++
	f.stats.InitMs = append(f.stats.InitMs, ms(d))
	f.mu.Unlock()
}

func (f *function) recordDuration(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	const keep = 20000
	if len(f.stats.durations) < keep {
		f.stats.durations = append(f.stats.durations, ms(d))
	} else {
		f.stats.durations[f.stats.Invocations%keep] = ms(d)
	}
}

// snapshot returns the stats with duration percentiles.
func (f *function) snapshot() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := append([]float64(nil), f.stats.durations...)
	sort.Float64s(d)
	pct := func(p float64) float64 {
		if len(d) == 0 {
			return 0
		}
		return d[min(len(d)-1, int(p*float64(len(d))))]
	}
	return map[string]any{
		"invocations": f.stats.Invocations, "errors": f.stats.Errors, "cold_starts": f.stats.ColdStarts,
		"init_ms": append([]float64{}, f.stats.InitMs...), "environments": len(f.all),
		"duration_ms": map[string]float64{"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1)},
	}
}

// close stops every environment.
func (f *function) close() {
	close(f.done)
	f.mu.Lock()
	envs := make([]*execEnv, 0, len(f.all))
	for _, e := range f.all {
		envs = append(envs, e)
	}
	f.mu.Unlock()
	for _, e := range envs {
		e.kill()
	}
	f.wg.Wait()
}

// execEnv is one execution environment: a process and its Runtime API.
type execEnv struct {
	f       *function
	id      int
	cmd     *exec.Cmd
	srv     *http.Server
	tmp     string
	started time.Time

	invs      chan *invocation
	firstNext sync.Once
	initDur   atomic.Int64 // ns; 0 until the first /next
	cold      atomic.Bool  // the next invocation reports its init
	exited    chan struct{}
	initErr   atomic.Pointer[funcError]

	mu  sync.Mutex
	cur *invocation
}

// invocation is one event on its way through an environment.
type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	res      chan invResult
	started  time.Time
}

type invResult struct {
	body []byte
	err  *funcError
}

// start launches a new execution environment (a cold start).
func (f *function) start() (*execEnv, error) {
	f.mu.Lock()
	f.next++
	id := f.next
	f.mu.Unlock()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("%s: runtime API listener: %w", f.c.Name, err)
	}
	tmp, err := os.MkdirTemp("", fmt.Sprintf("apigw-emu-%s-%d-", f.c.Name, id))
	if err != nil {
		ln.Close()
		return nil, err
	}
	e := &execEnv{f: f, id: id, invs: make(chan *invocation), exited: make(chan struct{}), tmp: tmp}
	e.cold.Store(true)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", e.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", e.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", e.fnError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", e.initError)
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()

	c := f.c
	stream := fmt.Sprintf("%s/[$LATEST]%032x", time.Now().UTC().Format("2006/01/02"), id)
	env := []string{
		"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME=" + c.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(c.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + c.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME=" + stream,
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION=" + c.Region, "AWS_DEFAULT_REGION=" + c.Region,
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_SESSION_TOKEN=local",
		"AWS_EC2_METADATA_DISABLED=true",
		"LAMBDA_TASK_ROOT=" + filepath.Dir(c.Bin),
		"_HANDLER=bootstrap",
		"TZ=:UTC", "LANG=en_US.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin",
		// Each execution environment has its own /tmp.
		"TMPDIR=" + tmp,
	}
	env = append(env, c.Env...)
	cmd := exec.Command(c.Bin)
	if c.Wrapper != "" {
		cmd = exec.Command(c.Wrapper, c.Bin)
	}
	cmd.Env = env
	cmd.Dir = filepath.Dir(c.Bin)
	// Children die with the emulator even if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out := &lineWriter{w: c.Output, prefix: fmt.Sprintf("[%s/env%d] ", c.Name, id)}
	cmd.Stdout, cmd.Stderr = out, out
	e.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = e.srv.Close()
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("%s: start %s: %w", c.Name, c.Bin, err)
	}
	e.cmd = cmd
	f.mu.Lock()
	f.all[id] = e
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		err := cmd.Wait()
		out.flush()
		close(e.exited)
		_ = e.srv.Close()
		_ = os.RemoveAll(tmp)
		if c.Log != nil {
			c.Log.Debug("execution environment exited", "function", c.Name, "env", id, "err", err)
		}
	}()
	return e, nil
}

func (e *execEnv) kill() {
	if e.cmd != nil && e.cmd.Process != nil {
		_ = e.cmd.Process.Kill()
	}
}

// run hands inv to the environment and waits for its result. healthy is
// false when the environment must be discarded (crash, timeout, init
// failure).
func (e *execEnv) run(ctx context.Context, payload []byte) (body []byte, err error, healthy bool) {
	inv := &invocation{id: newID(), payload: payload, res: make(chan invResult, 1), deadline: time.Now().Add(e.f.c.Timeout)}
	timeout := time.NewTimer(e.f.c.Timeout + initAllowance(e))
	defer timeout.Stop()
	select {
	case e.invs <- inv:
	case <-e.exited:
		if ie := e.initErr.Load(); ie != nil {
			return nil, ie, false
		}
		return nil, &funcError{Type: "Runtime.ExitError", Message: "the runtime exited before taking the invocation"}, false
	case <-timeout.C:
		return nil, &funcError{Type: "Sandbox.Timedout", Message: "init did not finish in time"}, false
	case <-ctx.Done():
		return nil, ctx.Err(), true
	}
	select {
	case r := <-inv.res:
		d := time.Since(inv.started)
		e.f.recordDuration(d)
		e.report(inv, d, r.err)
		if r.err != nil {
			return nil, r.err, true
		}
		return r.body, nil, true
	case <-e.exited:
		e.report(inv, time.Since(inv.started), &funcError{Type: "Runtime.ExitError"})
		return nil, &funcError{Type: "Runtime.ExitError", Message: "the runtime exited during the invocation"}, false
	case <-timeout.C:
		e.report(inv, time.Since(inv.started), &funcError{Type: "Sandbox.Timedout"})
		return nil, &funcError{Type: "Sandbox.Timedout", Message: fmt.Sprintf("task timed out after %s", e.f.c.Timeout)}, false
	}
}

// initAllowance lets a cold environment finish its init (Lambda's init
// phase has its own 10 s limit) before the function timeout starts.
func initAllowance(e *execEnv) time.Duration {
	if e.initDur.Load() == 0 {
		return 10 * time.Second
	}
	return 0
}

// report logs one invocation like Lambda's REPORT line.
func (e *execEnv) report(inv *invocation, d time.Duration, ferr *funcError) {
	if e.f.c.Log == nil {
		return
	}
	attrs := []any{"function", e.f.c.Name, "env", e.id, "request_id", inv.id,
		"duration_ms", ms(d), "billed_ms", billed(d), "memory_mb", e.f.c.MemoryMB, "max_rss_mb", maxRSSMB(e.cmd)}
	if e.cold.Swap(false) {
		attrs = append(attrs, "init_ms", ms(time.Duration(e.initDur.Load())))
	}
	if ferr != nil {
		attrs = append(attrs, "error", ferr.Type)
	}
	e.f.c.Log.Info("REPORT", attrs...)
}

// billed rounds up to the millisecond, as Lambda bills.
func billed(d time.Duration) int64 { return (d.Nanoseconds() + 999_999) / 1_000_000 }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// maxRSSMB reads the process's peak resident set (VmHWM) from /proc.
func maxRSSMB(cmd *exec.Cmd) float64 {
	if cmd == nil || cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return float64(int(kb/1024*10)) / 10
		}
	}
	return 0
}

// next is GET /runtime/invocation/next: it blocks until an invocation is
// handed to this environment. The first call ends the init phase.
func (e *execEnv) next(w http.ResponseWriter, r *http.Request) {
	e.firstNext.Do(func() {
		d := time.Since(e.started)
		e.initDur.Store(int64(d))
		e.f.recordInit(d)
		if e.f.c.Log != nil {
			e.f.c.Log.Info("INIT_REPORT", "function", e.f.c.Name, "env", e.id, "init_ms", ms(d))
		}
	})
	var inv *invocation
	select {
	case inv = <-e.invs:
	case <-r.Context().Done():
		return
	case <-e.f.done:
		return
	}
	inv.started = time.Now()
	e.mu.Lock()
	e.cur = inv
	e.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", fmt.Sprintf("arn:aws:lambda:%s:000000000000:function:%s", e.f.c.Region, e.f.c.Name))
	h.Set("Lambda-Runtime-Trace-Id", "Root=1-"+newID()[:8]+"-"+newID()[:24]+";Parent="+newID()[:16]+";Sampled=0")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.payload)
}

// current returns the invocation with request id, if it is this
// environment's current one.
func (e *execEnv) current(id string) *invocation {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil || e.cur.id != id {
		return nil
	}
	inv := e.cur
	e.cur = nil
	return inv
}

func (e *execEnv) response(w http.ResponseWriter, r *http.Request) {
	inv := e.current(r.PathValue("id"))
	if inv == nil {
		runtimeErr(w, http.StatusBadRequest, "InvalidRequestID", "unknown or finished request id")
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 6<<20+1))
	if err != nil || len(b) > 6<<20 {
		inv.res <- invResult{err: &funcError{Type: "Function.ResponseSizeTooLarge", Message: "response payload above 6 MB"}}
		runtimeErr(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "response too large")
		return
	}
	inv.res <- invResult{body: b}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

func (e *execEnv) fnError(w http.ResponseWriter, r *http.Request) {
	inv := e.current(r.PathValue("id"))
	if inv == nil {
		runtimeErr(w, http.StatusBadRequest, "InvalidRequestID", "unknown or finished request id")
		return
	}
	fe := readFuncError(r)
	inv.res <- invResult{err: fe}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

func (e *execEnv) initError(w http.ResponseWriter, r *http.Request) {
	fe := readFuncError(r)
	if fe.Type == "" {
		fe.Type = "Runtime.InitError"
	}
	e.initErr.Store(fe)
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

func readFuncError(r *http.Request) *funcError {
	fe := &funcError{}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	_ = json.Unmarshal(b, fe)
	if fe.Type == "" {
		fe.Type = r.Header.Get("Lambda-Runtime-Function-Error-Type")
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	return fe
}

func runtimeErr(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorType": typ, "errorMessage": msg})
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// lineWriter prefixes each complete line written to it.
type lineWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := indexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(append(l.buf, '\n'))
		l.buf = nil
	}
}

func (l *lineWriter) emit(line []byte) {
	if l.w == nil {
		return
	}
	bw := bufio.NewWriterSize(l.w, len(l.prefix)+len(line))
	_, _ = bw.WriteString(l.prefix)
	_, _ = bw.Write(line)
	_ = bw.Flush()
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
