package server

// The default connection limit follows the process's open-file limit:
// every device connection is a socket, and a server that accepts more
// connections than it may open files fails in accept (and then in the
// store, which needs files too) instead of refusing the extra devices
// cleanly with HTTP 503 before the upgrade.
const (
	// fileReserve is how many open files the default leaves for
	// everything but device connections: the store (SQLite's database,
	// journal and pool connections, or PostgreSQL's pool), the
	// listeners, admin and media HTTP connections, uploads in flight
	// and logs. A limit below 2×fileReserve keeps half of it instead.
	fileReserve = 1000
	// maxDefaultConnections caps the default where the open-file limit
	// is huge (often 1,048,576): an idle connection costs a few KiB, so
	// more than this on one node is a choice to make in the config.
	maxDefaultConnections = 100_000
)

// maxConnectionsFor is the default MaxConnections for an open-file soft
// limit (0: unknown, which gives DefaultMaxConnections).
func maxConnectionsFor(soft uint64) int {
	if soft == 0 {
		return DefaultMaxConnections
	}
	reserve := min(uint64(fileReserve), soft/2)
	return int(min(soft-reserve, maxDefaultConnections))
}

// defaultMaxConnections is the default MaxConnections of this process:
// its open-file soft limit (which the Go runtime raises to the hard limit
// at start on unix systems) minus fileReserve.
func defaultMaxConnections() int { return maxConnectionsFor(fileLimit()) }
