package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
)

// Report is everything a run measured. Counts of messages and deliveries
// cover the measured window unless named "total".
type Report struct {
	Settings    Settings       `json:"settings"`
	Interrupted bool           `json:"interrupted,omitempty"`
	Connections ConnReport     `json:"connections"`
	Messages    MessageReport  `json:"messages"`
	Deliveries  DeliveryReport `json:"deliveries"`
	Order       OrderReport    `json:"order"`
	Latency     LatencySummary `json:"latency"`     // end to end, scheduled send → received
	AckLatency  LatencySummary `json:"ack_latency"` // scheduled send → ack
	// ToStamp and FromStamp split Latency at the gateway's ts stamp
	// (millisecond resolution): scheduled send → sequenced, and
	// sequenced → received.
	ToStamp   LatencySummary `json:"to_stamp"`
	FromStamp LatencySummary `json:"from_stamp"`
	// SendLag is how late loadgen itself started each write after its
	// slot came due: a part of ToStamp that is not the gateway's.
	SendLag     LatencySummary    `json:"send_lag"`
	Server      *ProcessReport    `json:"server,omitempty"`
	Loadgen     *ProcessReport    `json:"loadgen,omitempty"`
	Machine     *MachineReport    `json:"machine,omitempty"`
	Errors      map[string]uint64 `json:"errors"`
	CloseCodes  map[string]uint64 `json:"close_codes,omitempty"`
	ErrorSample []string          `json:"error_sample,omitempty"`
	// Verify is the per-message, per-member verdict (-verify); when
	// present it decides Pass instead of the room totals.
	Verify   *VerifyReport `json:"verify,omitempty"`
	Pass     bool          `json:"pass"`
	Failures []string      `json:"failures,omitempty"`
}

// Settings echo the configuration of the run.
type Settings struct {
	Peer        string   `json:"peer"` // the server's protocol (-peer)
	URLs        []string `json:"urls"`
	Rooms       int      `json:"rooms"`
	Users       int      `json:"users_per_room"`
	Publishers  int      `json:"publishers_per_room"`
	Rate        float64  `json:"rate"`
	Mix         string   `json:"mix"`
	Duration    float64  `json:"duration_s"`
	Warmup      float64  `json:"warmup_s"`
	Idle        bool     `json:"idle"`
	ConnectRate float64  `json:"connect_rate"`
}

// ConnReport describes the connection phase.
type ConnReport struct {
	Target      int            `json:"target"`
	Connected   int64          `json:"connected"`
	Failed      int64          `json:"failed"`
	Seconds     float64        `json:"seconds"`
	PerSecond   float64        `json:"per_second"`
	Handshake   LatencySummary `json:"handshake"` // dial → joined, per connection
	Upgrade     LatencySummary `json:"upgrade"`   // dial → WebSocket upgraded (the rest is the join)
	Disconnects uint64         `json:"unexpected_disconnects"`
	Reconnects  uint64         `json:"reconnects,omitempty"` // -reconnect: successful reconnections
	// RejoinRetries counts re-joins after a resync sent again because the
	// first was answered with an error.
	RejoinRetries uint64 `json:"rejoin_retries,omitempty"`
}

// MessageReport counts what the publishers sent.
type MessageReport struct {
	SentTotal    uint64  `json:"sent_total"`
	Sent         uint64  `json:"sent"`
	Acked        uint64  `json:"acked"`
	Unanswered   uint64  `json:"unanswered"`
	Cut          uint64  `json:"cut,omitempty"`     // in flight on a connection that ended unexpectedly (-reconnect)
	Retries      uint64  `json:"retries,omitempty"` // re-sends after an internal error (-retry)
	SendFailed   uint64  `json:"send_failed"`
	LateSends    uint64  `json:"late_sends"` // sent more than one interval after their slot
	SentPerSec   float64 `json:"sent_per_s"`
	AckedDurable uint64  `json:"acked_durable"`
}

