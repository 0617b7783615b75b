package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// rssSamplePeriod is how often the coordinator reads the server's RSS
// while stalled devices hold mail.
const rssSamplePeriod = time.Second

// rssSampler reads the server's RSS periodically and keeps the peak.
type rssSampler struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	peak   float64 // RSS
	heap   float64 // Go heap in use
}

func startRSSSampler(ctx context.Context, hc *http.Client, url string) *rssSampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &rssSampler{cancel: cancel}
	s.wg.Go(func() {
		t := time.NewTicker(rssSamplePeriod)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
			if smp, err := scrape(ctx, hc, url); err == nil {
				s.mu.Lock()
				s.peak = max(s.peak, smp.Sum(metricRSS))
				s.heap = max(s.heap, smp.Sum(metricHeapInuse))
				s.mu.Unlock()
			}
		}
	})
	return s
}

// stop ends the sampling and returns the peaks of RSS and Go heap in
// use; safe on nil and twice.
func (s *rssSampler) stop() (rss, heap float64) {
	if s == nil {
		return 0, 0
	}
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.heap
}

// afterResume waits for the stalled devices, back on new connections, to
// drain their mailboxes, then reads the server's figures once more.
func (c *coordinator) afterResume(ctx context.Context) error {
	if c.o.Stalled == 0 {
		return nil
	}
	c.progress.phase("drain stalled")
	drained, err := c.await(ctx, time.Now().Add(stalledDrainTimeout), func() bool {
		t := c.total()
		return t.StalledDelivered >= t.StalledSent
	})
	if err != nil {
		return err
	}
	if !drained {
		c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("the stalled devices had not drained their mail within %v of reconnecting", stalledDrainTimeout))
	}
	c.rep.ServerRSSPeak, c.rep.ServerHeapPeak = c.rss.stop()
	if c.o.MetricsURL == "" {
		return nil
	}
	s, err := scrape(ctx, c.hc, c.o.MetricsURL)
	if err != nil {
		return err
	}
	c.rep.final = s
	return nil
}
