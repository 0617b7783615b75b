package bench

import (
	"math"
	"strings"
	"testing"
	"time"
)

// memSample is a scrape with the server's RSS and Go heap in use (MiB);
// a negative heap leaves the family out.
func memSample(rssMiB, heapMiB float64) Sample {
	s := Sample{metricRSS: {"": rssMiB * (1 << 20)}}
	if heapMiB >= 0 {
		s[metricHeapInuse] = map[string]float64{"": heapMiB * (1 << 20)}
	}
	return s
}

// TestIdleReportMath checks the idle figures against hand-computed
// ones: the whole-phase figures over every connection, the marginal ones
// over the second half only, and the connect rate over the two halves'
// time without the pause between them.
func TestIdleReportMath(t *testing.T) {
	const sec = int64(time.Second)
	// Two workers; each connects half its devices in 1 s (worker 1 a
	// little later), pauses 3 s, then the rest in 2 s.
	workers := func(connected ...int64) []*WorkerStats {
		var ws []*WorkerStats
		for i, c := range connected {
			off := int64(i) * sec / 2
			ws = append(ws, &WorkerStats{Counters: Counters{Connected: c}, Phases: map[string]PhaseTime{
				phaseConnect:  {Start: 10*sec + off, End: 11 * sec, CPU: 0.25},
				phaseConnect2: {Start: 14 * sec, End: 15*sec + off + sec/2, CPU: 0.5},
			}})
		}
		return ws
	}
	for _, tc := range []struct {
		name              string
		before, half      Sample
		after             Sample
		connected         []int64 // per worker, at the end
		halfConns         int64   // connected at the half mark
		rate              float64 // connects/s
		rss, heap         float64 // whole phase, bytes per connection
		mrss, mheap       float64 // marginal, bytes per connection
		rssHalf, heapHalf float64
	}{
		{
			// 10 MiB fill during the first half and stay: the marginal
			// figure is the growth per connection without them.
			name: "fixed costs in the first half", before: memSample(40, 10), half: memSample(60, 15), after: memSample(65, 20),
			connected: []int64{1024, 1024}, halfConns: 1024, rate: 2048.0 / 3,
			rss: 25 << 20 / 2048.0, heap: 10 << 20 / 2048.0, mrss: 5 << 20 / 1024.0, mheap: 5 << 20 / 1024.0,
			rssHalf: 60 << 20, heapHalf: 15 << 20,
		},
		{
			// Failures in the second half: the marginal figures divide by
			// the connections it added, not by N/2.
			name: "uneven halves", before: memSample(40, 10), half: memSample(50, 12), after: memSample(54, 14),
			connected: []int64{1000, 1048}, halfConns: 1024, rate: 2048.0 / 3,
			rss: 14 << 20 / 2048.0, heap: 4 << 20 / 2048.0, mrss: 4 << 20 / 1024.0, mheap: 2 << 20 / 1024.0,
			rssHalf: 50 << 20, heapHalf: 12 << 20,
		},
		{
			// RSS can fall (the runtime returned memory): reported as is.
			name: "RSS returned", before: memSample(40, 10), half: memSample(60, 15), after: memSample(59, 16),
			connected: []int64{512, 512}, halfConns: 512, rate: 1024.0 / 3,
			rss: 19 << 20 / 1024.0, heap: 6 << 20 / 1024.0, mrss: -(1 << 20) / 512.0, mheap: 1 << 20 / 512.0,
			rssHalf: 60 << 20, heapHalf: 15 << 20,
		},
		{
			name: "no heap family", before: memSample(40, -1), half: memSample(60, -1), after: memSample(64, -1),
			connected: []int64{512, 512}, halfConns: 512, rate: 1024.0 / 3,
			rss: 24 << 20 / 1024.0, mrss: 4 << 20 / 512.0, rssHalf: 60 << 20,
		},
		{
			name: "nothing connected after the half mark", before: memSample(40, 10), half: memSample(60, 15), after: memSample(61, 15),
			connected: []int64{256, 256}, halfConns: 512, rate: 512.0 / 3,
			rss: 21 << 20 / 512.0, heap: 5 << 20 / 512.0, rssHalf: 60 << 20, heapHalf: 15 << 20,
		},
		{
			// Without a half sample (no metrics then), only the
			// whole-phase figures.
			name: "no half sample", before: memSample(40, 10), after: memSample(65, 20),
			connected: []int64{1024, 1024}, halfConns: 1024, rate: 2048.0 / 3,
			rss: 25 << 20 / 2048.0, heap: 10 << 20 / 2048.0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReport(Options{Scenario: ScenarioIdle, Devices: 2048, Procs: 2})
			r.before, r.half, r.after, r.ConnectedHalf = tc.before, tc.half, tc.after, tc.halfConns
			r.finish(workers(tc.connected...))
			for _, f := range []struct {
				name      string
				got, want float64
			}{
				{"connect seconds", r.ConnectSeconds, 3},
				{"connects/s", r.ConnectPerSecond, tc.rate},
				{"workers' CPU", r.ClientCPUSeconds, 1.5},
				{"RSS/conn", r.RSSPerConnection, tc.rss},
				{"heap/conn", r.HeapPerConnection, tc.heap},
				{"RSS at half", r.ServerRSSHalf, tc.rssHalf},
				{"heap at half", r.ServerHeapHalf, tc.heapHalf},
				{"marginal RSS/conn", r.MarginalRSSPerConnection, tc.mrss},
				{"marginal heap/conn", r.MarginalHeapPerConnection, tc.mheap},
			} {
				if math.Abs(f.got-f.want) > 1e-6 {
					t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
				}
			}
			var b strings.Builder
			if err := r.WriteTable(&b); err != nil {
				t.Fatal(err)
			}
			want := tc.half != nil && tc.mrss != 0
			if got := strings.Contains(b.String(), "marginal, second half"); got != want {
				t.Errorf("table shows the marginal row: %v, want %v:\n%s", got, want, b.String())
			}
		})
	}
}
