package gateway

import (
	"time"

	"github.com/coder/websocket"

	"github.com/parleyhq/parley/proto"
)

// maxCloseReason is what fits in a WebSocket close frame (125 bytes of
// control payload minus the 2-byte status).
const maxCloseReason = 123

// writeLoop is the only writer of the socket.
func (c *conn) writeLoop() {
	for {
		// Queued frames go first: the AuthResult is queued before the
		// pusher starts, so it precedes the first mailbox event.
		f := c.out.pop()
		if f == nil {
			select {
			case <-c.quit:
				c.closeSocket()
				return
			case <-c.out.ready:
				continue
			case f = <-c.mail:
			}
		}
		if !c.write(f) {
			c.kill()
			return
		}
	}
}

// write writes one frame within WriteTimeout. A write that times out
// means the device stopped reading: SLOW_CONSUMER.
//
// This deadline is on the wall clock, unlike every other timeout: it
// bounds a real socket, which a fake clock cannot stall, and a test that
// moves a fake clock forward must not cut a connection whose write had
// already finished on the wire.
func (c *conn) write(f []byte) bool {
	// The cut comes first and then closes the socket, so the reader,
	// which sees the socket close, cannot record a plain disconnect
	// instead.
	t := time.AfterFunc(c.g.cfg.WriteTimeout, func() {
		c.cut(proto.Code_SLOW_CONSUMER, "the device did not read fast enough; reconnect, undelivered mail is kept")
	})
	err := c.ws.Write(c.ctx, websocket.MessageBinary, f)
	t.Stop()
	if err != nil {
		c.cut(proto.Code_OK, "")
		return false
	}
	return true
}

// closeSocket flushes what is queued (typically the response that explains
// the close), sends a Notice and closes with status 4000+code.
func (c *conn) closeSocket() {
	code, reason := c.closeCode, c.closeReason
	if code == proto.Code_SLOW_CONSUMER {
		c.kill()
		return
	}
	for f := c.out.pop(); f != nil; f = c.out.pop() {
		if !c.write(f) {
			c.kill()
			return
		}
	}
	status := websocket.StatusNormalClosure
	if code != proto.Code_OK {
		if !c.write(noticeFrame(code, reason)) {
			c.kill()
			return
		}
		status = websocket.StatusCode(4000 + int(code))
	}
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	// Close waits (bounded by the library) for the device's close frame.
	c.ws.Close(status, reason)
	c.kill()
}
