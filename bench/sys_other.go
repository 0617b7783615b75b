//go:build !unix

package bench

// raiseFileLimit is a no-op where there is no RLIMIT_NOFILE; 0 means
// unknown.
func raiseFileLimit() (uint64, error) { return 0, nil }

// processCPUSelf is unknown here.
func processCPUSelf() float64 { return 0 }

// setReceiveBuffer is a no-op here: a stalled device's socket keeps the
// default buffer, so filling it takes more mail.
func setReceiveBuffer(uintptr, int) error { return nil }
