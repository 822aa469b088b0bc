package redis

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// pipeliner sends the script calls of many goroutines (the commits and
// snapshots of every room of the node) to Redis in shared pipelines: a few
// writer goroutines each take the first call waiting, add every other call
// already waiting (up to maxPipeline), and send them as one pipeline — one
// write and one read on the gateway and on Redis for the lot, instead of
// one round trip (two system calls on each side) per call. A writer never
// waits for company: a call on an idle node goes out at once, alone, so
// batching costs no latency; under load the batches grow by themselves.
//
// Calls keep their order only per caller (each waits for its own reply);
// the router serialises a room's commits, so a room's order is kept.
// Nothing is retried: a call whose pipeline failed on the network gets the
// error (the caller's retry is deduplicated), except a NOSCRIPT reply,
// which means the script did not run — it is then run again alone, loading
// the script.
//
// Used in single and Sentinel mode without WaitReplicas; Cluster mode and
// WAIT commits keep one call per round trip (a pipeline there would have
// to be split by master, or share one WAIT).
type pipeliner struct {
	c    goredis.UniversalClient
	reqs chan *pipeCall
	stop chan struct{}
	wg   sync.WaitGroup

	// mu guards closed; run holds it (read) while queueing, so close
	// knows every queued call is in reqs before it stops the writers.
	mu     sync.RWMutex
	closed bool

	// calls and pipelines count the calls sent and the round trips they
	// took (a lone call is a round trip of its own).
	calls, pipelines atomic.Int64
}

// maxPipeline bounds the calls of one pipeline, so one reply buffer stays
// small and a writer hands results back while others queue.
const maxPipeline = 128

// pipeWriters is the number of writer goroutines (and connections busy
// with pipelines at once): one pipeline in flight per writer.
func pipeWriters() int { return max(2, runtime.GOMAXPROCS(0)) }

// pipeCall is one script call waiting for its pipeline.
type pipeCall struct {
	ctx  context.Context
	sc   *goredis.Script
	keys []string
	args []any
	done chan struct{}
	val  any
	err  error
}

var pipeCallPool = sync.Pool{New: func() any { return &pipeCall{done: make(chan struct{}, 1)} }}

func newPipeliner(c goredis.UniversalClient) *pipeliner {
	p := &pipeliner{c: c, reqs: make(chan *pipeCall, 4*maxPipeline), stop: make(chan struct{})}
	for range pipeWriters() {
		p.wg.Add(1)
		go p.write()
	}
	return p
}

// run runs a script through a shared pipeline and returns its reply.
func (p *pipeliner) run(ctx context.Context, sc *goredis.Script, keys []string, args []any) (any, error) {
	pc := pipeCallPool.Get().(*pipeCall)
	pc.ctx, pc.sc, pc.keys, pc.args = ctx, sc, keys, args
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return nil, goredis.ErrClosed
	}
	select {
	case p.reqs <- pc:
		p.mu.RUnlock()
	case <-ctx.Done():
		p.mu.RUnlock()
		*pc = pipeCall{done: pc.done}
		pipeCallPool.Put(pc)
		return nil, ctx.Err()
	}
	// The writer always answers (a call whose context ended before its
	// pipeline went out gets ctx.Err()), so pc can go back to the pool.
	<-pc.done
	val, err := pc.val, pc.err
	*pc = pipeCall{done: pc.done}
	pipeCallPool.Put(pc)
	return val, err
}

// close stops the writers once the calls queued are answered.
func (p *pipeliner) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	p.wg.Wait()
}

// write is a writer goroutine.
func (p *pipeliner) write() {
	defer p.wg.Done()
	batch := make([]*pipeCall, 0, maxPipeline)
	cmds := make([]*goredis.Cmd, 0, maxPipeline)
	for {
		var first *pipeCall
		select {
		case first = <-p.reqs:
		case <-p.stop:
			// Answer what is still queued, then stop.
			for {
				select {
				case pc := <-p.reqs:
					pc.val, pc.err = nil, goredis.ErrClosed
					pc.done <- struct{}{}
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxPipeline {
			select {
			case pc := <-p.reqs:
				batch = append(batch, pc)
			default:
				break fill
			}
		}
		cmds = p.send(batch, cmds[:0])
		clear(cmds)
	}
}

// send runs one pipeline and answers its calls.
func (p *pipeliner) send(batch []*pipeCall, cmds []*goredis.Cmd) []*goredis.Cmd {
	// A call whose own context ended before the pipeline went out is
	// answered at once and not sent. The pipeline is bounded by the latest
	// deadline among the others, so no call is cut short by another's.
	live := batch[:0]
	for _, pc := range batch {
		if err := pc.ctx.Err(); err != nil {
			pc.val, pc.err = nil, err
			pc.done <- struct{}{}
			continue
		}
		live = append(live, pc)
	}
	if len(live) > 0 {
		p.calls.Add(int64(len(live)))
		p.pipelines.Add(1)
	}
	switch len(live) {
	case 0:
		return cmds
	case 1:
		pc := live[0]
		pc.val, pc.err = pc.sc.Run(pc.ctx, p.c, pc.keys, pc.args...).Result()
		pc.done <- struct{}{}
		return cmds
	}
	ctx := context.Background()
	if d, ok := batchDeadline(live); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d)
		defer cancel()
	}
	pipe := p.c.Pipeline()
	for _, pc := range live {
		cmds = append(cmds, pc.sc.EvalSha(ctx, pipe, pc.keys, pc.args...))
	}
	_, _ = pipe.Exec(ctx)
	for i, pc := range live {
		cmd := cmds[i]
		if goredis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			// Not run (a restarted server, a flushed script cache): run
			// it alone, which loads the script.
			pc.val, pc.err = pc.sc.Run(pc.ctx, p.c, pc.keys, pc.args...).Result()
		} else {
			pc.val, pc.err = cmd.Val(), cmd.Err()
			if pc.err != nil && !isReplyError(pc.err) {
				pc.err = fmt.Errorf("pipeline of %d calls: %w", len(live), pc.err)
			}
		}
		pc.done <- struct{}{}
	}
	return cmds
}

// batchDeadline is the latest deadline of the calls, if they all have one.
func batchDeadline(calls []*pipeCall) (d0 time.Time, ok bool) {
	for _, pc := range calls {
		d, has := pc.ctx.Deadline()
		if !has {
			return time.Time{}, false
		}
		if d.After(d0) {
			d0 = d
		}
	}
	return d0, true
}

// isReplyError reports whether err is Redis's answer to the call itself
// (rather than a failure of the pipeline's connection).
func isReplyError(err error) bool {
	_, ok := err.(goredis.Error)
	return ok
}
