// Package gateway terminates device connections: one WebSocket per device
// at /v1/ws carrying binary proto.Frames (see docs/protocol.md).
//
// A connection is served by up to three goroutines, all owned by the HTTP
// handler that accepted it and joined before it returns:
//
//   - the reader (the handler itself): reads frames, enforces the frame
//     limit, the handshake, the idle timeout and the request rate, and
//     dispatches requests in order;
//   - the writer: the only goroutine that writes to the socket, fed by a
//     bounded send queue (responses and pushed events) and by the pusher;
//     a full queue or a write that times out cuts the connection with
//     SLOW_CONSUMER, so a device that stops reading costs a bounded amount
//     of memory and its mail stays in its mailbox;
//   - the pusher, only while there is mail to push: fetches the device's
//     mailbox in sequence order and hands events to the writer, never more
//     than proto.MaxEventBatch unacknowledged; it is started by new-mail
//     signals and acks and stops once it has caught up, so an idle
//     connection costs two goroutines.
//
// The gateway knows the protocol but not the domain: requests go to a
// Handler (the server's router over directory and delivery), handshake
// requests to an Authenticator, mailbox reads to a Mailbox. Signals for a
// device (new mail, ephemeral events, "close this connection") arrive
// through the bus, so they reach the device on whichever node it is
// connected.
//
// Every close uses WebSocket status 4000+proto.Code, preceded where the
// socket can still carry it by a Notice event.
package gateway
