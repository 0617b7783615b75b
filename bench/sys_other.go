//go:build !unix

package bench

// raiseFileLimit is a no-op where there is no RLIMIT_NOFILE; 0 means
// unknown.
func raiseFileLimit() (uint64, error) { return 0, nil }

// processCPUSelf is unknown here.
func processCPUSelf() float64 { return 0 }
