package awsapigw

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/classgate/classgate/adapters/awsapigw/defaults"
	"github.com/classgate/classgate/core"
)

// EMF implements core.Observer (and SenderMetrics) as CloudWatch Embedded
// Metric Format: it aggregates what happens during an invocation and Flush
// writes one JSON line per dimension value, which CloudWatch Logs turns
// into metrics in Namespace with the dimension Function (and one more:
// Type, Code, Plugin, Op, Outcome or Route). Counts are sums; latencies
// are lists of values in milliseconds (at most 100 per line, as EMF
// allows), from which CloudWatch computes percentiles.
//
// Metrics: Connects, Invocations/Duration (Route), FramesIn and FramesOut
// (Type), Deliveries (Type), DeliveryLatency (commit to posted), Joins,
// Acks, Duplicates, Replayed, Resyncs, RateLimited, Errors (Code),
// PluginCalls/PluginErrors/PluginLatency (Plugin), StoreErrors (Op), Posts
// (Outcome), PostLatency, PostRetries, Deletes (Outcome), Pruned, Swept, SweptAlive,
// ColdStarts and InitDuration.
//
// EMF embeds core.NopObserver and NopSenderMetrics: a hook it does not
// declare (SlowConsumer: API Gateway reports a slow client as the post
// outcome "slow" instead) does nothing.
//
// EMF is safe for concurrent use.
type EMF struct {
	core.NopObserver
	NopSenderMetrics

	ns, fn string
	w      io.Writer
	now    func() time.Time

	mu      sync.Mutex
	samples int // values kept per latency metric per write (SetSamples)
	groups  map[dim]*group
	pending []int64 // event timestamps (ms) delivered in this invocation
}

var (
	_ core.Observer = (*EMF)(nil)
	_ SenderMetrics = (*EMF)(nil)
)

type dim struct{ name, value string }

type group struct {
	counts map[string]float64
	values map[string][]float64
	seen   map[string]int // values offered per metric since the last flush
}

// MaxSamples is the default bound (SetSamples) of the values of one
// latency metric (per dimension value) written per flush: past it, a
// uniform sample of them (reservoir sampling) is kept, so percentiles stay
// unbiased while the log volume — billed per GB ingested — no longer grows
// with the traffic. Counts are exact whatever the volume.
const MaxSamples = defaults.MetricsSamples

// sample offers v to metric's reservoir of at most limit values.
func (g *group) sample(metric string, v float64, limit int) {
	n := g.seen[metric]
	g.seen[metric] = n + 1
	if limit <= 0 {
		return
	}
	if vs := g.values[metric]; len(vs) < limit {
		g.values[metric] = append(vs, v)
	} else if j := rand.IntN(n + 1); j < limit {
		vs[j] = v
	}
}

// SetSamples sets how many values of each latency metric (per dimension
// value) a write keeps at most (default MaxSamples; the rest are sampled
// out uniformly). 0 writes counts only: no latency metric at all, the
// smallest log volume. Call it before the first metric is recorded.
func (m *EMF) SetSamples(n int) {
	m.mu.Lock()
	m.samples = max(n, 0)
	m.mu.Unlock()
}

// NewEMF writes metrics of function fn in namespace ns to w (stdout in
// Lambda). now may be nil (time.Now).
func NewEMF(w io.Writer, ns, fn string, now func() time.Time) *EMF {
	if now == nil {
		now = time.Now
	}
	return &EMF{ns: ns, fn: fn, w: w, now: now, samples: MaxSamples, groups: map[dim]*group{}}
}

func (m *EMF) grp(d dim) *group {
	g := m.groups[d]
	if g == nil {
		g = &group{counts: map[string]float64{}, values: map[string][]float64{}, seen: map[string]int{}}
		m.groups[d] = g
	}
	return g
}

func (m *EMF) count(d dim, metric string, n float64) {
	m.mu.Lock()
	m.grp(d).counts[metric] += n
	m.mu.Unlock()
}

