package gateway

import (
	"time"
)

// bucket is a token bucket: it holds up to burst tokens, refills at rate
// per second, and each request takes one. It is used by one goroutine (the
// connection's reader), so it needs no lock; time comes from the injected
// clock so tests can exhaust and refill it without waiting.
type bucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int, now time.Time) bucket {
	return bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// take reports whether a request may proceed at now, consuming a token if
// so.
func (b *bucket) take(now time.Time) bool {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
