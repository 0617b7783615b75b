package gateway

import (
	"errors"
	"net"
	"os"
	"time"

	"github.com/parleyhq/parley/proto"
)

// Output. Frames are written straight to the socket by whoever queues
// them, without blocking: what the socket does not take waits in the
// connection's output queue until the event loop reports it writable. In
// goroutine mode a writer goroutine, started on demand, does blocking
// writes with a deadline instead.
//
// The write timeout is on the wall clock, unlike every other timeout: it
// bounds a real socket, which a fake clock cannot stall, and a test that
// moves a fake clock forward must not cut a connection whose writes had
// already finished on the wire.

const (
	// maxWritev bounds the frames gathered into one writev.
	maxWritev = 64
	// closeWait is how long a closing connection waits for the device's
	// close frame once its own went out.
	closeWait = 5 * time.Second
	// maxQueueBytes bounds, beside Config.SendQueue's frame count, the
	// events waiting for the socket: a device that does not read while
	// they pile up is cut as a slow consumer when the next one would
	// pass it (one event is always let in, whatever its size).
	// Responses to the device's own requests are not counted here (a
	// device that reads normally may be owed two near-maximal ones, a
	// CONFLICT's winning commit, back to back); they hold back the
	// device's next request instead (waitResponsesLocked) while
	// maxQueueBytes of them wait, so they stay under maxQueueBytes plus
	// one response (proto.MaxFrameBytes) plus the answers of the Sends in
	// flight (maxPipelinedSends, each small). With pushed mail
	// (maxInFlightBytes, push.go) and the socket's send buffer
	// (Config.SendBuffer) it bounds what a connection that stopped
	// reading holds; such a device stops the writes, and WriteTimeout
	// cuts it.
	maxQueueBytes = 1 << 20
	// closeRoom is the largest close frame: a 2-byte header and a
	// control frame's 125 bytes of payload.
	closeRoom = 2 + 125
)

// queueFullLocked reports whether a counted frame of n bytes (a response
// if resp, else an event) would pass the output bounds
// (Config.SendQueue frames; for events, maxQueueBytes bytes).
func (c *conn) queueFullLocked(n int, resp bool) bool {
	return int(c.counted) >= c.g.cfg.SendQueue || !resp && c.eventB > 0 && int(c.eventB)+n > maxQueueBytes
}

// waitResponsesLocked holds the worker back, before it takes the
// device's next request, while maxQueueBytes of responses wait for the
// socket: a device that reads its responses slowly is answered at its
// pace rather than cut; one that does not read at all stalls the socket
// and WriteTimeout cuts it. False if the connection closed meanwhile.
func (c *conn) waitResponsesLocked() bool {
	for int(c.respB) >= maxQueueBytes && !c.closing {
		c.waitLocked()
	}
	return !c.closing
}

// countLocked adds f (sign 1) to or removes it (sign -1) from the
// output's counts.
func (c *conn) countLocked(f *outFrame, sign int32) {
	if !f.counted {
		return
	}
	c.counted += sign
	if f.resp {
		c.respB += sign * int32(len(f.b))
	} else {
		c.eventB += sign * int32(len(f.b))
	}
}

// dropOutputLocked empties the output of a connection cut as a slow
// consumer, so its close frame is the next thing the socket takes: a
// device that reads again, however late, learns why it was cut (status
// 4016) after what the kernel already holds for it. A frame partly
// written stays, or the device could not parse what follows. The
// socket's send buffer, full by then, grows by what is left to write
// (closeRoom and the rest of that frame, see sysGrowSendBuffer), and
// closeLocked writes the close frame at once, without waiting for the
// event loop, so it goes into the kernel and is delivered, after the
// rest, even once the socket is closed; should the kernel refuse (the
// buffer could not grow enough: net.core.wmem_max), the stall clock
// restarts and the close frame gets another WriteTimeout before the
// sweeper drops the socket (the device then sees the stream end, EOF,
// instead).
func (c *conn) dropOutputLocked() {
	keep := 0
	if len(c.out) > 0 && (c.outHead > 0 || c.nc != nil && c.wantWrite) {
		keep = 1 // partly written, or in the goroutine writer's hands
	}
	if c.fd >= 0 {
		room := closeRoom
		if keep == 1 {
			room += len(c.out[0].b) - int(c.outHead)
		}
		sysGrowSendBuffer(c.fd, room)
	}
	clear(c.out[keep:])
	c.out = c.out[:keep]
	c.counted, c.eventB, c.respB = 0, 0, 0
	if keep == 1 {
		c.countLocked(&c.out[0], 1)
	} else {
		c.out, c.outHead = nil, 0
	}
	c.stallSince.Store(time.Now().UnixNano())
}

// queueLocked appends f to the output and starts writing it.
func (c *conn) queueLocked(f outFrame) {
	if c.released {
		return
	}
	c.out = append(c.out, f)
	c.countLocked(&f, 1)
	switch {
	case c.nc != nil:
		if !c.wantWrite {
			c.wantWrite = true
			c.tasks.Go(c.writeLoop)
		}
	case !c.wantWrite:
		c.flushLocked()
	}
}

