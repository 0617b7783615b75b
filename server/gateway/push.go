package gateway

import (
	"sync"

	"github.com/parleyhq/parley/proto"
)

// window tracks what the pusher has sent and the device has acknowledged.
// The store assigns each device's sequence numbers in commit order (a
// per-device counter updated in the same transaction as the insert), so
// fetching "after the last pushed seq" never skips an entry.
type window struct {
	mu     sync.Mutex
	cursor uint64   // highest seq pushed or acknowledged
	pushed []uint64 // pushed and not yet acknowledged, ascending
	// known is the highest seq the bus signalled. hints counts the bus's
	// "there may be mail" signals (seq 0); settled is hints+1 as of the
	// start of the last fetch that read the mailbox to its end (0: none
	// yet). While settled == hints+1 and cursor >= known, every entry
	// the device has was pushed, and a wake-up (an ack's, typically)
	// needs no mailbox read.
	known   uint64
	hints   uint32
	settled uint32
}

// signal records a bus wake-up for seq (0: there may be mail).
func (w *window) signal(seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq == 0 {
		w.hints++
		return
	}
	w.known = max(w.known, seq)
}

// upToDate reports whether a mailbox read would find nothing new, and
// returns the mark to pass to readAll after a read that started now.
func (w *window) upToDate() (bool, uint32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	mark := w.hints + 1
	return w.settled == mark && w.cursor >= w.known, mark
}

// readAll records that a mailbox read that began at mark reached the end
// of the mailbox.
func (w *window) readAll(mark uint32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settled = mark
}

// inFlight is how many pushed entries wait for an ack.
func (w *window) inFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pushed)
}

func (w *window) after() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cursor
}

// push records seq as pushed; false if it is at or below the cursor
// (acknowledged meanwhile, so already deleted).
func (w *window) push(seq uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq <= w.cursor {
		return false
	}
	w.cursor = seq
	w.pushed = append(w.pushed, seq)
	return true
}

// ack drops pushed entries up to upTo and returns how many. Acking beyond
// the cursor moves it: those entries are deleted and must not be fetched.
func (w *window) ack(upTo uint64) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for n < len(w.pushed) && w.pushed[n] <= upTo {
		n++
	}
	w.pushed = append(w.pushed[:0], w.pushed[n:]...)
	if len(w.pushed) == 0 {
		w.pushed = nil // an idle connection keeps no window
	}
	w.cursor = max(w.cursor, upTo)
	return n
}

// clear forgets everything in flight and returns how many there were.
func (w *window) clear() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.pushed)
	w.pushed = nil
	return n
}

// pushLoop feeds the device's mailbox to the socket in seq order, at most
// proto.MaxEventBatch unacknowledged, until it has caught up and nothing
// new arrived meanwhile (wakePusher starts it again).
func (c *conn) pushLoop() {
	who := c.ident.Load()
	if who == nil {
		c.pushDone()
		return
	}
	m := c.g.cfg.Metrics
	for {
		upToDate, mark := c.win.upToDate()
		if limit := proto.MaxEventBatch - c.win.inFlight(); limit > 0 && !upToDate {
			mails, err := c.g.cfg.Mailbox.Fetch(c.g.ctx, who.DeviceID, c.win.after(), limit)
			if err != nil {
				if !c.isClosing() {
					c.log().Error("mailbox fetch failed", "err", err)
					c.cut(proto.Code_UNAVAILABLE, "the server cannot read your mailbox right now; reconnect later")
				}
				c.pushDone()
				return
			}
			for _, mail := range mails {
				if !c.win.push(mail.Seq) {
					continue
				}
				m.MailboxInFlight.Inc()
				if !c.pushFrame(EnvelopeFrame(mail.Seq, mail.Envelope)) {
					c.pushDone()
					return
				}
				m.MessagesOut.WithLabelValues("mailbox").Inc()
			}
			if len(mails) == limit {
				continue // there may be more
			}
			c.win.readAll(mark)
		}
		if c.pushDone() {
			return
		}
	}
}

// pushDirect pushes entry seq from memory when that is exactly what the
// pusher would do next: the device has everything up to seq-1, the pusher
// is idle, the window has room and nothing waits to be written (a pushed
// entry never jumps the queue's backpressure). Otherwise it returns false
// and the caller wakes the pusher, which reads the mailbox.
func (c *conn) pushDirect(seq uint64, envelope []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.pushOK || c.closing || c.pushRunning || len(c.out) > 0 || seq == 0 {
		return false
	}
	c.win.mu.Lock()
	ok := c.win.cursor == seq-1 && len(c.win.pushed) < proto.MaxEventBatch
	if ok {
		c.win.cursor = seq
		c.win.pushed = append(c.win.pushed, seq)
	}
	c.win.mu.Unlock()
	if !ok {
		return false
	}
	m := c.g.cfg.Metrics
	m.MailboxInFlight.Inc()
	c.queueLocked(outFrame{b: encodeFrame(opBinary, EnvelopeFrame(seq, envelope))})
	m.MessagesOut.WithLabelValues("mailbox").Inc()
	return true
}

// wakePusher makes sure the pusher looks at the mailbox again: it starts
// it, or tells the running one to fetch once more before it stops.
func (c *conn) wakePusher() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.pushOK || c.closing {
		return
	}
	if c.pushRunning {
		c.pushAgain = true
		return
	}
	c.pushRunning = true
	c.tasks.Go(c.pushLoop)
}

// pushDone reports whether the pusher may stop: nothing asked it to look
// again since it last fetched, or the connection is closing.
func (c *conn) pushDone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pushAgain && !c.closing {
		c.pushAgain = false
		return false
	}
	c.pushAgain = false
	c.pushRunning = false
	return true
}
