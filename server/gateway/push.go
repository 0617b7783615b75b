package gateway

import (
	"sync"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/store"
)

// The push window: at most proto.MaxEventBatch entries and, beside that
// count, about maxInFlightBytes of envelopes may be pushed and not yet
// acknowledged. The count alone let a device that stopped reading pin
// 256 entries of up to 64 KiB (16 MiB) each; the bytes bound it to about
// 1 MiB, in the pusher's hands, the output queue and the kernel.
const (
	// maxInFlightBytes bounds the envelopes pushed and not acknowledged:
	// the pusher fetches and pushes no entry that would pass it, but
	// always one when nothing is in flight, so an entry bigger than the
	// budget (a welcome, up to proto.MaxHandshakeBytes) still goes out.
	maxInFlightBytes = 1 << 20
	// unknownEntryBytes sizes the first fetch of a connection, before it
	// has seen its mailbox: as if every entry were the largest
	// application message, so that fetch holds about maxInFlightBytes.
	unknownEntryBytes = proto.MaxCiphertextBytes + 1<<10
)

// window tracks what the pusher has sent and the device has acknowledged.
// The store assigns each device's sequence numbers in commit order (a
// per-device counter updated in the same transaction as the insert), so
// fetching "after the last pushed seq" never skips an entry.
type window struct {
	mu     sync.Mutex
	cursor uint64     // highest seq pushed or acknowledged
	pushed []inFlight // pushed and not yet acknowledged, ascending
	bytes  int32      // the envelope bytes of pushed
	// largest is the largest envelope of the last fetch (0: none yet),
	// which sizes the next fetch to the byte budget. (int32s: conn's
	// size class, see maxConnBytes.)
	largest int32
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

// signalled reports whether the bus signalled any mail yet.
func (w *window) signalled() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.known > 0 || w.hints > 0
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

// inFlight is one pushed entry waiting for an ack.
type inFlight struct {
	seq  uint64
	size int32 // envelope bytes
}

// fetchLimit is how many entries the pusher may fetch now: what the
// window's count leaves, sized to what its byte budget leaves at the
// largest envelope of the last fetch; 0 when either is spent, but 1
// when nothing is in flight.
func (w *window) fetchLimit() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pushed) == 0 {
		return min(proto.MaxEventBatch, max(1, maxInFlightBytes/w.entryEstimate()))
	}
	free := maxInFlightBytes - int(w.bytes)
	if free <= 0 {
		return 0
	}
	return min(proto.MaxEventBatch-len(w.pushed), free/w.entryEstimate())
}

func (w *window) entryEstimate() int {
	if w.largest == 0 {
		return unknownEntryBytes
	}
	return int(w.largest)
}

// fits trims a fetched batch to what the byte budget takes now (at least
// one entry when nothing is in flight) and records its largest envelope;
// it reports whether the whole batch fit.
func (w *window) fits(mails []store.Mail) ([]store.Mail, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	largest, total, keep := 0, int(w.bytes), len(mails)
	for i, m := range mails {
		n := len(m.Envelope)
		largest = max(largest, n)
		if keep == len(mails) && total+n > maxInFlightBytes && (i > 0 || len(w.pushed) > 0) {
			keep = i
		}
		total += n
	}
	if largest > 0 {
		w.largest = int32(largest)
	}
	if keep == len(mails) {
		return mails, true
	}
	clear(mails[keep:]) // the rest is fetched again after an ack
	return mails[:keep], false
}

// roomLocked reports whether an envelope of n bytes may be pushed now
// (pushDirect); the caller holds w.mu.
func (w *window) roomLocked(n int) bool {
	return len(w.pushed) == 0 || len(w.pushed) < proto.MaxEventBatch && int(w.bytes)+n <= maxInFlightBytes
}

func (w *window) after() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cursor
}

// push records seq, of size envelope bytes, as pushed; false if it is
// at or below the cursor (acknowledged meanwhile, so already deleted).
func (w *window) push(seq uint64, size int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq <= w.cursor {
		return false
	}
	w.pushLocked(seq, size)
	return true
}

func (w *window) pushLocked(seq uint64, size int) {
	w.cursor = seq
	w.pushed = append(w.pushed, inFlight{seq: seq, size: int32(size)})
	w.bytes += int32(size)
}

// ack drops pushed entries up to upTo and returns how many. Acking beyond
// the cursor moves it: those entries are deleted and must not be fetched.
func (w *window) ack(upTo uint64) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for n < len(w.pushed) && w.pushed[n].seq <= upTo {
		w.bytes -= w.pushed[n].size
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
	w.pushed, w.bytes = nil, 0
	return n
}

// pushLoop feeds the device's mailbox to the socket in seq order, within
// the window (proto.MaxEventBatch entries, maxInFlightBytes), until it has
// caught up and nothing new arrived meanwhile, or the window is full
// (wakePusher starts it again, on new mail or an ack).
func (c *conn) pushLoop() {
	who := c.ident.Load()
	if who == nil {
		c.pushDone()
		return
	}
	m := c.g.cfg.Metrics
	for {
		upToDate, mark := c.win.upToDate()
		if limit := c.win.fetchLimit(); limit > 0 && !upToDate {
			mails, err := c.g.cfg.Mailbox.Fetch(c.g.ctx, who.DeviceID, c.win.after(), limit)
			if err != nil {
				if !c.isClosing() {
					c.log().Error("mailbox fetch failed", "err", err)
					c.cut(proto.Code_UNAVAILABLE, "the server cannot read your mailbox right now; reconnect later")
				}
				c.pushDone()
				return
			}
			more := len(mails) == limit // there may be more
			mails, all := c.win.fits(mails)
			for i, mail := range mails {
				mails[i] = store.Mail{} // pushed or skipped: not kept while the next waits
				if !c.win.push(mail.Seq, len(mail.Envelope)) {
					continue
				}
				m.MailboxInFlight.Inc()
				if !c.pushFrame(mail.Seq, mail.Envelope) {
					c.pushDone()
					return
				}
				m.MessagesOut.WithLabelValues("mailbox").Inc()
			}
			if more || !all {
				continue // the window decides whether to fetch again
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
	ok := c.win.cursor == seq-1 && c.win.roomLocked(len(envelope))
	if ok {
		c.win.pushLocked(seq, len(envelope))
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
