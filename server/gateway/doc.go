// Package gateway terminates device connections: one WebSocket per device
// at /v1/ws carrying binary proto.Frames (see docs/protocol.md).
//
// An idle connection costs no goroutine and no buffer. Listen
// (listener.go) accepts the connection and answers a plain upgrade request
// straight off the socket; anything else (a browser's Origin, a long or
// unusual header, other paths, refusals) goes to net/http, which answers
// as ServeHTTP and upgrade.go do. Either way the gateway then takes the
// socket over, with a bounded kernel send buffer (Config.SendBuffer), and
// hands it to an event loop of a few
// epoll goroutines (poll_linux.go) that read whatever arrives into one
// shared buffer per loop. The WebSocket framing is parsed incrementally
// (wsframe.go): only a partial message holds memory, and a frame whose
// header declares more than proto.MaxFrameBytes is refused from the header
// alone, before any of its payload is read or allocated.
//
// Work happens on goroutines that exist only while there is work, each
// owned by its connection and joined by its teardown:
//
//   - the worker, started when a message arrives: enforces the handshake
//     and the request rate and dispatches requests in order; it stops
//     reading the socket while its inbox is full, which pushes back on
//     the device through TCP;
//   - the pusher, started by new-mail signals and acks: fetches the
//     device's mailbox in sequence order, never more than
//     proto.MaxEventBatch entries or about 1 MiB unacknowledged, at the
//     pace the device reads.
//
// Output is written without blocking by whoever produces it; what the
// socket does not take waits in the connection's bounded output queue
// until the event loop reports the socket writable. A full queue or a
// write stalled for Config.WriteTimeout cuts the connection with
// SLOW_CONSUMER, so a device that stops reading costs a bounded amount of
// memory and its mail stays in its mailbox.
//
// Timeouts are deadlines kept in each connection and checked by one
// sweeper goroutine (sweep.go): the handshake, idle and link-code ones on
// the injected clock, the write and close-handshake ones on the wall
// clock.
//
// TLS connections and platforms without epoll are served in goroutine
// mode (a reader goroutine per connection, a writer while output waits)
// by the same connection code; see transport.go.
//
// The gateway knows the protocol but not the domain: requests go to a
// Handler (the server's router over directory and delivery), handshake
// requests to an Authenticator, mailbox reads to a Mailbox. Signals for a
// device (new mail, ephemeral events, "close this connection") arrive
// through the bus, so they reach the device on whichever node it is
// connected.
//
// Every close uses WebSocket status 4000+proto.Code, preceded where the
// socket can still carry it by a Notice event; a violation of the
// WebSocket protocol itself is closed with 1002.
package gateway