func (m *EMF) value(d dim, metric string, v float64) {
	m.mu.Lock()
	g := m.grp(d)
	g.sample(metric, v, m.samples)
	m.mu.Unlock()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

var none = dim{}

// Connected implements core.Observer.
func (m *EMF) Connected(delta int) {
	if delta > 0 {
		m.count(none, "Connects", float64(delta))
	}
}

// FrameIn implements core.Observer.
func (m *EMF) FrameIn(typ string) { m.count(dim{"Type", typ}, "FramesIn", 1) }

// FrameOut implements core.Observer.
func (m *EMF) FrameOut(typ string) { m.count(dim{"Type", typ}, "FramesOut", 1) }

// Joined implements core.Observer.
func (m *EMF) Joined() { m.count(none, "Joins", 1) }

// Rooms implements core.Observer (standalone only; unused in Lambda).
func (m *EMF) Rooms(int) {}

// Acked implements core.Observer.
func (m *EMF) Acked() { m.count(none, "Acks", 1) }

// ErrorSent implements core.Observer.
func (m *EMF) ErrorSent(code string) { m.count(dim{"Code", code}, "Errors", 1) }

// RateLimited implements core.Observer.
func (m *EMF) RateLimited() { m.count(none, "RateLimited", 1) }

// Duplicate implements core.Observer.
func (m *EMF) Duplicate() { m.count(none, "Duplicates", 1) }

// Delivered implements core.Observer. The latency from the event's
// creation to the end of the invocation's posts is taken at Flush.
func (m *EMF) Delivered(typ string, n int, tsMillis int64) {
	m.mu.Lock()
	m.grp(dim{"Type", typ}).counts["Deliveries"] += float64(n)
	if n > 0 {
		m.pending = append(m.pending, tsMillis)
	}
	m.mu.Unlock()
}

// PluginCall implements core.Observer.
func (m *EMF) PluginCall(namespace string, d time.Duration, err error) {
	k := dim{"Plugin", namespace}
	m.mu.Lock()
	g := m.grp(k)
	g.counts["PluginCalls"]++
	if err != nil {
		g.counts["PluginErrors"]++
	}
	g.sample("PluginLatency", ms(d), m.samples)
	m.mu.Unlock()
}

// StoreError implements core.Observer.
func (m *EMF) StoreError(op string) { m.count(dim{"Op", op}, "StoreErrors", 1) }

// Replayed implements core.Observer.
func (m *EMF) Replayed(n int) { m.count(none, "Replayed", float64(n)) }

// Resync implements core.Observer.
func (m *EMF) Resync() { m.count(none, "Resyncs", 1) }

// Posted implements SenderMetrics.
func (m *EMF) Posted(outcome string, attempts int, d time.Duration) {
	m.mu.Lock()
	m.grp(dim{"Outcome", outcome}).counts["Posts"]++
	g := m.grp(none)
	if attempts > 1 {
		g.counts["PostRetries"] += float64(attempts - 1)
	}
	if outcome == "ok" {
		g.sample("PostLatency", ms(d), m.samples)
	}
	m.mu.Unlock()
}

// OrderWaited implements SenderMetrics: OrderWait (ms) per delivery that
// waited for its room's turn, OrderForced when it gave up waiting.
func (m *EMF) OrderWaited(d time.Duration, forced bool) {
	m.mu.Lock()
	g := m.grp(none)
	g.sample("OrderWait", ms(d), m.samples)
	if forced {
		g.counts["OrderForced"]++
	}
	m.mu.Unlock()
}

// Deleted implements SenderMetrics.
func (m *EMF) Deleted(outcome string) { m.count(dim{"Outcome", outcome}, "Deletes", 1) }

// Invocation records one handled event of route.
func (m *EMF) Invocation(route string, d time.Duration, err error) {
	k := dim{"Route", route}
	m.mu.Lock()
	g := m.grp(k)
	g.counts["Invocations"]++
	if err != nil {
		g.counts["InvocationErrors"]++
	}
	g.sample("Duration", ms(d), m.samples)
	m.mu.Unlock()
}

// Pruned counts connections disconnected after API Gateway answered 410.
func (m *EMF) Pruned(n int) { m.count(none, "Pruned", float64(n)) }

// Swept counts connections removed because their liveness expired.
func (m *EMF) Swept(n int) { m.count(none, "Swept", float64(n)) }

// SweptAlive counts connections whose registry liveness expired but that
// API Gateway still held (HandlerOptions.Liveness): touched, not removed.
func (m *EMF) SweptAlive(n int) { m.count(none, "SweptAlive", float64(n)) }

// ColdStart records this execution environment's initialisation time.
func (m *EMF) ColdStart(init time.Duration) {
	m.count(none, "ColdStarts", 1)
	m.value(none, "InitDuration", ms(init))
}

// maxValues is EMF's limit of values per metric per line.
const maxValues = 100

// Settle ends an invocation's measurements: the events it delivered get
// their DeliveryLatency (commit to now, after the posts). Flush settles
// too; call Settle at the end of every invocation when Flush runs less
// often.
func (m *EMF) Settle() {
	now := m.now()
	m.mu.Lock()
	m.settleLocked(now)
	m.mu.Unlock()
}

func (m *EMF) settleLocked(now time.Time) {
	for _, ts := range m.pending {
		if lat := now.UnixMilli() - ts; lat >= 0 {
			m.grp(none).sample("DeliveryLatency", float64(lat), m.samples)
		}
	}
	m.pending = m.pending[:0]
}

// Flush writes what was aggregated since the last Flush as EMF lines and
// resets. Write errors are ignored (stdout).
func (m *EMF) Flush() {
	now := m.now()
	m.mu.Lock()
	m.settleLocked(now)
	groups := m.groups
	m.groups = map[dim]*group{}
	m.mu.Unlock()

	keys := make([]dim, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].name != keys[j].name {
			return keys[i].name < keys[j].name
		}
		return keys[i].value < keys[j].value
	})
	for _, k := range keys {
		g := groups[k]
		for first := true; first || len(g.values) > 0; first = false {
			line := m.line(now, k, g, first)
			if line != nil {
				_, _ = m.w.Write(line)
			}
		}
	}
}

// line encodes one EMF document: the counts (first line only) and up to
// maxValues values of each latency, which it removes from g.
func (m *EMF) line(now time.Time, k dim, g *group, withCounts bool) []byte {
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	doc := map[string]any{"Function": m.fn}
	var metrics []metric
	if withCounts {
		for name, v := range g.counts {
			doc[name] = v
			metrics = append(metrics, metric{name, "Count"})
		}
	}
	for name, vs := range g.values {
		n := min(len(vs), maxValues)
		doc[name] = vs[:n]
		metrics = append(metrics, metric{name, "Milliseconds"})
		if n == len(vs) {
			delete(g.values, name)
		} else {
			g.values[name] = vs[n:]
		}
	}
	if len(metrics) == 0 {
		return nil
	}
	sort.Slice(metrics, func(i, j int) bool { return metrics[i].Name < metrics[j].Name })
	dims := []string{"Function"}
	if k.name != "" {
		dims = append(dims, k.name)
		doc[k.name] = k.value
	}
	doc["_aws"] = map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  m.ns,
			"Dimensions": [][]string{dims},
			"Metrics":    metrics,
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil
	}
	return append(b, '\n')
}
