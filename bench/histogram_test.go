package bench

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	// Every value maps to a bucket whose midpoint is within 1% of it,
	// and buckets are monotonic.
	prev := -1
	for _, us := range []uint64{0, 1, 255, 256, 257, 1000, 4095, 4096, 123456, 1 << 30, 1 << 35} {
		i := bucketOf(us)
		if i < prev {
			t.Errorf("bucketOf(%d) = %d, below the previous bucket %d", us, i, prev)
		}
		prev = i
		v := bucketValue(i)
		if diff := float64(v) - float64(us); diff > 0.01*float64(us)+1 || -diff > 0.01*float64(us)+1 {
			t.Errorf("bucketValue(bucketOf(%d)) = %d, more than 1%% off", us, v)
		}
	}
	if i := bucketOf(1 << 62); i != histBuckets-1 {
		t.Errorf("huge value in bucket %d, want the last %d", i, histBuckets-1)
	}
}

func TestHistogramQuantilesAndMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var all []time.Duration
	var a, b Histogram
	for i := range 20000 {
		d := time.Duration(r.ExpFloat64()*5000) * time.Microsecond
		all = append(all, d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	// Merging survives the JSON round trip workers use.
	wire, err := json.Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}
	var b2 Histogram
	if err := json.Unmarshal(wire, &b2); err != nil {
		t.Fatal(err)
	}
	var h Histogram
	h.Merge(&a)
	h.Merge(&b2)
	if h.N != uint64(len(all)) {
		t.Fatalf("merged N = %d, want %d", h.N, len(all))
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 1} {
		want := all[int(q*float64(len(all)))-1]
		got := h.Quantile(q)
		if d := got - want; d > want/50+time.Microsecond || -d > want/50+time.Microsecond {
			t.Errorf("q%.2f = %v, want about %v", q, got, want)
		}
	}
	if h.Max() != all[len(all)-1].Truncate(time.Microsecond) {
		t.Errorf("max = %v, want %v", h.Max(), all[len(all)-1])
	}
	var empty Histogram
	if empty.Quantile(0.99) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram should report zeros")
	}
}
