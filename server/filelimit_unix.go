//go:build unix

package server

import "syscall"

// fileLimit returns the open-file soft limit in force (0 if it cannot be
// read). It only reads: the Go runtime already raised the soft limit to
// the hard limit when the process started, and changing it here would
// also change what child processes inherit.
func fileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return uint64(l.Cur)
}
