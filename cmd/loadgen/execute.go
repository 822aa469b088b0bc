package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// phase names shown in progress lines and the report.
const (
	phaseConnect = "connect"
	phaseSettle  = "settle"
	phaseWarmup  = "warmup"
	phaseMeasure = "measure"
	phaseIdle    = "idle"
	phaseDrain   = "drain"
	phaseClose   = "close"
)

// samples are the /proc readings of one run; nil entries were not taken.
type samples struct {
	serverBefore, serverConnectEnd, serverConnected *ProcSample
	serverWindowStart, serverEnd                    *ProcSample
	selfBefore, selfConnectEnd                      *ProcSample
	selfWindowStart, selfEnd                        *ProcSample
	machineWindowStart, machineEnd                  *MachineSample
	speed                                           SpeedReport
}

// Execute runs the load test to completion (or until ctx is cancelled,
// after which it still closes everything and reports what it saw).
func (r *Run) Execute(ctx context.Context) *Report {
	var (
		phase atomic.Value
		smp   samples
		tm    timings
	)
	phase.Store(phaseConnect)
	sample := func(pid string, dst **ProcSample) {
		if pid == "" {
			return
		}
		s, err := readProc(pid)
		if err != nil {
			r.c.addError("proc_sample", err.Error())
			return
		}
		*dst = &s
	}
	sampleMachine := func(dst **MachineSample) {
		if m, err := readMachine(); err == nil {
			*dst = &m
		}
	}
	serverPID := ""
	if r.cfg.PID > 0 {
		serverPID = strconv.Itoa(r.cfg.PID)
	}
	selfPID := strconv.Itoa(os.Getpid())

	stopProgress := r.startProgress(&phase)
	defer stopProgress()
	defer r.bgCancel()
	if r.cfg.PhasesStdin {
		go r.readControl()
	}

	sample(serverPID, &smp.serverBefore)
	sample(selfPID, &smp.selfBefore)

	// Pollers read the connections (one per CPU the scheduler uses).
	for range max(1, runtime.GOMAXPROCS(0)) {
		p, err := newPoller()
		if err != nil {
			r.c.addError("poller", err.Error())
			break
		}
		r.pollers = append(r.pollers, p)
	}
	defer func() {
		for _, p := range r.pollers {
			p.stop()
		}
	}()

	// Connect.
	tm.connectStart = time.Now()
	r.connectAll(ctx)
	tm.connectEnd = time.Now()
	sample(serverPID, &smp.serverConnectEnd)
	sample(selfPID, &smp.selfConnectEnd)

	// Settle, then the idle sample.
	phase.Store(phaseSettle)
	sleepCtx(ctx, r.cfg.SettleIdle)
	sample(serverPID, &smp.serverConnected)

	if r.cfg.Idle {
		phase.Store(phaseIdle)
		tm.windowStart = time.Now()
		sample(serverPID, &smp.serverWindowStart)
		sample(selfPID, &smp.selfWindowStart)
		sampleMachine(&smp.machineWindowStart)
		probe := startSpeedProbe(speedEvery, speedCalls)
		sleepCtx(ctx, r.cfg.Duration)
		tm.windowEnd = time.Now()
		sample(serverPID, &smp.serverEnd)
		sample(selfPID, &smp.selfEnd)
		sampleMachine(&smp.machineEnd)
		smp.speed = probe.finish()
	} else {
		var probe *speedProbe
		r.publishAll(ctx, &phase, &tm, func() {
			sample(serverPID, &smp.serverWindowStart)
			sample(selfPID, &smp.selfWindowStart)
			sampleMachine(&smp.machineWindowStart)
			probe = startSpeedProbe(speedEvery, speedCalls)
		}, func() {
			sample(serverPID, &smp.serverEnd)
			sample(selfPID, &smp.selfEnd)
			sampleMachine(&smp.machineEnd)
			if probe != nil { // nil when no publisher was connected
				smp.speed = probe.finish()
			}
		})
		phase.Store(phaseDrain)
		r.drain(ctx)
		tm.drainEnd = time.Now()
	}

	phase.Store(phaseClose)
	r.closeAll()
	stopProgress()
	return r.buildReport(tm, smp, ctx.Err() != nil)
}

// timings are the moments a run's phases started and ended.
type timings struct {
	connectStart, connectEnd time.Time
	windowStart, windowEnd   time.Time // the measured window (idle hold)
	drainEnd                 time.Time
}

