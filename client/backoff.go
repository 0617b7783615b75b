package client

import (
	"math/rand/v2"
	"time"
)

// Reconnect backoff defaults: the first retry comes quickly (a lame-duck
// restart is usually short), later ones spread out so a fleet of clients
// does not hammer a recovering server.
const (
	DefaultBackoffMin = 250 * time.Millisecond
	DefaultBackoffMax = 30 * time.Second
)

// backoff is capped exponential backoff with "equal jitter": the wait is
// half the current step plus a random part of the other half, so retries
// never come sooner than step/2 and clients that failed together spread
// out instead of retrying in lockstep.
type backoff struct {
	min, max time.Duration
	rand     func() float64 // in [0, 1)
	step     time.Duration
}

func newBackoff(min, max time.Duration, rnd *rand.Rand) *backoff {
	if min <= 0 {
		min = DefaultBackoffMin
	}
	if max < min {
		max = DefaultBackoffMax
		if max < min {
			max = min
		}
	}
	f := rand.Float64
	if rnd != nil {
		f = rnd.Float64
	}
	return &backoff{min: min, max: max, rand: f}
}

// next returns how long to wait before the next attempt.
func (b *backoff) next() time.Duration {
	if b.step == 0 {
		b.step = b.min
	} else {
		b.step *= 2
		if b.step > b.max {
			b.step = b.max
		}
	}
	half := b.step / 2
	return half + time.Duration(b.rand()*float64(b.step-half))
}

// reset starts over after a successful connection.
func (b *backoff) reset() { b.step = 0 }
