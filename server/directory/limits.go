package directory

import (
	"sync"
	"time"
)

// Per-account limits, on top of the per-connection request rate (which a
// person with several accounts, or several devices, multiplies).
//
// Link codes are short so people can type them, which makes them
// guessable in bulk: a primary device that looks up codes nobody gave it
// could approve a stranger's new device into its own account. Failed
// lookups are therefore limited per account.
//
// One-time key packages are a supply any account can draw from: claiming
// them in bulk would leave the target only its last-resort package (whose
// reuse weakens forward secrecy of new conversations). Claims are limited
// per claiming account and per claimed account.
const (
	// maxFailedLookups per lookupWindow: a person mistyping a code a few
	// times never meets it; 10^8 codes cannot be searched at this rate.
	maxFailedLookups = 10
	lookupWindow     = 10 * time.Minute

	// maxClaimsByAccount per claimWindow: each claim starts a
	// conversation with someone new (or adds one's own device); sixty in
	// ten minutes is far beyond a person's pace.
	maxClaimsByAccount = 60
	// maxClaimsOfAccount per claimWindow: a device keeps up to
	// proto.MaxStoredKeyPackages; at this rate others cannot empty it
	// between two of its connections, and a popular account's newcomers
	// who hit the limit retry a few minutes later.
	maxClaimsOfAccount = 100
	claimWindow        = 10 * time.Minute

	// maxLimitRecords bounds each limit's table; beyond it, records whose
	// window has passed are pruned before a new one is added.
	maxLimitRecords = 100000
)

// window counts events per key in fixed windows, in this process. Several
// nodes each apply the limit, which still bounds the total rate.
type window struct {
	max    int
	period time.Duration

	mu sync.Mutex
	m  map[string]*windowRecord
}

type windowRecord struct {
	start time.Time
	n     int
}

func newWindow(max int, period time.Duration) *window {
	return &window{max: max, period: period, m: make(map[string]*windowRecord)}
}

// allowed reports whether key may have another event at now.
func (w *window) allowed(key string, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.m[key]
	return r == nil || now.Sub(r.start) >= w.period || r.n < w.max
}

// add records an event of key at now.
func (w *window) add(key string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.m[key]
	if r == nil || now.Sub(r.start) >= w.period {
		if r == nil && len(w.m) >= maxLimitRecords {
			for k, v := range w.m {
				if now.Sub(v.start) >= w.period {
					delete(w.m, k)
				}
			}
		}
		r = &windowRecord{start: now}
		w.m[key] = r
	}
	r.n++
}
