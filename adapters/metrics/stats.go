package metrics

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/classgate/classgate/internal/dashstats"
)

// StatsWindow is the span (*Metrics).Stats aims to cover.
const StatsWindow = 30 * time.Second

// statsSpacing is the minimum time between two kept readings.
const statsSpacing = time.Second

// reading is one pass over Metrics' collectors, reduced to what Stats
// needs.
type reading struct {
	at          time.Time
	connections float64
	rooms       float64
	totals      dashstats.Totals
	errorsBy    map[string]float64
	framesBy    map[string]float64
	plugins     map[[2]string]*pluginReading
	fanout      hist
	store       hist
}

type pluginReading struct {
	calls, errors float64
	dur           hist
}

// hist is a cumulative histogram: counts[i] observations ≤ bounds[i], the
// last bound being +Inf.
type hist struct {
	bounds []float64
	counts []float64
}

// stats keeps the recent readings (bounded ring) for windowed rates.
type stats struct {
	mu       sync.Mutex
	readings []*reading
}

// Stats reads the metrics (see read) and summarises them over the last
// StatsWindow for the operator dashboard (see dashstats.Stats): read from
// the very collectors the Observer hooks update and /metrics serves (no
// parsing of the exposition, no lookup by metric name), so it always
// agrees with /metrics. Safe for concurrent use; cheap enough for a
// dashboard polling every second or two.
func (m *Metrics) Stats() (dashstats.Stats, error) {
	cur, err := m.read(m.now())
	if err != nil {
		return dashstats.Stats{}, err
	}
	m.stats.mu.Lock()
	base := m.stats.pick(cur.at)
	m.stats.keep(cur)
	m.stats.mu.Unlock()
	return summarise(cur, base), nil
}

// pick returns the oldest kept reading at most StatsWindow older than now,
// or else the newest one; nil when there is none.
func (s *stats) pick(now time.Time) *reading {
	var base *reading
	for _, r := range s.readings {
		if now.Sub(r.at) <= StatsWindow && now.After(r.at) {
			return r
		}
		base = r
	}
	if base != nil && !now.After(base.at) {
		return nil
	}
	return base
}

// keep appends r unless the newest kept reading is less than statsSpacing
// old, and drops readings that no longer matter.
func (s *stats) keep(r *reading) {
	if n := len(s.readings); n > 0 && r.at.Sub(s.readings[n-1].at) < statsSpacing {
		return
	}
	s.readings = append(s.readings, r)
	// Keep one reading older than the window (a base when polling is
	// sparse) and everything within it; cap the ring's length.
	cut := 0
	for i := 0; i+1 < len(s.readings) && r.at.Sub(s.readings[i+1].at) > StatsWindow; i++ {
		cut = i + 1
	}
	if maxKeep := int(StatsWindow/statsSpacing) + 2; len(s.readings)-cut > maxKeep {
		cut = len(s.readings) - maxKeep
	}
	s.readings = append(s.readings[:0], s.readings[cut:]...)
}

