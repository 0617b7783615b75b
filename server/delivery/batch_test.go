package delivery

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/bus/local"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/metrics"
	"github.com/parleyhq/parley/store"
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

// orderStore numbers each device's mail like a store would and records
// the batch sizes it was given.
type orderStore struct {
	store.Store
	mu      sync.Mutex
	seq     map[string]uint64
	batches []int
	// failOdd makes every second write (the 2nd, 4th, …) fail whole.
	failOdd bool
}

func (o *orderStore) DeliverAndAck(_ context.Context, subs []store.Submission, _ []store.AckUpTo) ([]error, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.batches = append(o.batches, len(subs))
	if o.failOdd && len(o.batches)%2 == 0 {
		return nil, errors.New("disk on fire")
	}
	for i := range subs {
		for j := range subs[i].Mail {
			o.seq[subs[i].Mail[j].DeviceID]++
			subs[i].Mail[j].Seq = o.seq[subs[i].Mail[j].DeviceID]
		}
	}
	return make([]error, len(subs)), nil
}

func (o *orderStore) Expire(context.Context, time.Time, time.Time) (int, error) { return 0, nil }

// TestAnswersInOrder: every Send is answered once, in the order the
// batches were written, and Stop returns only after the answers.
func TestAnswersInOrder(t *testing.T) {
	st := &orderStore{seq: map[string]uint64{}}
	s, err := New(Config{Store: st, Bus: local.New(), Metrics: metrics.New(), MaxBatch: 8})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	var mu sync.Mutex
	var answered []int
	for i := range n {
		s.in <- &submission{
			sub: store.Submission{SenderDevice: "a", MessageID: []byte{byte(i), byte(i >> 8)},
				Mail: []store.Mail{{DeviceID: "b", Envelope: []byte{1}}}},
			done: func(r *proto.Response) {
				if r.Code != proto.Code_OK {
					t.Errorf("send %d answered %v", i, r.Code)
				}
				mu.Lock()
				answered = append(answered, i)
				mu.Unlock()
			},
		}
		if i == 300 {
			s.Start() // the rest arrive while batches are being written
		}
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(answered) != n {
		t.Fatalf("%d sends answered, want %d", len(answered), n)
	}
	for i, got := range answered {
		if got != i {
			t.Fatalf("answer %d is send %d: answers out of order", i, got)
		}
	}
	for _, b := range st.batches {
		if b > 8 {
			t.Errorf("a batch of %d, MaxBatch 8", b)
		}
	}
}

// TestFailedBatchAnsweredInOrder: a batch whose write failed is answered
// (UNAVAILABLE) after the batches written before it, even while the
// answerer is still busy with them.
func TestFailedBatchAnsweredInOrder(t *testing.T) {
	st := &orderStore{seq: map[string]uint64{}, failOdd: true}
	s, err := New(Config{Store: st, Bus: local.New(), Metrics: metrics.New(), MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	var mu sync.Mutex
	var answered []int
	var codes []proto.Code
	for i := range n {
		s.in <- &submission{
			sub: store.Submission{SenderDevice: "a", MessageID: []byte{byte(i)},
				Mail: []store.Mail{{DeviceID: "b", Envelope: []byte{1}}}},
			done: func(r *proto.Response) {
				if i == 0 {
					// The answerer is busy while the batcher writes on,
					// and the second write fails meanwhile.
					time.Sleep(50 * time.Millisecond)
				}
				mu.Lock()
				answered = append(answered, i)
				codes = append(codes, r.Code)
				mu.Unlock()
			},
		}
	}
	s.Start()
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(answered) != n {
		t.Fatalf("%d sends answered, want %d", len(answered), n)
	}
	for i, got := range answered {
		want := proto.Code_OK
		if i%2 == 1 {
			want = proto.Code_UNAVAILABLE // the 2nd, 4th, … write failed
		}
		if got != i || codes[i] != want {
			t.Fatalf("answers %v with codes %v: want sends in order, odd ones UNAVAILABLE", answered, codes)
		}
	}
}

// TestAnswerQueueBound: while the answerer is stuck, the batcher writes
// at most answerQueue batches ahead of it (plus the one it holds), then
// waits; nothing is lost once the answerer moves again.
func TestAnswerQueueBound(t *testing.T) {
	st := &orderStore{seq: map[string]uint64{}}
	s, err := New(Config{Store: st, Bus: local.New(), Metrics: metrics.New(), MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	const n = answerQueue + 6
	release := make(chan struct{})
	var answered atomic.Int32
	for i := range n {
		s.in <- &submission{
			sub: store.Submission{SenderDevice: "a", MessageID: []byte{byte(i)},
				Mail: []store.Mail{{DeviceID: "b", Envelope: []byte{1}}}},
			done: func(*proto.Response) {
				if i == 0 {
					<-release // the answerer is stuck on the first answer
				}
				answered.Add(1)
			},
		}
	}
	s.Start()
	writes := func() int {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.batches)
	}
	// The first batch is being answered, answerQueue wait for the
	// answerer, and the batcher holds one more written batch.
	const bound = 1 + answerQueue + 1
	for writes() < bound {
		runtime.Gosched()
	}
	time.Sleep(50 * time.Millisecond) // room to overrun the bound, were it not enforced
	if got := writes(); got != bound {
		t.Fatalf("%d batches written while the answerer was stuck, bound %d", got, bound)
	}
	close(release)
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := answered.Load(); got != n {
		t.Fatalf("%d sends answered, want %d", got, n)
	}
}
