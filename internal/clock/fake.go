package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a manually advanced clock for tests. Timers, tickers and
// AfterFunc callbacks fire during Advance, in deadline order; a ticker
// due several times within one Advance fires at its first and its last
// deadline only.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeTimer
}

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d and fires everything now due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	target := f.now.Add(d)
	for {
		sort.Slice(f.waiters, func(i, j int) bool { return f.waiters[i].when.Before(f.waiters[j].when) })
		if len(f.waiters) == 0 || f.waiters[0].when.After(target) {
			break
		}
		w := f.waiters[0]
		f.waiters = f.waiters[1:]
		f.now = w.when
		fired := w.when
		if w.period > 0 {
			w.when = w.when.Add(w.period)
			if !w.when.After(target) {
				// Due again within this advance: keep only its last
				// tick, as a time.Ticker drops the ticks its reader
				// was too slow for (nothing reads between two fires
				// here anyway). Firing every period made advancing a
				// month past a 1-second ticker 2.6 million fires:
				// seconds of CPU, a minute under -race.
				w.when = w.when.Add((target.Sub(w.when) / w.period) * w.period)
			}
			f.waiters = append(f.waiters, w)
		}
		f.mu.Unlock()
		w.fire(fired)
		f.mu.Lock()
	}
	f.now = target
	f.mu.Unlock()
}

// Waiters is the number of pending timers and tickers, so a test can wait
// until the code under test has armed its timer before advancing.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

func (f *Fake) NewTimer(d time.Duration) Timer {
	return f.add(d, 0, nil)
}

func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	return f.add(d, 0, fn)
}

func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker period")
	}
	return fakeTicker{f.add(d, d, nil)}
}

func (f *Fake) add(d, period time.Duration, fn func()) *fakeTimer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{clock: f, when: f.now.Add(d), period: period, fn: fn, c: make(chan time.Time, 1)}
	f.waiters = append(f.waiters, t)
	return t
}

func (f *Fake) remove(t *fakeTimer) bool {
	for i, w := range f.waiters {
		if w == t {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			return true
		}
	}
	return false
}

type fakeTimer struct {
	clock  *Fake
	when   time.Time
	period time.Duration
	fn     func()
	c      chan time.Time
}

func (t *fakeTimer) fire(now time.Time) {
	if t.fn != nil {
		go t.fn()
		return
	}
	select {
	case t.c <- now:
	default: // like time.Ticker, drop a tick nobody read
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	return t.clock.remove(t)
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	active := t.clock.remove(t)
	t.when = t.clock.now.Add(d)
	t.clock.waiters = append(t.clock.waiters, t)
	return active
}

type fakeTicker struct{ t *fakeTimer }

func (f fakeTicker) C() <-chan time.Time { return f.t.c }
func (f fakeTicker) Stop()               { f.t.Stop() }