// read takes one reading of Metrics' own collectors (the counters,
// gauges and histograms the Observer hooks update, which /metrics
// serves too): no registry gathering, no lookup by metric name.
func (m *Metrics) read(at time.Time) (*reading, error) {
	r := &reading{at: at, errorsBy: map[string]float64{}, framesBy: map[string]float64{}, plugins: map[[2]string]*pluginReading{}}
	var errs []error
	one := func(c prometheus.Metric) *dto.Metric {
		var d dto.Metric
		if err := c.Write(&d); err != nil {
			errs = append(errs, fmt.Errorf("metrics: reading %s: %w", c.Desc(), err))
		}
		return &d
	}
	counter := func(c prometheus.Counter) float64 { return one(c).GetCounter().GetValue() }
	// each calls f with every series of a vector, its labels by name.
	each := func(vec prometheus.Collector, f func(lbl map[string]string, d *dto.Metric)) {
		ch := make(chan prometheus.Metric)
		go func() {
			vec.Collect(ch)
			close(ch)
		}()
		for c := range ch {
			d := one(c)
			f(labels(d), d)
		}
	}
	plugin := func(k [2]string) *pluginReading {
		p := r.plugins[k]
		if p == nil {
			p = &pluginReading{}
			r.plugins[k] = p
		}
		return p
	}

	r.connections = one(m.connections).GetGauge().GetValue()
	r.rooms = one(m.rooms).GetGauge().GetValue()
	t := &r.totals
	t.Joins, t.Acks = counter(m.joins), counter(m.acks)
	t.RateLimited, t.Duplicates = counter(m.rateLimited), counter(m.duplicates)
	t.SlowClosures = counter(m.slow)
	t.Replayed, t.Resyncs = counter(m.replayed), counter(m.resyncs)
	each(m.framesIn.vec, func(lbl map[string]string, d *dto.Metric) {
		v := d.GetCounter().GetValue()
		t.FramesIn += v
		r.framesBy[lbl["type"]] += v
	})
	each(m.framesOut.vec, func(_ map[string]string, d *dto.Metric) { t.FramesOut += d.GetCounter().GetValue() })
	each(m.deliveries.vec, func(_ map[string]string, d *dto.Metric) { t.Deliveries += d.GetCounter().GetValue() })
	each(m.errorsSent.vec, func(lbl map[string]string, d *dto.Metric) {
		v := d.GetCounter().GetValue()
		t.Errors += v
		r.errorsBy[lbl["code"]] += v
	})
	each(m.storeErrs.vec, func(_ map[string]string, d *dto.Metric) { t.StoreErrors += d.GetCounter().GetValue() })
	r.fanout = r.fanout.add(one(m.fanout).GetHistogram())
	each(m.storeDur.vec, func(_ map[string]string, d *dto.Metric) { r.store = r.store.add(d.GetHistogram()) })
	each(m.pluginCalls.vec, func(lbl map[string]string, d *dto.Metric) {
		v := d.GetCounter().GetValue()
		p := plugin([2]string{lbl["plugin"], lbl["version"]})
		p.calls += v
		if o := lbl["outcome"]; o != OutcomeOK && o != OutcomeRejected {
			p.errors += v
		}
	})
	each(m.pluginDur.vec, func(lbl map[string]string, d *dto.Metric) {
		p := plugin([2]string{lbl["plugin"], lbl["version"]})
		p.dur = p.dur.add(d.GetHistogram())
	})
	for _, p := range r.plugins {
		t.PluginCalls += p.calls
		t.PluginErrors += p.errors
	}
	return r, errors.Join(errs...)
}

func labels(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// add merges a Prometheus histogram into h (same bucket layout expected;
// a different layout replaces h).
func (h hist) add(p *dto.Histogram) hist {
	bounds := make([]float64, 0, len(p.GetBucket())+1)
	counts := make([]float64, 0, len(p.GetBucket())+1)
	for _, b := range p.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		bounds = append(bounds, b.GetUpperBound())
		counts = append(counts, float64(b.GetCumulativeCount()))
	}
	bounds = append(bounds, math.Inf(1))
	counts = append(counts, float64(p.GetSampleCount()))
	if len(h.bounds) != len(bounds) {
		return hist{bounds: bounds, counts: counts}
	}
	sum := make([]float64, len(counts))
	for i := range counts {
		sum[i] = h.counts[i] + counts[i]
	}
	return hist{bounds: bounds, counts: sum}
}

// sub returns h − base (the observations between two readings).
func (h hist) sub(base hist) hist {
	if len(base.counts) != len(h.counts) {
		return h
	}
	out := hist{bounds: h.bounds, counts: make([]float64, len(h.counts))}
	for i := range h.counts {
		out.counts[i] = max(h.counts[i]-base.counts[i], 0)
	}
	return out
}

