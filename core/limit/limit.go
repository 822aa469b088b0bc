// Package limit provides the per-connection token bucket the router uses
// to answer rate_limited and to detect sustained abuse.
package limit

import "time"

// Bucket is a token bucket: Rate tokens per second, up to Burst. The zero
// Bucket with Rate 0 allows everything. Bucket is not safe for concurrent
// use; each connection owns one.
type Bucket struct {
	Rate   float64
	Burst  float64
	tokens float64
	last   time.Time
	// denied counts consecutive refusals (sustained abuse).
	denied int
}

// NewBucket returns a full bucket.
func NewBucket(rate float64, burst int) *Bucket {
	return &Bucket{Rate: rate, Burst: float64(burst), tokens: float64(burst)}
}

// Charge takes n more tokens at time now, for work a frame caused beyond
// its own token (the router charges the bytes a join sent). The bucket may
// go into debt, down to -Burst; while it is below one token, Allow refuses.
func (b *Bucket) Charge(now time.Time, n float64) {
	if b == nil || b.Rate <= 0 || n <= 0 {
		return
	}
	b.refill(now)
	b.tokens = max(b.tokens-n, -b.Burst)
}

func (b *Bucket) refill(now time.Time) {
	if !b.last.IsZero() {
		b.tokens += now.Sub(b.last).Seconds() * b.Rate
		if b.tokens > b.Burst {
			b.tokens = b.Burst
		}
	}
	b.last = now
}

// Allow takes one token at time now. It returns false when the bucket is
// empty, and how many calls in a row have been refused.
func (b *Bucket) Allow(now time.Time) (ok bool, deniedInARow int) {
	if b == nil || b.Rate <= 0 {
		return true, 0
	}
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		b.denied = 0
		return true, 0
	}
	b.denied++
	return false, b.denied
}