// DeliveryReport compares expected and received deliveries.
type DeliveryReport struct {
	Expected      uint64  `json:"expected"`
	Received      uint64  `json:"received"`
	Lost          uint64  `json:"lost"`
	Extra         uint64  `json:"extra"`
	LossRatio     float64 `json:"loss_ratio"`
	PerSecond     float64 `json:"per_s"`
	ReceivedTotal uint64  `json:"received_total"`
	Ephemeral     uint64  `json:"ephemeral_total"`
	OtherEvents   uint64  `json:"other_events_total"`
	RoomsWithLoss int     `json:"rooms_with_loss"`
}

// OrderReport counts sequence anomalies over all connections.
type OrderReport struct {
	Duplicates uint64 `json:"duplicates"`
	Gaps       uint64 `json:"gaps"`
	Reorders   uint64 `json:"reorders"`
	Resyncs    uint64 `json:"resyncs"`
	BadFrames  uint64 `json:"bad_frames"`
}

// MachineReport is the whole machine's CPU use over the measured window:
// other processes sharing the machine show up as Others.
type MachineReport struct {
	CPUs       int     `json:"cpus"`
	BusyPct    float64 `json:"busy_percent"`   // of one core; 100 × CPUs = all busy
	OthersPct  float64 `json:"others_percent"` // busy minus server and loadgen (when the server's pid is known)
	Load1Start float64 `json:"load1_start"`
	Load1End   float64 `json:"load1_end"`
	// Speed: the CPU time of a system call while the window was measured
	// (speed.go): the same figure higher means the machine ran slower.
	Speed SpeedReport `json:"speed"`
}

// ProcessReport is a process's memory and CPU use.
type ProcessReport struct {
	RSSBeforeMiB    float64 `json:"rss_before_mib,omitempty"`
	RSSConnectedMiB float64 `json:"rss_connected_mib,omitempty"`
	RSSEndMiB       float64 `json:"rss_end_mib"`
	RSSPerConnKiB   float64 `json:"rss_per_conn_kib,omitempty"` // (connected - before) / connections
	CPUPercent      float64 `json:"cpu_percent"`                // of one core, over the measured window
	CPUSeconds      float64 `json:"cpu_seconds"`
	ConnectCPU      float64 `json:"connect_cpu_percent,omitempty"` // of one core, while connecting
}

const mib = 1 << 20

