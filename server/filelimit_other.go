//go:build !unix

package server

// fileLimit: no open-file limit to read here.
func fileLimit() uint64 { return 0 }
