package mls

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelMin is the number of jobs below which parallel runs them
// inline: starting a goroutine costs microseconds, an HPKE encryption or
// signature check tens of them.
const parallelMin = 8

// parallel runs fn(0..n-1) on up to GOMAXPROCS goroutines, waits for all
// of them, and returns the first error. Adding a thousand members
// encrypts a thousand GroupSecrets; this spreads them over the cores.
func parallel(n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n/parallelMin+1)
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
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}