// connectAll opens every connection, at most Concurrency at once and, if
// ConnectRate is set, no faster than that.
func (r *Run) connectAll(ctx context.Context) {
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i, cl := range r.clients {
		if r.cfg.ConnectRate > 0 {
			due := start.Add(time.Duration(float64(i) / r.cfg.ConnectRate * float64(time.Second)))
			if !sleepCtx(ctx, time.Until(due)) {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.connect(ctx, cl, joinFirst); err != nil {
				r.c.connectFailed.Add(1)
				r.c.addError("connect_failed", err.Error())
			}
		}()
	}
	wg.Wait()
}

// publishAll runs the publishers for warm-up + duration. atStart runs
// when the measured window opens, atEnd when it closes.
func (r *Run) publishAll(ctx context.Context, phase *atomic.Value, tm *timings, atStart, atEnd func()) {
	var pubs []*client
	for _, cl := range r.clients {
		if conn, _ := cl.current(); cl.pub && conn != nil {
			pubs = append(pubs, cl)
		}
	}
	if len(pubs) == 0 {
		r.c.addError("no_publishers", "no publisher connected")
		return
	}
	start := time.Now().Add(100 * time.Millisecond)
	tm.windowStart = start.Add(r.cfg.Warmup)
	tm.windowEnd = tm.windowStart.Add(r.cfg.Duration)
	if r.cfg.PhasesStdin {
		// Everything is measured, until the driver says stop.
		tm.windowStart = start
		tm.windowEnd = start.Add(365 * 24 * time.Hour)
		r.addPhase("steady", unixOf(start))
	}
	r.c.measureStartUnix.Store(unixOf(tm.windowStart))
	r.c.measureEndUnix.Store(unixOf(tm.windowEnd))
	// Every publisher gets the same share; their schedules are staggered
	// evenly so the total is a steady stream, not bursts.
	perPub := r.cfg.Rate / float64(len(pubs))
	interval := time.Duration(float64(time.Second) / perPub)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for j, cl := range pubs {
		offset := time.Duration(int64(interval) * int64(j) / int64(len(pubs)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.publish(pctx, cl, start, offset, interval, tm.windowEnd)
		}()
	}
	r.c.publishing.Store(true)
	phase.Store(phaseWarmup)
	if r.cfg.PhasesStdin {
		phase.Store(phaseMeasure)
		atStart()
		if r.log != nil {
			fmt.Fprintln(r.log, "loadgen: publishing")
		}
		select {
		case <-ctx.Done():
		case <-r.stopPub:
		}
		tm.windowEnd = time.Now()
		r.c.measureEndUnix.Store(unixOf(tm.windowEnd))
	} else if sleepCtx(ctx, time.Until(tm.windowStart)) {
		phase.Store(phaseMeasure)
		atStart()
		sleepCtx(ctx, time.Until(tm.windowEnd))
	}
	cancel()
	wg.Wait()
	if ctx.Err() != nil {
		tm.windowEnd = time.Now()
		r.c.measureEndUnix.Store(unixOf(tm.windowEnd))
	}
	atEnd()
	r.c.publishing.Store(false)
}

// drain waits until every room has received what it should have, every
// message has been answered, or Drain has passed. With -reconnect, where
// a room may rightly receive less (a resync), it also ends once every
// client is connected and joined and nothing has arrived for quietFor.
func (r *Run) drain(ctx context.Context) {
	const quietFor = 2 * time.Second
	deadline := time.Now().Add(r.cfg.Drain)
	last, quietSince := r.c.recvTotal.Load(), time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r.settled() {
			return
		}
		if n := r.c.recvTotal.Load(); n != last {
			last, quietSince = n, time.Now()
		}
		if r.cfg.Reconnect && r.reconnecting.Load() == 0 && r.rejoining.Load() == 0 && time.Since(quietSince) > quietFor {
			return
		}
		sleepCtx(ctx, 20*time.Millisecond)
	}
}

// settled reports whether all expected deliveries and answers arrived.
func (r *Run) settled() bool {
	if r.reconnecting.Load() > 0 || r.rejoining.Load() > 0 {
		return false
	}
	for _, rm := range r.rooms {
		if rm.received.Load() < rm.acked.Load()*uint64(rm.members.Load()) {
			return false
		}
	}
	for _, cl := range r.clients {
		if !cl.pub {
			continue
		}
		cl.mu.Lock()
		n := len(cl.pending)
		cl.mu.Unlock()
		if n > 0 {
			return false
		}
	}
	return true
}

// closeAll closes every connection with a normal closure, many at once,
// and waits for the read loops to end.
func (r *Run) closeAll() {
	for _, cl := range r.clients {
		cl.closing.Store(true)
	}
	r.stopBackground()
	sem := make(chan struct{}, 512)
	var wg sync.WaitGroup
	for _, cl := range r.clients {
		conn, done := cl.current()
		if conn == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// Wait up to 5 s for the server's close frame, then cut the
			// connection.
			_ = conn.close(1000, "loadgen done")
			t := time.NewTimer(5 * time.Second)
			defer t.Stop()
			select {
			case <-done:
			case <-t.C:
				conn.abort()
				<-done
			}
		}()
	}
	wg.Wait()
	for _, cl := range r.clients {
		r.c.duplicates.Add(cl.tr.Duplicates)
		r.c.gaps.Add(cl.tr.Gaps())
		r.c.reorders.Add(cl.tr.Reorders)
		for i := range cl.pubTr {
			t := &cl.pubTr[i]
			r.c.duplicates.Add(t.Duplicates)
			r.c.gaps.Add(t.Gaps())
			r.c.reorders.Add(t.Reorders)
		}
	}
}

// startProgress prints a progress line to r.log every second until the
// returned function is called (idempotent).
func (r *Run) startProgress(phase *atomic.Value) (stop func()) {
	if r.cfg.Quiet || r.log == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		var lastSent, lastAck, lastRecv uint64
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			sent := r.c.sentTotal.Load()
			ack := r.c.ackedTotal.Load()
			recv := r.c.recvTotal.Load() + r.c.ephemeralRecv.Load()
			r.c.errMu.Lock()
			var nerr uint64
			for _, n := range r.c.errors {
				nerr += n
			}
			r.c.errMu.Unlock()
			fmt.Fprintf(r.log, "[%5.1fs] %-7s conns=%d/%d sent/s=%d acked/s=%d recv/s=%d p99=%.1fms max=%.1fms errors=%d\n",
				time.Since(start).Seconds(), phase.Load(), r.c.connected.Load(), len(r.clients),
				sent-lastSent, ack-lastAck, recv-lastRecv,
				ms(r.latAll.Quantile(0.99)), ms(r.latAll.Max()), nerr)
			lastSent, lastAck, lastRecv = sent, ack, recv
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
}

// sleepCtx sleeps for d or until ctx is done; it reports whether the
// whole duration passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
