package bench

import (
	"math/bits"
	"time"
)

// Histogram layout: values (microseconds) below 2*histSub are counted
// exactly; above, each power of two is split into histSub buckets, so a
// bucket is at most 1/histSub (under 1%) wide relative to its value.
const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	// histMaxShift covers values up to 2^(histSubBits+1+histMaxShift) µs,
	// about 19 hours: every latency a bounded run can see.
	histMaxShift = 28
	histBuckets  = 2*histSub + histMaxShift*histSub
)

// Histogram records latencies in microseconds with under 1% error and a
// fixed size, so workers can merge theirs exactly. The zero value is
// empty and ready to use; it is not safe for concurrent use.
type Histogram struct {
	// Counts is sparse on the wire: bucket index → count.
	Counts map[int]uint64 `json:"counts,omitempty"`
	N      uint64         `json:"n"`
	SumUS  uint64         `json:"sum_us"`
	MaxUS  uint64         `json:"max_us"`
}

func bucketOf(us uint64) int {
	if us < 2*histSub {
		return int(us)
	}
	shift := bits.Len64(us) - (histSubBits + 1)
	if shift > histMaxShift {
		return histBuckets - 1
	}
	top := us >> shift // in [histSub, 2*histSub)
	return 2*histSub + (shift-1)*histSub + int(top-histSub)
}

// bucketValue is the midpoint of bucket i.
func bucketValue(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	shift := (i-2*histSub)/histSub + 1
	top := uint64((i-2*histSub)%histSub + histSub)
	lo := top << shift
	return lo + (uint64(1)<<shift)/2
}

// Record adds one duration (negative counts as zero: clocks of one host
// do not go backwards, but a zero is safer than a panic).
func (h *Histogram) Record(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	if h.Counts == nil {
		h.Counts = make(map[int]uint64)
	}
	h.Counts[bucketOf(us)]++
	h.N++
	h.SumUS += us
	h.MaxUS = max(h.MaxUS, us)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.N == 0 {
		return
	}
	if h.Counts == nil {
		h.Counts = make(map[int]uint64, len(o.Counts))
	}
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.N += o.N
	h.SumUS += o.SumUS
	h.MaxUS = max(h.MaxUS, o.MaxUS)
}

// Quantile returns the value at quantile q (0 < q ≤ 1), never above the
// recorded maximum; zero when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.N == 0 {
		return 0
	}
	rank := uint64(q * float64(h.N))
	if float64(rank) < q*float64(h.N) {
		rank++
	}
	rank = max(rank, 1)
	var seen uint64
	for i := range histBuckets {
		seen += h.Counts[i]
		if seen >= rank {
			return time.Duration(min(bucketValue(i), h.MaxUS)) * time.Microsecond
		}
	}
	return time.Duration(h.MaxUS) * time.Microsecond
}

// Mean is the average recorded value.
func (h *Histogram) Mean() time.Duration {
	if h.N == 0 {
		return 0
	}
	return time.Duration(h.SumUS/h.N) * time.Microsecond
}

// Max is the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.MaxUS) * time.Microsecond }
