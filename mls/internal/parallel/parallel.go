// Package parallel spreads independent jobs of the MLS layer (one HPKE
// encryption per joiner or per path node, one signature check per member)
// over the cores. Adding a thousand members means a thousand such jobs of
// tens of microseconds each.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// MinJobs is the job count below which Run works inline: a goroutine
// costs a few microseconds, an HPKE or signature operation about fifty.
const MinJobs = 8

// Run calls fn(0..n-1) on up to GOMAXPROCS goroutines, waits for all of
// them, and returns the first error; after an error no further job starts.
// fn must be safe to call concurrently for different i.
func Run(n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n/MinJobs+1)
	if workers <= 1 {
		for i := range n {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errOnce.Do(func() { firstErr = err })
					next.Store(int64(n)) // stop handing out work
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}