func (r *Run) buildReport(tm timings, smp samples, interrupted bool) *Report {
	cfg := r.cfg
	rep := &Report{
		Settings: Settings{
			Peer: r.proto.name(), URLs: cfg.URLs, Rooms: cfg.Rooms, Users: cfg.Users, Publishers: cfg.Publishers,
			Rate: cfg.Rate, Mix: cfg.Mix.String(), Duration: cfg.Duration.Seconds(),
			Warmup: cfg.Warmup.Seconds(), Idle: cfg.Idle, ConnectRate: cfg.ConnectRate,
		},
		Interrupted: interrupted,
		Latency:     r.lat.Summary(),
		AckLatency:  r.ackLat.Summary(),
		ToStamp:     r.inLat.Summary(),
		FromStamp:   r.outLat.Summary(),
		SendLag:     r.sendLag.Summary(),
	}
	if cfg.Idle {
		rep.Settings.Publishers, rep.Settings.Rate, rep.Settings.Mix, rep.Settings.Warmup = 0, 0, "", 0
	}
	cs := tm.connectEnd.Sub(tm.connectStart).Seconds()
	rep.Connections = ConnReport{
		Target: len(r.clients), Connected: r.c.connected.Load(), Failed: r.c.connectFailed.Load(),
		Seconds: round(cs, 3), Handshake: r.connectLat.Summary(), Upgrade: r.dialLat.Summary(), Disconnects: r.c.disconnects.Load(),
		Reconnects: r.c.reconnects.Load(), RejoinRetries: r.c.rejoinRetries.Load(),
	}
	if cs > 0 {
		rep.Connections.PerSecond = round(float64(rep.Connections.Connected)/cs, 1)
	}
	window := tm.windowEnd.Sub(tm.windowStart).Seconds()
	rep.Messages = MessageReport{
		SentTotal: r.c.sentTotal.Load(), Sent: r.c.sentWindow.Load(), Acked: r.c.ackedWindow.Load(),
		SendFailed: r.c.sendFailures.Load(), LateSends: r.c.lateSends.Load(),
		AckedDurable: r.c.ackedDurableWindow.Load(), Cut: r.c.cutPending.Load(), Retries: r.c.retries.Load(),
	}
	var pending uint64
	for _, cl := range r.clients {
		cl.mu.Lock()
		for _, p := range cl.pending {
			if r.c.inWindow(p.sched) {
				pending++
			}
		}
		cl.mu.Unlock()
	}
	rep.Messages.Unanswered = pending
	d := DeliveryReport{
		ReceivedTotal: r.c.recvTotal.Load(), Ephemeral: r.c.ephemeralRecv.Load(),
		OtherEvents: r.c.otherRecv.Load(),
	}
	for _, rm := range r.rooms {
		exp := rm.acked.Load() * uint64(rm.members.Load())
		got := rm.received.Load()
		d.Expected += exp
		d.Received += got
		if got < exp {
			d.Lost += exp - got
			d.RoomsWithLoss++
		} else {
			d.Extra += got - exp
		}
	}
	if d.Expected > 0 {
		d.LossRatio = float64(d.Lost) / float64(d.Expected)
	}
	if window > 0 {
		d.PerSecond = round(float64(d.Received)/window, 1)
		rep.Messages.SentPerSec = round(float64(rep.Messages.Sent)/window, 1)
	}
	rep.Deliveries = d
	rep.Order = OrderReport{
		Duplicates: r.c.duplicates.Load(), Gaps: r.c.gaps.Load(), Reorders: r.c.reorders.Load(),
		Resyncs: r.c.resyncs.Load(), BadFrames: r.c.badFrames.Load(),
	}
	r.c.errMu.Lock()
	rep.Errors = map[string]uint64{}
	for k, v := range r.c.errors {
		rep.Errors[k] = v
	}
	if len(r.c.closeCodes) > 0 {
		rep.CloseCodes = map[string]uint64{}
		for k, v := range r.c.closeCodes {
			rep.CloseCodes[k] = v
		}
	}
	rep.ErrorSample = append([]string(nil), r.c.firstErrs...)
	r.c.errMu.Unlock()

	conns := rep.Connections.Connected
	rep.Server = processReport(smp.serverBefore, smp.serverConnected, smp.serverWindowStart, smp.serverEnd, conns)
	rep.Loadgen = processReport(nil, nil, smp.selfWindowStart, smp.selfEnd, conns)
	if rep.Server != nil && smp.serverBefore != nil && smp.serverConnectEnd != nil {
		rep.Server.ConnectCPU = round(cpuPercent(*smp.serverBefore, *smp.serverConnectEnd), 1)
	}
	if rep.Loadgen != nil && smp.selfBefore != nil && smp.selfConnectEnd != nil {
		rep.Loadgen.ConnectCPU = round(cpuPercent(*smp.selfBefore, *smp.selfConnectEnd), 1)
	}
	if a, b := smp.machineWindowStart, smp.machineEnd; a != nil && b != nil {
		m := &MachineReport{CPUs: runtime.NumCPU(), BusyPct: round(machinePercent(*a, *b), 1), Load1Start: a.Load1, Load1End: b.Load1, Speed: smp.speed}
		if rep.Server != nil && rep.Loadgen != nil {
			m.OthersPct = round(m.BusyPct-rep.Server.CPUPercent-rep.Loadgen.CPUPercent, 1)
		}
		rep.Machine = m
	}
	if cfg.Verify {
		rep.Verify = r.verify()
	}
	rep.judge(cfg)
	return rep
}

