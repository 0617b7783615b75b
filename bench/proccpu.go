package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// userHZ is the unit of CPU times in /proc/<pid>/stat: USER_HZ, 100 on
// every Linux architecture Go supports.
const userHZ = 100

// processCPU sums the CPU time (user + system, seconds) of the processes
// on this host whose command name is name, e.g. "postgres" for the
// database the server writes to: a store in another process does work
// the server's own CPU figure does not show. It returns false where
// /proc is not available. Processes that exit between two readings take
// their time with them, so compare readings of long-lived processes (a
// database's pooled backends).
func processCPU(name string) (float64, bool) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return 0, false
	}
	var ticks uint64
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ... ; comm may hold spaces and parentheses,
		// so it ends at the last ')'.
		open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || end < open || string(b[open+1:end]) != name {
			continue
		}
		f := bytes.Fields(b[end+1:])
		// After comm: state is field 3 of stat, utime 14 and stime 15.
		if len(f) < 13 {
			continue
		}
		u, err1 := strconv.ParseUint(string(f[11]), 10, 64)
		s, err2 := strconv.ParseUint(string(f[12]), 10, 64)
		if err1 == nil && err2 == nil {
			ticks += u + s
		}
	}
	return float64(ticks) / userHZ, true
}
