package gateway

import (
	"time"
)

// bucket is a token bucket: it holds up to burst tokens, refills at rate
// per second, and each request takes one. It is used by one goroutine at a
// time (the connection's worker), so it needs no lock; time comes from the
// injected clock so tests can exhaust and refill it without waiting. Rate
// and burst are the gateway's, passed in rather than kept: sixteen bytes
// per connection.
type bucket struct {
	tokens float64
	last   int64 // Unix nanoseconds
}

func newBucket(burst int, now time.Time) bucket {
	return bucket{tokens: float64(burst), last: now.UnixNano()}
}

// take reports whether a request may proceed at now, consuming a token if
// so.
func (b *bucket) take(now time.Time, rate float64, burst int) bool {
	if d := now.UnixNano() - b.last; d > 0 {
		b.tokens = min(float64(burst), b.tokens+time.Duration(d).Seconds()*rate)
		b.last = now.UnixNano()
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