func processReport(before, connected, winStart, end *ProcSample, conns int64) *ProcessReport {
	if end == nil {
		return nil
	}
	p := &ProcessReport{RSSEndMiB: round(float64(end.RSS)/mib, 1)}
	if before != nil {
		p.RSSBeforeMiB = round(float64(before.RSS)/mib, 1)
	}
	if connected != nil {
		p.RSSConnectedMiB = round(float64(connected.RSS)/mib, 1)
		if before != nil && conns > 0 {
			p.RSSPerConnKiB = round(float64(connected.RSS-before.RSS)/1024/float64(conns), 2)
		}
	}
	if winStart != nil {
		p.CPUPercent = round(cpuPercent(*winStart, *end), 1)
		p.CPUSeconds = round((end.CPUTime - winStart.CPUTime).Seconds(), 2)
	}
	return p
}

// judge decides Pass and lists why not.
func (rep *Report) judge(cfg Config) {
	var f []string
	add := func(cond bool, format string, args ...any) {
		if cond {
			f = append(f, fmt.Sprintf(format, args...))
		}
	}
	add(rep.Interrupted, "interrupted")
	if rep.Verify != nil {
		// Faults are the point of such a run: disconnects, errors and
		// resyncs are expected; what must hold is the ledger's verdict.
		add(rep.Connections.Failed > 0, "%d connections failed", rep.Connections.Failed)
		add(rep.Order.BadFrames > 0, "%d bad frames", rep.Order.BadFrames)
		add(rep.Errors["bad_marker"] > 0, "%d deliveries with a bad marker", rep.Errors["bad_marker"])
		f = append(f, rep.Verify.Failures()...)
		rep.Failures = f
		rep.Pass = len(f) == 0
		return
	}
	add(rep.Connections.Failed > 0, "%d connections failed", rep.Connections.Failed)
	add(rep.Connections.Disconnects > 0, "%d unexpected disconnects", rep.Connections.Disconnects)
	add(rep.Deliveries.Lost > 0, "%d deliveries lost", rep.Deliveries.Lost)
	add(rep.Deliveries.Extra > 0, "%d deliveries more than expected", rep.Deliveries.Extra)
	add(rep.Order.Duplicates > 0, "%d duplicate events", rep.Order.Duplicates)
	add(rep.Order.Gaps > 0, "%d seq gaps", rep.Order.Gaps)
	add(rep.Order.Reorders > 0, "%d reordered events", rep.Order.Reorders)
	add(rep.Order.Resyncs > 0, "%d resyncs", rep.Order.Resyncs)
	add(rep.Messages.Unanswered > 0, "%d messages never answered", rep.Messages.Unanswered)
	var errs []string
	for k, v := range rep.Errors {
		if k != "disconnected" && k != "connect_failed" { // already listed
			errs = append(errs, fmt.Sprintf("%s=%d", k, v))
		}
	}
	sort.Strings(errs)
	add(len(errs) > 0, "errors: %s", strings.Join(errs, " "))
	if !cfg.Idle {
		add(cfg.Mix.HasDurable() && rep.Messages.AckedDurable == 0 && !rep.Interrupted, "no durable message acknowledged in the window")
	}
	if cfg.MaxP99 > 0 && !cfg.Idle {
		add(rep.Latency.P99 > ms(cfg.MaxP99), "p99 %.1f ms above %v", rep.Latency.P99, cfg.MaxP99)
	}
	rep.Failures = f
	rep.Pass = len(f) == 0
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	return nil
}

