// Package cluster holds Parley's fault tests: real `parley serve`
// processes, built once per run, killed with SIGKILL, restarted, and cut
// off from NATS and PostgreSQL, while Go SDK clients keep sending. The
// package has no code outside its tests.
//
// What they check is the durability promise end to end: every message
// acknowledged to its sender reaches every recipient device, and no
// device shows a message twice.
//
//   - TestClusterFailover: three nodes on the machine's PostgreSQL (a
//     fresh schema) and NATS; devices pinned to different nodes converse,
//     see each other's presence and typing; under send load one node is
//     killed (its devices move to the others) and restarted (it rejoins).
//   - TestClusterNATSOutage: the same on a nats-server process the test
//     owns, stopped for a while under load.
//   - TestClusterPostgresRestart: the same on a private PostgreSQL
//     instance the test initializes, stopped and started under load:
//     sends fail with UNAVAILABLE meanwhile.
//   - TestCrashEmbedded: one node on the embedded SQLite store, killed
//     with SIGKILL under load and restarted, several times.
//
// The default run is short. The soak version (longer load, longer
// outages, ten or more kills) runs with
//
//	PARLEY_SOAK=1 go test ./cluster -timeout 30m
//
// or `go test ./cluster -parley.long`. See docs/operations.md.
package cluster
