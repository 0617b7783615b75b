package gateway

import (
	"context"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/parleyhq/parley/proto"
)

// maxCloseReason is what fits in a WebSocket close frame (125 bytes of
// control payload minus the 2-byte status).
const maxCloseReason = 123

// writeLoop is the only writer of the socket.
func (c *conn) writeLoop() {
	for {
		var f []byte
		select {
		case <-c.quit:
			c.closeSocket()
			return
		case f = <-c.out:
		case f = <-c.mail:
		}
		if !c.write(f) {
			c.kill()
			return
		}
	}
}

// write writes one frame within WriteTimeout (on the injected clock). A
// write that times out means the device stopped reading: SLOW_CONSUMER.
func (c *conn) write(f []byte) bool {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	var timedOut atomic.Bool
	t := c.g.clock.AfterFunc(c.g.cfg.WriteTimeout, func() {
		timedOut.Store(true)
		cancel()
	})
	err := c.ws.Write(ctx, websocket.MessageBinary, f)
	t.Stop()
	if err == nil {
		return true
	}
	if timedOut.Load() {
		c.cut(proto.Code_SLOW_CONSUMER, "the device did not read fast enough; reconnect, undelivered mail is kept")
	} else {
		c.cut(proto.Code_OK, "")
	}
	return false
}

// closeSocket flushes what is queued (typically the response that explains
// the close), sends a Notice and closes with status 4000+code.
func (c *conn) closeSocket() {
	code, reason := c.closeCode, c.closeReason
	if code == proto.Code_SLOW_CONSUMER {
		c.kill()
		return
	}
	for flushed := false; !flushed; {
		select {
		case f := <-c.out:
			if !c.write(f) {
				c.kill()
				return
			}
		default:
			flushed = true
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
