package metrics

import (
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// factory creates and registers the metrics of one registry.
type factory struct {
	reg *prometheus.Registry
	max int
}

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) counterVec(name, help string, labels ...string) *bounded[prometheus.Counter] {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(v)
	b := newBounded(f.max, len(labels), v.WithLabelValues)
	b.vec = v
	return b
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *bounded[prometheus.Observer] {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(v)
	b := newBounded(f.max, len(labels), v.WithLabelValues)
	b.vec = v
	return b
}

// bounded caches the children of a metric vector and caps how many label
// sets it creates: past max, every new label set is counted under "other"
// in each label. Label values are made valid UTF-8 and cut to 64 bytes;
// an empty value becomes "none".
type bounded[T any] struct {
	max    int
	labels int
	mk     func(...string) T
	// vec is the metric vector itself: Stats collects its series.
	vec prometheus.Collector

	mu       sync.RWMutex
	children map[string]T
}

func newBounded[T any](max, labels int, mk func(...string) T) *bounded[T] {
	return &bounded[T]{max: max, labels: labels, mk: mk, children: map[string]T{}}
}

func (b *bounded[T]) with(values ...string) T {
	key := strings.Join(values, "\xff")
	b.mu.RLock()
	c, ok := b.children[key]
	b.mu.RUnlock()
	if ok {
		return c
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.children[key]; ok {
		return c
	}
	if len(b.children) >= b.max {
		other := make([]string, b.labels)
		for i := range other {
			other[i] = labelOther
		}
		okey := strings.Join(other, "\xff")
		if c, ok := b.children[okey]; ok {
			return c
		}
		c = b.mk(other...)
		b.children[okey] = c // may exceed max by one: the overflow series
		return c
	}
	clean := make([]string, len(values))
	for i, v := range values {
		clean[i] = cleanLabel(v)
	}
	c = b.mk(clean...)
	b.children[key] = c
	return c
}

func cleanLabel(v string) string {
	if v == "" {
		return "none"
	}
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "?")
	}
	if len(v) > maxLabelValueLen {
		v = v[:maxLabelValueLen]
		for !utf8.ValidString(v) {
			v = v[:len(v)-1]
		}
	}
	return v
}
