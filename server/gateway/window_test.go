package gateway

import (
	"testing"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/store"
)

// The pusher skips a mailbox read only when it has read the mailbox to
// its end since the last "there may be mail" hint and has pushed up to
// the highest seq signalled.
func TestWindowUpToDate(t *testing.T) {
	var w window
	if ok, _ := w.upToDate(); ok {
		t.Fatal("a new connection must read its mailbox once")
	}
	_, mark := w.upToDate()
	w.readAll(mark)
	if ok, _ := w.upToDate(); !ok {
		t.Fatal("after reading an empty mailbox to its end")
	}
	w.signal(3)
	if ok, _ := w.upToDate(); ok {
		t.Fatal("seq 3 signalled, cursor 0")
	}
	w.push(3, 100)
	if ok, _ := w.upToDate(); !ok {
		t.Fatal("seq 3 pushed")
	}
	w.ack(3)
	if ok, _ := w.upToDate(); !ok {
		t.Fatal("an ack needs no read")
	}
	// A hint during a read: that read does not settle it.
	_, mark = w.upToDate()
	w.signal(0)
	w.readAll(mark)
	if ok, _ := w.upToDate(); ok {
		t.Fatal("a hint that arrived during the read was lost")
	}
	_, mark = w.upToDate()
	w.readAll(mark)
	if ok, _ := w.upToDate(); !ok {
		t.Fatal("after a read that began after the hint")
	}
}

// mails returns n mailbox entries of size envelope bytes from seq first.
func mails(first uint64, n, size int) []store.Mail {
	var ms []store.Mail
	for i := range n {
		ms = append(ms, store.Mail{Seq: first + uint64(i), Envelope: make([]byte, size)})
	}
	return ms
}

// The window bounds pushed, unacknowledged mail by bytes beside its
// count: a fetch is sized and trimmed to what maxInFlightBytes leaves,
// an ack makes room again, and one entry always goes when nothing is in
// flight, whatever its size.
func TestWindowByteBudget(t *testing.T) {
	const big = 60 << 10
	var w window
	if got, want := w.fetchLimit(), maxInFlightBytes/unknownEntryBytes; got != want {
		t.Fatalf("first fetch limit %d, want %d (sized as if every entry were %d bytes)", got, want, unknownEntryBytes)
	}
	batch, all := w.fits(mails(1, 20, big))
	perBudget := maxInFlightBytes / big
	if all || len(batch) != perBudget {
		t.Fatalf("20 entries of %d bytes: kept %d (all %v), want %d", big, len(batch), all, perBudget)
	}
	for _, m := range batch {
		if !w.push(m.Seq, len(m.Envelope)) {
			t.Fatalf("push %d refused", m.Seq)
		}
	}
	if n := w.fetchLimit(); n != 0 {
		t.Fatalf("fetch limit %d with %d bytes in flight, want 0", n, w.inFlightBytes())
	}
	w.mu.Lock()
	room := w.roomLocked(big)
	w.mu.Unlock()
	if room {
		t.Fatal("a direct push would pass the byte budget")
	}

	// An ack of half makes room for about half.
	half := uint64(perBudget / 2)
	if n := w.ack(half); n != int(half) {
		t.Fatalf("ack dropped %d entries, want %d", n, half)
	}
	if got, want := w.inFlightBytes(), (perBudget-int(half))*big; got != want {
		t.Fatalf("in flight %d bytes after the ack, want %d", got, want)
	}
	if got, want := w.fetchLimit(), (maxInFlightBytes-w.inFlightBytes())/big; got != want {
		t.Fatalf("fetch limit %d after the ack, want %d", got, want)
	}

	// Everything acknowledged: an entry over the whole budget still goes.
	w.ack(w.after())
	if w.inFlightBytes() != 0 {
		t.Fatalf("%d bytes in flight after acking everything", w.inFlightBytes())
	}
	huge, all := w.fits(mails(w.after()+1, 3, maxInFlightBytes+1))
	if len(huge) != 1 || all {
		t.Fatalf("entries over the budget with nothing in flight: kept %d, want 1", len(huge))
	}
	w.push(huge[0].Seq, len(huge[0].Envelope))
	if n := w.fetchLimit(); n != 0 {
		t.Fatalf("fetch limit %d with one oversized entry in flight, want 0", n)
	}
	w.ack(w.after())

	// Small entries: the count bounds the fetch, not the bytes.
	w.fits(mails(w.after()+1, 1, 300))
	if n := w.fetchLimit(); n != proto.MaxEventBatch {
		t.Fatalf("fetch limit %d for 300-byte entries, want %d", n, proto.MaxEventBatch)
	}
}

// inFlightBytes is the envelope bytes pushed and not acknowledged (for
// the tests).
func (w *window) inFlightBytes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return int(w.bytes)
}