// flushLocked writes what the socket takes now (event-loop mode).
func (c *conn) flushLocked() {
	if c.fd < 0 {
		return
	}
	var bufs [maxWritev][]byte
	for len(c.out) > 0 {
		n := 0
		for _, f := range c.out[:min(len(c.out), maxWritev)] {
			bufs[n] = f.b
			n++
		}
		bufs[0] = bufs[0][c.outHead:]
		wrote, full, err := sysWrite(c.fd, bufs[:n])
		if err != nil {
			c.peerClosed = true
			c.closeLocked(proto.Code_OK, "", statusNormal, false)
			c.releaseLocked()
			return
		}
		progressed := c.advanceLocked(wrote)
		if full {
			if progressed || c.stallSince.Load() == 0 {
				c.stallSince.Store(time.Now().UnixNano())
			}
			if !c.wantWrite {
				c.wantWrite = true
				c.writeInterestLocked()
			}
			return
		}
	}
	c.drainedLocked()
}

// advanceLocked drops n written bytes from the output; it reports whether
// a frame was completed.
func (c *conn) advanceLocked(n int) bool {
	done := false
	for n > 0 && len(c.out) > 0 {
		rest := len(c.out[0].b) - int(c.outHead)
		if n < rest {
			c.outHead += int32(n)
			return done
		}
		n -= rest
		c.countLocked(&c.out[0], -1)
		if c.out[0].resp {
			c.broadcastLocked() // waitResponsesLocked
		}
		c.out[0] = outFrame{}
		c.out = c.out[1:]
		c.outHead = 0
		done = true
	}
	return done
}

// drainedLocked runs when everything queued has been written.
func (c *conn) drainedLocked() {
	c.out, c.outHead = nil, 0
	c.stallSince.Store(0)
	if c.wantWrite && c.nc == nil {
		c.wantWrite = false
		c.writeInterestLocked()
	}
	c.broadcastLocked() // the pusher waits for an empty queue
	if c.closeSent {
		if c.peerClosed {
			c.releaseLocked()
		} else if c.closeBy.Load() == 0 {
			c.closeBy.Store(time.Now().Add(closeWait).UnixNano())
		}
	}
}

// writable is the event loop's "the socket takes data again".
func (c *conn) writable() {
	c.mu.Lock()
	if c.wantWrite {
		c.flushLocked()
	}
	c.mu.Unlock()
}

// writeInterestLocked updates the poller's interest after wantWrite
// changed.
func (c *conn) writeInterestLocked() {
	if c.p != nil && c.fd >= 0 {
		c.p.modify(c.fd, !c.paused, c.wantWrite)
	}
}

// readInterestLocked updates the poller's interest after paused changed
// (goroutine mode: wakes a reader waiting for the inbox to drain).
func (c *conn) readInterestLocked() {
	if c.nc != nil {
		c.broadcastLocked()
		return
	}
	if c.p != nil && c.fd >= 0 {
		c.p.modify(c.fd, !c.paused, c.wantWrite)
	}
}

// readable is the event loop's "data (or the end of the stream) arrived".
func (c *conn) readable(buf []byte, hup bool) {
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return
	}
	if c.paused && !hup {
		c.mu.Unlock()
		return // a late event from before the pause
	}
	n, err := sysRead(c.fd, buf)
	c.mu.Unlock()
	switch {
	case n > 0:
		c.feed(buf[:n])
	case err != nil && wouldBlock(err):
	default:
		c.gone()
	}
}

// writeLoop is goroutine mode's writer: it runs while there is output.
func (c *conn) writeLoop() {
	for {
		c.mu.Lock()
		if c.released {
			c.mu.Unlock()
			return
		}
		if len(c.out) == 0 {
			c.wantWrite = false
			c.drainedLocked()
			c.mu.Unlock()
			return
		}
		b, nc := c.out[0].b, c.nc
		c.mu.Unlock()

		nc.SetWriteDeadline(time.Now().Add(c.g.cfg.WriteTimeout))
		_, err := nc.Write(b)

		c.mu.Lock()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
				first := c.closeLocked(proto.Code_SLOW_CONSUMER, slowConsumerReason, 0, false)
				c.releaseLocked()
				c.wantWrite = false
				c.mu.Unlock()
				if first {
					c.closed(proto.Code_SLOW_CONSUMER, slowConsumerReason)
				}
				return
			}
			c.peerClosed = true
			c.closeLocked(proto.Code_OK, "", statusNormal, false)
			c.releaseLocked()
			c.wantWrite = false
			c.mu.Unlock()
			return
		}
		c.advanceLocked(len(b))
		c.mu.Unlock()
	}
}

// pushFrame queues entry seq for the device once the output is empty, so
// pushes follow the device's reading pace instead of piling up; false
// when the connection is closing. The frame is built after the wait: a
// pusher waiting on a device that stopped reading holds the envelope
// only, not a framed copy too.
func (c *conn) pushFrame(seq uint64, envelope []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.out) > 0 && !c.closing {
		c.waitLocked()
	}
	if c.closing {
		return false
	}
	c.queueLocked(outFrame{b: encodeFrame(opBinary, EnvelopeFrame(seq, envelope))})
	return true
}
