package client

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoffGrowsWithJitterAndCaps(t *testing.T) {
	b := newBackoff(100*time.Millisecond, time.Second, rand.New(rand.NewPCG(1, 2)))
	steps := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, s := range steps {
		s *= time.Millisecond
		d := b.next()
		if d < s/2 || d > s {
			t.Fatalf("attempt %d: wait %v outside [%v, %v]", i, d, s/2, s)
		}
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Fatalf("after reset: %v", d)
	}
}

func TestBackoffJitterSpreads(t *testing.T) {
	// Two clients failing at the same moment must not retry in lockstep.
	a := newBackoff(time.Second, time.Minute, rand.New(rand.NewPCG(1, 1)))
	b := newBackoff(time.Second, time.Minute, rand.New(rand.NewPCG(2, 2)))
	same := 0
	for range 10 {
		if a.next() == b.next() {
			same++
		}
	}
	if same > 1 {
		t.Fatalf("%d of 10 waits identical", same)
	}
}
