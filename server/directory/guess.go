package directory

import (
	"sync"
	"time"
)

// Link codes are short so people can type them, which makes them
// guessable in bulk: a primary device that looks up codes nobody gave it
// could approve a stranger's new device into its own account. Failed
// lookups are therefore limited per account, on top of the per-connection
// request rate.
const (
	// maxFailedLookups per lookupWindow: a person mistyping a code a few
	// times never meets it; 10^8 codes cannot be searched at this rate.
	maxFailedLookups = 10
	lookupWindow     = 10 * time.Minute
	// maxGuessRecords bounds the table; beyond it, expired records are
	// pruned before a new one is added.
	maxGuessRecords = 100000
)

type guessRecord struct {
	start  time.Time
	failed int
}

// guesses counts failed link-code lookups per account, in this process.
// Several nodes each apply the limit, which still bounds a search.
type guesses struct {
	mu sync.Mutex
	m  map[string]*guessRecord
}

// allowed reports whether account may look up another code at now.
func (g *guesses) allowed(account string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.m[account]
	return r == nil || now.Sub(r.start) >= lookupWindow || r.failed < maxFailedLookups
}

// failed records a failed lookup.
func (g *guesses) failed(account string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = make(map[string]*guessRecord)
	}
	r := g.m[account]
	if r == nil || now.Sub(r.start) >= lookupWindow {
		if r == nil && len(g.m) >= maxGuessRecords {
			for k, v := range g.m {
				if now.Sub(v.start) >= lookupWindow {
					delete(g.m, k)
				}
			}
		}
		r = &guessRecord{start: now}
		g.m[account] = r
	}
	r.failed++
}
