//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises the soft open-file limit to the hard one (each
// connection is a file) and returns it.
func raiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("reading the open-file limit: %w", err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, fmt.Errorf("raising the open-file limit to %d: %w", l.Max, err)
		}
	}
	return uint64(l.Cur), nil
}