// WriteText writes the report for humans.
func (rep *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	s := rep.Settings
	if s.Peer != "" && s.Peer != PeerClassgate {
		p("peer          %s", s.Peer)
	}
	if s.Idle {
		p("loadgen: %d rooms × %d users, idle for %gs, %s", s.Rooms, s.Users, s.Duration, strings.Join(s.URLs, ","))
	} else {
		p("loadgen: %d rooms × %d users, %d publisher(s)/room, %.0f msg/s (%s), warm-up %gs, measured %gs, %s",
			s.Rooms, s.Users, s.Publishers, s.Rate, s.Mix, s.Warmup, s.Duration, strings.Join(s.URLs, ","))
	}
	c := rep.Connections
	p("connections   %d/%d in %.2fs (%.0f/s), failed %d, unexpected disconnects %d", c.Connected, c.Target, c.Seconds, c.PerSecond, c.Failed, c.Disconnects)
	p("handshake     p50 %.1fms  p99 %.1fms  max %.1fms (dial → joined); upgrade alone p50 %.1fms  p99 %.1fms",
		c.Handshake.P50, c.Handshake.P99, c.Handshake.Max, c.Upgrade.P50, c.Upgrade.P99)
	if !s.Idle {
		m := rep.Messages
		p("messages      sent %d (%.0f/s), acked %d, unanswered %d, send failures %d, late sends %d, sent in total %d",
			m.Sent, m.SentPerSec, m.Acked, m.Unanswered, m.SendFailed, m.LateSends, m.SentTotal)
		d := rep.Deliveries
		p("deliveries    expected %d, received %d (%.0f/s), lost %d (%.4f%%, %d rooms), extra %d; ephemeral %d, other events %d",
			d.Expected, d.Received, d.PerSecond, d.Lost, 100*d.LossRatio, d.RoomsWithLoss, d.Extra, d.Ephemeral, d.OtherEvents)
		l := rep.Latency
		p("latency       p50 %.2fms  p95 %.2fms  p99 %.2fms  p99.9 %.2fms  max %.2fms  (n=%d, scheduled send → received)", l.P50, l.P95, l.P99, l.P999, l.Max, l.Count)
		a := rep.AckLatency
		p("ack latency   p50 %.2fms  p99 %.2fms  max %.2fms", a.P50, a.P99, a.Max)
		ti, to := rep.ToStamp, rep.FromStamp
		if ti.Count > 0 {
			p("latency split send → gateway stamp p50 %.1fms  p99 %.1fms; stamp → received p50 %.1fms  p99 %.1fms (±1 ms); loadgen's send lag p50 %.2fms  p99 %.2fms", ti.P50, ti.P99, to.P50, to.P99, rep.SendLag.P50, rep.SendLag.P99)
		} else {
			p("latency split none (the server sends no stamp); loadgen's send lag p50 %.2fms  p99 %.2fms", rep.SendLag.P50, rep.SendLag.P99)
		}
	}
	o := rep.Order
	p("order         duplicates %d, gaps %d, reorders %d, resyncs %d, bad frames %d", o.Duplicates, o.Gaps, o.Reorders, o.Resyncs, o.BadFrames)
	if sv := rep.Server; sv != nil {
		p("server        RSS %.1f → %.1f MiB connected (%.2f KiB/conn), %.1f MiB at end; CPU %.1f%% of a core (%.2fs) measured, %.1f%% while connecting",
			sv.RSSBeforeMiB, sv.RSSConnectedMiB, sv.RSSPerConnKiB, sv.RSSEndMiB, sv.CPUPercent, sv.CPUSeconds, sv.ConnectCPU)
	}
	if lg := rep.Loadgen; lg != nil {
		p("loadgen       RSS %.1f MiB at end; CPU %.1f%% of a core (%.2fs) measured, %.1f%% while connecting", lg.RSSEndMiB, lg.CPUPercent, lg.CPUSeconds, lg.ConnectCPU)
	}
	if m := rep.Machine; m != nil {
		p("machine       %d CPUs %.0f%% busy (%.0f%% = all), others %.0f%%; load average %.2f → %.2f; a system call %.0f ns of CPU (median; largest %.0f, %d samples)",
			m.CPUs, m.BusyPct, 100*float64(m.CPUs), m.OthersPct, m.Load1Start, m.Load1End, m.Speed.SyscallP50, m.Speed.SyscallMax, m.Speed.Samples)
	}
	if len(rep.Errors) > 0 {
		keys := make([]string, 0, len(rep.Errors))
		for k := range rep.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%d", k, rep.Errors[k])
		}
		p("errors        %s", strings.Join(parts, " "))
		for _, e := range rep.ErrorSample {
			p("  e.g. %s", e)
		}
	}
	if len(rep.CloseCodes) > 0 {
		p("close codes   %v", rep.CloseCodes)
	}
	if rep.Verify != nil {
		p("verification  %d members verified, %d dropped; per phase (deliveries = acked messages × members):", rep.Verify.Members, rep.Verify.Dropped)
		b.WriteString(rep.Verify.Table())
		for _, l := range rep.Verify.LostSample {
			p("  lost: %s", l)
		}
		for _, l := range rep.Verify.LateSample {
			p("  out of order: %s", l)
		}
	}
	if rep.Pass {
		p("result        PASS")
	} else {
		p("result        FAIL: %s", strings.Join(rep.Failures, "; "))
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}

