package parallel

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestRunCallsEachJobOnce(t *testing.T) {
	for _, n := range []int{0, 1, MinJobs - 1, MinJobs, 1000} {
		calls := make([]atomic.Int32, n)
		if err := Run(n, func(i int) error { calls[i].Add(1); return nil }); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		for i := range calls {
			if c := calls[i].Load(); c != 1 {
				t.Fatalf("n=%d: job %d ran %d times", n, i, c)
			}
		}
	}
}

func TestRunStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	var ran atomic.Int32
	err := Run(10000, func(i int) error {
		ran.Add(1)
		if i == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the job's error", err)
	}
	if n := ran.Load(); n == 10000 {
		t.Fatalf("all %d jobs ran after an early error", n)
	}
}
