package delivery

import (
	"testing"
	"time"
)

func TestLingerFor(t *testing.T) {
	for _, c := range []struct {
		waited time.Duration
		n      int
		want   time.Duration
	}{
		{0, 1, lingerMax},
		{lingerBusy - time.Microsecond, lingerFill - 1, lingerMax},
		{lingerBusy, 1, 0},      // items arrive slowly: a lone Send waits for nothing
		{time.Second, 1, 0},     // idle server
		{0, lingerFill, 0},      // already full enough
		{0, 10 * lingerFill, 0}, // a full batch under load
	} {
		if got := lingerFor(c.waited, c.n); got != c.want {
			t.Errorf("lingerFor(%v, %d) = %v, want %v", c.waited, c.n, got, c.want)
		}
	}
}

// TestLingerStopsAtFill: lingering takes queued items up to lingerFill and
// leaves the rest for the next batch.
func TestLingerStopsAtFill(t *testing.T) {
	s := &Service{maxBatch: DefaultMaxBatch}
	in := make(chan *submission, 100)
	for range 50 {
		in <- &submission{}
	}
	acks := make(chan *ackReq, 10)
	acks <- &ackReq{}
	never := make(chan time.Time)
	batch, ackBatch := s.linger([]*submission{{}}, nil, &in, &acks, never)
	if len(batch)+len(ackBatch) != lingerFill {
		t.Errorf("linger took %d sends and %d acks, want %d in all", len(batch), len(ackBatch), lingerFill)
	}
	if left := len(in) + len(acks); left != 51-lingerFill+1 {
		t.Errorf("%d items left queued, want %d", left, 51-lingerFill+1)
	}
}

// TestLingerTimeout: with nothing queued (the ack queue closed), lingering
// ends when the timer fires.
func TestLingerTimeout(t *testing.T) {
	s := &Service{maxBatch: DefaultMaxBatch}
	in := make(chan *submission, 1)
	acks := make(chan *ackReq)
	close(acks)
	fired := make(chan time.Time, 1)
	fired <- time.Time{}
	batch, ackBatch := s.linger([]*submission{{}}, nil, &in, &acks, fired)
	if len(batch) != 1 || len(ackBatch) != 0 {
		t.Errorf("linger returned %d sends, %d acks; want 1, 0", len(batch), len(ackBatch))
	}
	if in == nil {
		t.Error("open Send queue marked done")
	}
}