// quantile estimates the q-quantile like PromQL's histogram_quantile:
// linear interpolation inside the bucket, the highest finite bound when
// the rank falls in the +Inf bucket. ok is false without observations.
func (h hist) quantile(q float64) (float64, bool) {
	n := len(h.counts)
	if n == 0 || h.counts[n-1] == 0 {
		return 0, false
	}
	rank := q * h.counts[n-1]
	i := sort.Search(n, func(i int) bool { return h.counts[i] >= rank })
	if i >= n-1 {
		if n >= 2 {
			return h.bounds[n-2], true
		}
		return 0, false
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = h.bounds[i-1], h.counts[i-1]
	}
	in := h.counts[i] - below
	if in <= 0 {
		return h.bounds[i], true
	}
	return lower + (h.bounds[i]-lower)*(rank-below)/in, true
}

func quantilePtr(h hist, q float64) *float64 {
	if v, ok := h.quantile(q); ok {
		return &v
	}
	return nil
}

func summarise(cur, base *reading) dashstats.Stats {
	s := dashstats.Stats{
		Time: cur.at, Connections: cur.connections, Rooms: cur.rooms, Totals: cur.totals,
		ErrorsByCode: map[string]float64{}, FramesInByType: map[string]float64{}, Plugins: []dashstats.PluginStats{},
	}
	fanout, store := cur.fanout, cur.store
	var dt float64
	if base != nil {
		dt = cur.at.Sub(base.at).Seconds()
		fanout, store = fanout.sub(base.fanout), store.sub(base.store)
	}
	s.WindowSeconds = dt
	rate := func(now, then float64) float64 {
		if dt <= 0 {
			return 0
		}
		return max(now-then, 0) / dt
	}
	var bt dashstats.Totals
	if base != nil {
		bt = base.totals
	}
	ct := cur.totals
	s.Rates = dashstats.Rates{
		FramesIn: rate(ct.FramesIn, bt.FramesIn), FramesOut: rate(ct.FramesOut, bt.FramesOut),
		Deliveries: rate(ct.Deliveries, bt.Deliveries), Joins: rate(ct.Joins, bt.Joins),
		Errors: rate(ct.Errors, bt.Errors), RateLimited: rate(ct.RateLimited, bt.RateLimited),
		PluginCalls: rate(ct.PluginCalls, bt.PluginCalls), PluginErrors: rate(ct.PluginErrors, bt.PluginErrors),
		StoreErrors: rate(ct.StoreErrors, bt.StoreErrors), SlowClosures: rate(ct.SlowClosures, bt.SlowClosures),
	}
	for code, v := range cur.errorsBy {
		var b float64
		if base != nil {
			b = base.errorsBy[code]
		}
		s.ErrorsByCode[code] = rate(v, b)
	}
	for typ, v := range cur.framesBy {
		var b float64
		if base != nil {
			b = base.framesBy[typ]
		}
		s.FramesInByType[typ] = rate(v, b)
	}
	s.FanoutP50Seconds = quantilePtr(fanout, 0.5)
	s.FanoutP99Seconds = quantilePtr(fanout, 0.99)
	s.StoreP99Seconds = quantilePtr(store, 0.99)
	for k, p := range cur.plugins {
		ps := dashstats.PluginStats{Plugin: k[0], Version: k[1], CallsTotal: p.calls, ErrorsTotal: p.errors}
		dur := p.dur
		if base != nil {
			if bp := base.plugins[k]; bp != nil {
				ps.CallsPerSecond, ps.ErrorsPerSecond = rate(p.calls, bp.calls), rate(p.errors, bp.errors)
				dur = dur.sub(bp.dur)
			} else {
				ps.CallsPerSecond, ps.ErrorsPerSecond = rate(p.calls, 0), rate(p.errors, 0)
			}
		}
		ps.P99Seconds = quantilePtr(dur, 0.99)
		s.Plugins = append(s.Plugins, ps)
	}
	sort.Slice(s.Plugins, func(i, j int) bool {
		if s.Plugins[i].Plugin != s.Plugins[j].Plugin {
			return s.Plugins[i].Plugin < s.Plugins[j].Plugin
		}
		return s.Plugins[i].Version < s.Plugins[j].Version
	})
	return s
}
