package main

import (
	"testing"
	"time"
)

func TestBucketRoundTrip(t *testing.T) {
	tests := []uint64{0, 1, 63, 64, 127, 128, 129, 255, 256, 1000, 999_999, 1 << 40, 1<<63 + 12345, ^uint64(0)}
	for _, v := range tests {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, i)
		}
		hi := bucketHigh(i)
		if hi < v {
			t.Errorf("bucketHigh(bucketOf(%d)) = %d < value", v, hi)
		}
		if i > 0 && bucketHigh(i-1) >= v {
			t.Errorf("value %d also fits bucket %d (high %d)", v, i-1, bucketHigh(i-1))
		}
		// Relative width bound: the bucket's high is within 1/64 of v.
		if v >= 2*histSub && float64(hi-v) > float64(v)/histSub {
			t.Errorf("bucket of %d too wide: high %d", v, hi)
		}
	}
}

func TestBucketsContiguous(t *testing.T) {
	// Every bucket's low is the previous bucket's high + 1.
	for i := 1; i < bucketOf(^uint64(0)); i++ {
		lo := bucketHigh(i-1) + 1
		if bucketOf(lo) != i {
			t.Fatalf("bucketOf(%d) = %d, want %d", lo, bucketOf(lo), i)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name      string
		values    []time.Duration
		q         float64
		want      time.Duration
		tolerance float64 // relative
	}{
		{name: "empty", q: 0.99, want: 0},
		{name: "single", values: []time.Duration{5 * time.Millisecond}, q: 0.5, want: 5 * time.Millisecond},
		{name: "p50 of 1..100ms", values: seqMs(100), q: 0.5, want: 50 * time.Millisecond, tolerance: 0.02},
		{name: "p99 of 1..100ms", values: seqMs(100), q: 0.99, want: 99 * time.Millisecond, tolerance: 0.02},
		{name: "p100 is max", values: seqMs(100), q: 1, want: 100 * time.Millisecond},
		{name: "negative counts as zero", values: []time.Duration{-time.Second}, q: 1, want: 0},
		{name: "small exact", values: []time.Duration{1, 2, 3, 4}, q: 0.75, want: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tc.values {
				h.Record(v)
			}
			got := h.Quantile(tc.q)
			diff := float64(got - tc.want)
			if diff < 0 {
				diff = -diff
			}
			if diff > tc.tolerance*float64(tc.want) {
				t.Errorf("Quantile(%v) = %v, want %v ±%.0f%%", tc.q, got, tc.want, tc.tolerance*100)
			}
			if got := h.Count(); got != uint64(len(tc.values)) {
				t.Errorf("Count = %d, want %d", got, len(tc.values))
			}
		})
	}
}

func seqMs(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}
