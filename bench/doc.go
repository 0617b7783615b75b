// Package bench is Parley's load generator, the library behind
// `parley bench`: scenarios that drive a running server through its real
// protocol, spread over worker processes, and a report that combines what
// the workers measured with the server's own figures read from its
// Prometheus endpoint.
//
// Scenarios:
//   - idle: open N authenticated connections and hold them; reports the
//     connect rate and server memory per idle authenticated connection.
//   - ring: each device sends to the next around a ring, at a fixed total
//     rate or as fast as the server allows; reports delivered messages per
//     second, end-to-end latency, server CPU time per 1,000 delivered
//     messages and errors by code. With --stalled N, N more devices stop
//     reading their sockets (without closing them) while ring devices send
//     them mail; the report says whether the server cut them as slow
//     consumers, whether all their mail waited in the mailbox (they
//     reconnect and drain at the end), and the server's RSS meanwhile.
//   - burst: a reconnect storm: the ring's mailboxes are filled while the
//     devices do not acknowledge, then every device reconnects at once
//     and drains its mailbox; reports the reconnect rate, drain time and
//     errors by code.
//
// Devices are light by default ("MLS off"): an Ed25519 key and one
// WebSocket (client/rpc and identity, nothing else), so tens of thousands
// fit in a few processes. They create their 1:1 conversations with a real
// epoch-0 MLS commit and Welcome (the server checks a commit's framing;
// the bench holds every device's key, so it makes the peer's key package
// itself) and then send random ciphertext of a chosen size. The server
// never opens application messages, so it cannot tell: this measures its
// path exactly, without the clients' encryption cost. With MLS on, devices are full SDK clients (package
// client, each with a temporary profile) exchanging real MLS messages,
// which gives the end-to-end figure with encryption.
//
// A run is coordinated by Run in the calling process; the devices live in
// workers (Launcher), each running ServeWorker, either in this process or
// in child processes re-executing the same binary. Coordinator and workers
// speak JSON lines: the job, then phase barriers ("go" / "done"),
// progress counters and a final result. Latency is measured from a send
// timestamp inside the payload, so all workers must share the host clock:
// one more reason the bench targets loopback only.
//
// The bench is a wall-clock tool by nature (it measures real time), so
// unlike the server it does not take an injected clock.
package bench