// WriteMarkdown writes the key figures as a two-column Markdown table.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	row := func(k, format string, args ...any) { fmt.Fprintf(&b, "| %s | %s |\n", k, fmt.Sprintf(format, args...)) }
	s := rep.Settings
	b.WriteString("| figure | value |\n| --- | --- |\n")
	if s.Peer != "" && s.Peer != PeerClassgate {
		row("server", "%s (peer)", s.Peer)
	}
	if s.Idle {
		row("load", "%d rooms × %d users, idle %gs", s.Rooms, s.Users, s.Duration)
	} else {
		row("load", "%d rooms × %d users, %d publisher(s)/room, %.0f msg/s (%s), %gs measured", s.Rooms, s.Users, s.Publishers, s.Rate, s.Mix, s.Duration)
	}
	c := rep.Connections
	row("connections", "%d/%d in %.2f s (%.0f/s)", c.Connected, c.Target, c.Seconds, c.PerSecond)
	row("handshake p50 / p99", "%.1f / %.1f ms", c.Handshake.P50, c.Handshake.P99)
	if !s.Idle {
		m, d, l := rep.Messages, rep.Deliveries, rep.Latency
		row("sent / acked", "%d / %d (%.0f/s)", m.Sent, m.Acked, m.SentPerSec)
		row("deliveries expected / received", "%d / %d (%.0f/s)", d.Expected, d.Received, d.PerSecond)
		row("lost / extra / dup / gaps / reorders", "%d / %d / %d / %d / %d", d.Lost, d.Extra, rep.Order.Duplicates, rep.Order.Gaps, rep.Order.Reorders)
		row("latency p50 / p95 / p99 / max", "%.2f / %.2f / %.2f / %.2f ms", l.P50, l.P95, l.P99, l.Max)
		if rep.ToStamp.Count > 0 {
			row("p99 before / after the gateway's stamp", "%.1f / %.1f ms", rep.ToStamp.P99, rep.FromStamp.P99)
		}
	}
	if sv := rep.Server; sv != nil {
		row("server RSS per connection", "%.1f KiB", sv.RSSPerConnKiB)
		row("server CPU", "%.0f %% of a core", sv.CPUPercent)
	}
	if lg := rep.Loadgen; lg != nil {
		row("loadgen CPU", "%.0f %% of a core", lg.CPUPercent)
	}
	if m := rep.Machine; m != nil {
		row("machine busy / others", "%.0f %% / %.0f %% (of %d00 %%)", m.BusyPct, m.OthersPct, m.CPUs)
		row("machine speed: CPU per system call, median / largest", "%.0f / %.0f ns", m.Speed.SyscallP50, m.Speed.SyscallMax)
	}
	if rep.Verify != nil {
		row("verified members / dropped", "%d / %d", rep.Verify.Members, rep.Verify.Dropped)
	}
	if rep.Pass {
		row("result", "PASS")
	} else {
		row("result", "FAIL: %s", strings.Join(rep.Failures, "; "))
	}
	if rep.Verify != nil {
		b.WriteString("\n")
		b.WriteString(rep.Verify.Table())
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
