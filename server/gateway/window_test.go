package gateway

import "testing"

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
	w.push(3)
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
