package host

import (
	"math"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// A plugin call's deadline (Plugin.Timeout) is wall-clock time. On a node
// short of CPU a call can spend it waiting to run rather than running: Go's
// scheduler puts a goroutine preempted in a host call at the back of a run
// queue that may be seconds long, and the call then times out, is answered
// plugin_error and charged to an innocent sender's failure budget (seen
// with the gateway pinned to one core at 4,200 msg/s: docs/PERFORMANCE.md).
//
// So the deadline stretches with the scheduler's lateness: a call gets
// Timeout plus twice the 99th percentile of the Go scheduler's latency
// (runtime/metrics /sched/latencies:seconds: how long runnable goroutines
// waited to run) over the last second, at most MaxStretch × Timeout. On a
// node with CPU to spare the latency is well under a millisecond and the
// deadline is Timeout. A call that runs past the stretched deadline is a
// timeout as before, charged to its sender: a frame that makes a plugin
// spin still spends its sender's budget, at most MaxStretch times as slowly.
// (Forgiving timeouts on a busy node instead would let such frames escape
// the budget, since the spinning calls are what makes the node busy; and
// the call's own CPU time costs two system calls on every call.)

// MaxStretch bounds the stretched deadline: MaxStretch × Plugin.Timeout.
const MaxStretch = 4

const (
	schedLatencies = "/sched/latencies:seconds"
	schedWindow    = 250 * time.Millisecond
	schedWindows   = 4 // the last second
)

// schedWatch samples the scheduler's latency every schedWindow, from the
// first Host on (one goroutine per process, never stopped: a sample takes
// a few microseconds).
type schedWatch struct {
	once   sync.Once
	recent [schedWindows]atomic.Int64 // p99 of each of the last windows, ns
	next   int                        // the sampler's own
	prev   []uint64
}

var sched schedWatch

func (w *schedWatch) start() {
	w.once.Do(func() {
		w.sample() // the baseline
		go func() {
			for range time.Tick(schedWindow) {
				w.sample()
			}
		}()
	})
}

// sample records the 99th percentile of the latencies since the last one.
func (w *schedWatch) sample() {
	s := []metrics.Sample{{Name: schedLatencies}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return
	}
	h := s[0].Value.Float64Histogram()
	if w.prev != nil && len(w.prev) == len(h.Counts) {
		w.recent[w.next].Store(int64(p99(h.Counts, w.prev, h.Buckets) * 1e9))
		w.next = (w.next + 1) % schedWindows
	}
	w.prev = append(w.prev[:0], h.Counts...)
}

// p99 is the 99th percentile of counts minus prev (a histogram over
// buckets, len(buckets) = len(counts)+1), in the buckets' unit: the upper
// bound of its bucket, or the lower one when that is +Inf; 0 with no
// samples.
func p99(counts, prev []uint64, buckets []float64) float64 {
	var total uint64
	for i, c := range counts {
		total += c - prev[i]
	}
	if total == 0 {
		return 0
	}
	want := total - total/100 // the sample ranked 99 % of the way up
	var seen uint64
	for i, c := range counts {
		seen += c - prev[i]
		if seen >= want {
			if up := buckets[i+1]; !math.IsInf(up, 1) {
				return up
			}
			return buckets[i]
		}
	}
	return buckets[len(buckets)-1]
}

// recentP99 is the highest 99th percentile of the last windows.
func (w *schedWatch) recentP99() time.Duration {
	var m int64
	for i := range w.recent {
		m = max(m, w.recent[i].Load())
	}
	return time.Duration(m)
}

// schedLateness is the scheduler's recent lateness the deadlines stretch
// by (a variable for tests).
var schedLateness = sched.recentP99

// deadline is the wall-clock time a call with timeout d gets now.
func deadline(d time.Duration) time.Duration {
	return min(d+2*schedLateness(), MaxStretch*d)
}
