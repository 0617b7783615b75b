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

// pushLoop feeds the device's mailbox to the writer in seq order, at most
// proto.MaxEventBatch unacknowledged, until it has caught up and nothing
// new arrived meanwhile (wakePusher starts it again).
func (c *conn) pushLoop() {
	dev := c.who.DeviceID
	m := c.g.cfg.Metrics
	for {
		if limit := proto.MaxEventBatch - c.win.inFlight(); limit > 0 {
			mails, err := c.g.cfg.Mailbox.Fetch(c.ctx, dev, c.win.after(), limit)
			if err != nil {
				if c.ctx.Err() == nil {
					c.log().Error("mailbox fetch failed", "err", err)
					c.cut(proto.Code_UNAVAILABLE, "the server cannot read your mailbox right now; reconnect later")
				}
				return
			}
			for _, mail := range mails {
				if !c.win.push(mail.Seq) {
					continue
				}
				m.MailboxInFlight.Inc()
				select {
				case c.mail <- EnvelopeFrame(mail.Seq, mail.Envelope):
					m.MessagesOut.WithLabelValues("mailbox").Inc()
				case <-c.quit:
					return
				}
			}
			if len(mails) == limit {
				continue // there may be more
			}
		}
		if c.pushDone() {
			return
		}
	}
}
