package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/store"
)

func testDeliver(t *testing.T, s store.Store) {
	subs := []store.Submission{
		sub("dev-a", 1, mail("dev-x", "1x"), mail("dev-y", "1y")),
		sub("dev-a", 2, mail("dev-x", "2x"), mail("dev-y", "2y")),
		sub("dev-b", 1, mail("dev-y", "3y")),
	}
	for i, err := range deliver(t, s, subs...) {
		noErr(t, fmt.Sprintf("submission %d", i), err)
	}
	// Seq is set in place, counting per device.
	wantSeqs := [][]uint64{{1, 1}, {2, 2}, {3}}
	for i, sub := range subs {
		for j, m := range sub.Mail {
			if m.Seq != wantSeqs[i][j] {
				t.Errorf("submission %d mail %d: Seq = %d, want %d", i, j, m.Seq, wantSeqs[i][j])
			}
		}
	}
	x := fetchAll(t, s, "dev-x")
	if got := envelopes(x); !equalStrings(got, []string{"1x", "2x"}) {
		t.Errorf("dev-x mailbox = %q", got)
	}
	y := fetchAll(t, s, "dev-y")
	if got := envelopes(y); !equalStrings(got, []string{"1y", "2y", "3y"}) {
		t.Errorf("dev-y mailbox = %q", got)
	}
	for i, m := range y {
		if m.Seq != uint64(i+1) || m.DeviceID != "dev-y" || !m.Expires.Equal(T0.Add(proto.MailboxTTL)) {
			t.Errorf("dev-y[%d] = seq %d device %s expires %v", i, m.Seq, m.DeviceID, m.Expires)
		}
	}
	if n, last := depth(t, s, "dev-y"); n != 3 || last != 3 {
		t.Errorf("MailboxDepth(dev-y) = %d, %d; want 3, 3", n, last)
	}
	if n, last := depth(t, s, "dev-nobody"); n != 0 || last != 0 {
		t.Errorf("MailboxDepth(empty) = %d, %d; want 0, 0", n, last)
	}
	// An empty batch is a no-op.
	if errs, err := s.Deliver(t.Context(), nil); err != nil || len(errs) != 0 {
		t.Errorf("Deliver(nil) = %v, %v", errs, err)
	}
}

func testDeliverSeqAfterAck(t *testing.T, s store.Store) {
	deliver(t, s, sub("dev-a", 1, mail("dev-x", "1")), sub("dev-a", 2, mail("dev-x", "2")))
	noErr(t, "Ack", s.Ack(t.Context(), "dev-x", 2))
	if n, last := depth(t, s, "dev-x"); n != 0 || last != 2 {
		t.Errorf("MailboxDepth after ack = %d, %d; want 0, 2", n, last)
	}
	// An emptied mailbox keeps counting: a sequence is never reused.
	next := sub("dev-a", 3, mail("dev-x", "3"))
	deliver(t, s, next)
	if next.Mail[0].Seq != 3 {
		t.Errorf("seq after ack = %d, want 3", next.Mail[0].Seq)
	}
}

// testDeliverSenderOrder: messages of one sender reach each device in the
// order they were submitted, within a batch and across batches.
func testDeliverSenderOrder(t *testing.T, s store.Store) {
	var batch []store.Submission
	for i := range 20 {
		sender := "dev-a"
		if i%3 == 0 {
			sender = "dev-b"
		}
		batch = append(batch, sub(sender, i, mail("dev-x", fmt.Sprintf("%s:%02d", sender, i))))
	}
	deliver(t, s, batch[:10]...)
	deliver(t, s, batch[10:]...)
	ms := fetchAll(t, s, "dev-x")
	if len(ms) != 20 {
		t.Fatalf("got %d mails, want 20", len(ms))
	}
	for i, m := range ms {
		if want := string(batch[i].Mail[0].Envelope); string(m.Envelope) != want || m.Seq != uint64(i+1) {
			t.Errorf("mail %d = %q seq %d, want %q seq %d", i, m.Envelope, m.Seq, want, i+1)
		}
	}
}

func testDeliverDuplicates(t *testing.T, s store.Store) {
	first := []store.Submission{
		sub("dev-a", 1, mail("dev-x", "a1")),
		sub("dev-a", 2, mail("dev-x", "a2"), mail("dev-y", "a2")),
		sub("dev-a", 1, mail("dev-x", "a1-again"), mail("dev-y", "a1-again")), // same id, same batch
		sub("dev-b", 1, mail("dev-x", "b1")),                                  // same id, other sender
	}
	errs := deliver(t, s, first...)
	for i, want := range []error{nil, nil, store.ErrDuplicate, nil} {
		if want == nil {
			noErr(t, fmt.Sprintf("submission %d", i), errs[i])
		} else {
			wantErr(t, fmt.Sprintf("submission %d", i), errs[i], want)
		}
	}
	for _, m := range first[2].Mail {
		if m.Seq != 0 {
			t.Errorf("rejected duplicate got Seq %d", m.Seq)
		}
	}
	second := []store.Submission{
		sub("dev-a", 2, mail("dev-x", "a2-replay")), // replay from an earlier batch
		sub("dev-a", 3, mail("dev-x", "a3")),
	}
	errs = deliver(t, s, second...)
	wantErr(t, "replay", errs[0], store.ErrDuplicate)
	noErr(t, "fresh after replay", errs[1])
	if got := envelopes(fetchAll(t, s, "dev-x")); !equalStrings(got, []string{"a1", "a2", "b1", "a3"}) {
		t.Errorf("dev-x mailbox = %q", got)
	}
	if got := envelopes(fetchAll(t, s, "dev-y")); !equalStrings(got, []string{"a2"}) {
		t.Errorf("dev-y mailbox = %q", got)
	}
	// Seqs stay gap-free: a rejected submission takes no number.
	if second[1].Mail[0].Seq != 4 {
		t.Errorf("seq after duplicates = %d, want 4", second[1].Mail[0].Seq)
	}
}

// testDeliverBatchFailure: a batch that cannot be written leaves no trace.
func testDeliverBatchFailure(t *testing.T, s store.Store) {
	bad := []store.Submission{
		sub("dev-a", 1, mail("dev-x", "ok")),
		sub("dev-a", 2, store.Mail{DeviceID: "", Envelope: []byte("no device"), Expires: T0.Add(time.Hour)}),
	}
	if _, err := s.Deliver(t.Context(), bad); err == nil {
		t.Fatalf("Deliver of a mail without a device succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	cancelled := []store.Submission{sub("dev-a", 3, mail("dev-x", "cancelled"))}
	if _, err := s.Deliver(ctx, cancelled); err == nil {
		t.Fatalf("Deliver with a cancelled context succeeded")
	}
	if bad[0].Mail[0].Seq != 0 || cancelled[0].Mail[0].Seq != 0 {
		t.Errorf("failed batch set Seq in place")
	}
	if n, last := depth(t, s, "dev-x"); n != 0 || last != 0 {
		t.Errorf("failed batch left depth %d, last seq %d", n, last)
	}
	// The ids of a failed batch were not consumed.
	for i, err := range deliver(t, s, sub("dev-a", 1, mail("dev-x", "retry1")), sub("dev-a", 3, mail("dev-x", "retry3"))) {
		noErr(t, fmt.Sprintf("retry %d", i), err)
	}
	if got := envelopes(fetchAll(t, s, "dev-x")); !equalStrings(got, []string{"retry1", "retry3"}) {
		t.Errorf("mailbox after retry = %q", got)
	}
}

// testDeliverConcurrent: concurrent batches to one device get gap-free,
// distinct sequences, and each sender's order survives.
func testDeliverConcurrent(t *testing.T, s store.Store) {
	const senders, batches, perBatch = 6, 5, 4
	var wg sync.WaitGroup
	for w := range senders {
		wg.Go(func() {
			sender := fmt.Sprintf("dev-%d", w)
			for b := range batches {
				var subs []store.Submission
				for k := range perBatch {
					n := b*perBatch + k
					subs = append(subs, sub(sender, n, mail("dev-x", fmt.Sprintf("%s:%03d", sender, n)), mail("dev-y", "y")))
				}
				if _, err := s.Deliver(t.Context(), subs); err != nil {
					t.Errorf("Deliver: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	ms := fetchAll(t, s, "dev-x")
	if len(ms) != senders*batches*perBatch {
		t.Fatalf("got %d mails, want %d", len(ms), senders*batches*perBatch)
	}
	last := map[string]string{}
	for i, m := range ms {
		if m.Seq != uint64(i+1) {
			t.Fatalf("mail %d has seq %d: sequences must be gap-free", i, m.Seq)
		}
		var sender string
		var n int
		fmt.Sscanf(string(m.Envelope), "%6s:%d", &sender, &n)
		if prev, ok := last[sender]; ok && prev >= string(m.Envelope) {
			t.Errorf("sender %s: %s after %s", sender, m.Envelope, prev)
		}
		last[sender] = string(m.Envelope)
	}
	if n, lastSeq := depth(t, s, "dev-y"); n != len(ms) || lastSeq != uint64(len(ms)) {
		t.Errorf("dev-y depth %d, last %d; want %d", n, lastSeq, len(ms))
	}
}

// testDeliverLargeBatch: a batch larger than any one statement of a store
// (hundreds of submissions, thousands of entries, repeated ids among them)
// numbers every device's mail gap-free in submission order, and acks of
// many devices in one batch apply each device's highest.
func testDeliverLargeBatch(t *testing.T, s store.Store) {
	const n, devices = 777, 37
	var subs []store.Submission
	for i := range n {
		id := i
		if i%50 == 49 {
			id = i - 1 // the previous submission again: a duplicate within the batch
		}
		var ms []store.Mail
		for k := range 1 + i%3 {
			dev := fmt.Sprintf("dev-%02d", (i+k*11)%devices)
			ms = append(ms, mail(dev, fmt.Sprintf("%s/%d", dev, i)))
		}
		subs = append(subs, sub(fmt.Sprintf("dev-s%d", id%5), id, ms...))
	}
	errs := deliver(t, s, subs...)
	next := map[string]uint64{}
	want := map[string][]string{}
	for i, sub := range subs {
		if i%50 == 49 {
			wantErr(t, fmt.Sprintf("repeated submission %d", i), errs[i], store.ErrDuplicate)
			for _, m := range sub.Mail {
				if m.Seq != 0 {
					t.Errorf("repeated submission %d got Seq %d", i, m.Seq)
				}
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("submission %d: %v", i, errs[i])
		}
		for _, m := range sub.Mail {
			next[m.DeviceID]++
			if m.Seq != next[m.DeviceID] {
				t.Fatalf("submission %d to %s: Seq %d, want %d", i, m.DeviceID, m.Seq, next[m.DeviceID])
			}
			want[m.DeviceID] = append(want[m.DeviceID], string(m.Envelope))
		}
	}
	// The same ids again: every one is now a duplicate.
	again := make([]store.Submission, len(subs))
	for i, sub := range subs {
		again[i] = store.Submission{SenderDevice: sub.SenderDevice, MessageID: sub.MessageID, At: sub.At,
			Mail: []store.Mail{mail("dev-00", "again")}}
	}
	for i, err := range deliver(t, s, again...) {
		wantErr(t, fmt.Sprintf("resubmission %d", i), err, store.ErrDuplicate)
	}
	var acks []store.AckUpTo
	for d := range devices {
		dev := fmt.Sprintf("dev-%02d", d)
		if got := envelopes(fetchAll(t, s, dev)); !equalStrings(got, want[dev]) {
			t.Fatalf("%s mailbox = %q, want %q", dev, got, want[dev])
		}
		acks = append(acks, store.AckUpTo{DeviceID: dev, UpTo: 2}, store.AckUpTo{DeviceID: dev, UpTo: 1})
	}
	errs, err := s.DeliverAndAck(t.Context(), nil, acks)
	noErr(t, "DeliverAndAck(acks)", err)
	if len(errs) != 0 {
		t.Errorf("results for no submissions: %v", errs)
	}
	for d := range devices {
		dev := fmt.Sprintf("dev-%02d", d)
		if n, last := depth(t, s, dev); n != len(want[dev])-2 || last != next[dev] {
			t.Errorf("%s after acking 2: depth %d, last %d; want %d, %d", dev, n, last, len(want[dev])-2, next[dev])
		}
	}
}

func testFetch(t *testing.T, s store.Store) {
	var subs []store.Submission
	for i := range 6 {
		m := mail("dev-x", fmt.Sprint(i+1))
		m.Expires = T0.Add(time.Duration(i+1) * time.Hour)
		subs = append(subs, sub("dev-a", i, m))
	}
	deliver(t, s, subs...)
	fetch := func(after uint64, limit int, now time.Time) []string {
		t.Helper()
		ms, err := s.Fetch(t.Context(), "dev-x", after, limit, now)
		noErr(t, "Fetch", err)
		return envelopes(ms)
	}
	if got := fetch(2, 2, T0); !equalStrings(got, []string{"3", "4"}) {
		t.Errorf("Fetch(after 2, limit 2) = %q", got)
	}
	if got := fetch(4, 100, T0); !equalStrings(got, []string{"5", "6"}) {
		t.Errorf("Fetch(after 4) = %q", got)
	}
	if got := fetch(6, 100, T0); len(got) != 0 {
		t.Errorf("Fetch(after last) = %q", got)
	}
	// Entries that expired before now are not returned, even before Expire runs.
	if got := fetch(0, 100, T0.Add(3*time.Hour+time.Nanosecond)); !equalStrings(got, []string{"4", "5", "6"}) {
		t.Errorf("Fetch(after expiry of 3) = %q", got)
	}
	if got := fetch(0, 100, T0.Add(3*time.Hour)); !equalStrings(got, []string{"3", "4", "5", "6"}) {
		t.Errorf("Fetch(at expiry of 3) = %q", got)
	}
	if got := fetch(0, 1, T0.Add(5*time.Hour+1)); !equalStrings(got, []string{"6"}) {
		t.Errorf("Fetch(limit 1, most expired) = %q", got)
	}
}

func testAck(t *testing.T, s store.Store) {
	var subs []store.Submission
	for i := range 5 {
		subs = append(subs, sub("dev-a", i, mail("dev-x", fmt.Sprint(i+1)), mail("dev-y", fmt.Sprint(i+1))))
	}
	deliver(t, s, subs...)
	noErr(t, "Ack", s.Ack(t.Context(), "dev-x", 3))
	if got := envelopes(fetchAll(t, s, "dev-x")); !equalStrings(got, []string{"4", "5"}) {
		t.Errorf("dev-x after Ack(3) = %q", got)
	}
	if n, last := depth(t, s, "dev-x"); n != 2 || last != 5 {
		t.Errorf("MailboxDepth = %d, %d; want 2, 5", n, last)
	}
	if n, _ := depth(t, s, "dev-y"); n != 5 {
		t.Errorf("ack of dev-x touched dev-y: depth %d", n)
	}
	noErr(t, "Ack(again)", s.Ack(t.Context(), "dev-x", 2))
	noErr(t, "Ack(beyond last)", s.Ack(t.Context(), "dev-x", 99))
	if n, _ := depth(t, s, "dev-x"); n != 0 {
		t.Errorf("depth after Ack(99) = %d", n)
	}
	noErr(t, "Ack(unknown device)", s.Ack(t.Context(), "dev-ghost", 1))

	// Sequences from a client may be anything a uint64 holds.
	deliver(t, s, sub("dev-a", 10, mail("dev-x", "10")))
	ms, err := s.Fetch(t.Context(), "dev-x", math.MaxUint64, 10, T0)
	noErr(t, "Fetch(after MaxUint64)", err)
	if len(ms) != 0 {
		t.Errorf("Fetch(after MaxUint64) = %d mails", len(ms))
	}
	noErr(t, "Ack(MaxUint64)", s.Ack(t.Context(), "dev-x", math.MaxUint64))
	if n, _ := depth(t, s, "dev-x"); n != 0 {
		t.Errorf("depth after Ack(MaxUint64) = %d", n)
	}
}

func testExpire(t *testing.T, s store.Store) {
	ctx := t.Context()
	early := mail("dev-x", "early")
	early.Expires = T0.Add(time.Hour)
	late := mail("dev-x", "late")
	late.Expires = T0.Add(3 * time.Hour)
	s1 := sub("dev-a", 1, early)
	s2 := sub("dev-a", 2, late)
	s2.At = T0.Add(time.Hour)
	deliver(t, s, s1, s2)

	n, err := s.Expire(ctx, T0.Add(time.Hour), T0) // nothing expired before these instants
	noErr(t, "Expire", err)
	if n != 0 {
		t.Errorf("Expire deleted %d, want 0", n)
	}
	n, err = s.Expire(ctx, T0.Add(2*time.Hour), T0.Add(time.Minute))
	noErr(t, "Expire", err)
	if n != 1 {
		t.Errorf("Expire deleted %d, want 1", n)
	}
	if got := envelopes(fetchAll(t, s, "dev-x")); !equalStrings(got, []string{"late"}) {
		t.Errorf("mailbox after Expire = %q", got)
	}
	if d, last := depth(t, s, "dev-x"); d != 1 || last != 2 {
		t.Errorf("depth after Expire = %d, %d; want 1, 2", d, last)
	}
	// Id 1 (seen at T0) was forgotten, id 2 (seen an hour later) was not.
	errs := deliver(t, s, sub("dev-a", 1, mail("dev-x", "again-1")), sub("dev-a", 2, mail("dev-x", "again-2")))
	noErr(t, "forgotten id", errs[0])
	wantErr(t, "remembered id", errs[1], store.ErrDuplicate)

	// Without At, an id counts as seen a mailbox TTL before its mail expires.
	undated := sub("dev-b", 1, mail("dev-x", "undated")) // expires T0 + MailboxTTL
	undated.At = time.Time{}
	deliver(t, s, undated)
	_, err = s.Expire(ctx, T0, T0)
	noErr(t, "Expire", err)
	again := sub("dev-b", 1, mail("dev-x", "undated-again"))
	wantErr(t, "undated id before its time", deliver(t, s, again)[0], store.ErrDuplicate)
	_, err = s.Expire(ctx, T0, T0.Add(time.Nanosecond))
	noErr(t, "Expire", err)
	noErr(t, "undated id after its time", deliver(t, s, again)[0])
}

// testExpireBacklog: a backlog larger than any internal chunk is expired
// completely, with an exact count.
func testExpireBacklog(t *testing.T, s store.Store) {
	const total = 12001
	for start := 0; start < total; start += 1000 {
		var subs []store.Submission
		for i := start; i < min(start+1000, total); i++ {
			m := mail(fmt.Sprintf("dev-%d", i%7), "old")
			m.Expires = T0
			subs = append(subs, sub("dev-a", i, m))
		}
		deliver(t, s, subs...)
	}
	keep := sub("dev-b", 1, mail("dev-0", "new"))
	deliver(t, s, keep)
	n, err := s.Expire(t.Context(), T0.Add(time.Second), T0.Add(time.Second))
	noErr(t, "Expire", err)
	if n != total {
		t.Errorf("Expire deleted %d, want %d", n, total)
	}
	if got := envelopes(fetchAll(t, s, "dev-0")); !equalStrings(got, []string{"new"}) {
		t.Errorf("dev-0 after Expire = %q", got)
	}
	// All message ids were dated T0, so all were forgotten.
	noErr(t, "re-send", deliver(t, s, sub("dev-a", 0, mail("dev-1", "again")))[0])
}

func testAckAll(t *testing.T, s store.Store) {
	var subs []store.Submission
	for i := range 5 {
		subs = append(subs, sub("dev-a", i, mail("dev-x", fmt.Sprint(i+1)), mail("dev-y", fmt.Sprint(i+1)), mail("dev-z", fmt.Sprint(i+1))))
	}
	deliver(t, s, subs...)
	noErr(t, "AckAll", s.AckAll(t.Context(), []store.AckUpTo{
		{DeviceID: "dev-x", UpTo: 2}, {DeviceID: "dev-y", UpTo: 4}, {DeviceID: "dev-x", UpTo: 3},
		{DeviceID: "dev-x", UpTo: 1}, {DeviceID: "dev-ghost", UpTo: 7}, {DeviceID: "dev-y", UpTo: math.MaxUint64},
	}))
	if got := envelopes(fetchAll(t, s, "dev-x")); !equalStrings(got, []string{"4", "5"}) {
		t.Errorf("dev-x after AckAll = %q", got)
	}
	if n, last := depth(t, s, "dev-y"); n != 0 || last != 5 {
		t.Errorf("dev-y MailboxDepth = %d, %d; want 0, 5", n, last)
	}
	if n, _ := depth(t, s, "dev-z"); n != 5 {
		t.Errorf("AckAll touched dev-z: depth %d", n)
	}
	noErr(t, "AckAll(empty)", s.AckAll(t.Context(), nil))
}

func testDeliverAndAck(t *testing.T, s store.Store) {
	deliver(t, s, sub("dev-a", 1, mail("dev-x", "1")), sub("dev-a", 2, mail("dev-x", "2")), sub("dev-a", 3, mail("dev-y", "1")))
	// A failed batch applies neither its mail nor its acks.
	bad := []store.Submission{sub("dev-a", 4, store.Mail{DeviceID: "", Envelope: []byte("no device"), Expires: T0.Add(time.Hour)})}
	if _, err := s.DeliverAndAck(t.Context(), bad, []store.AckUpTo{{DeviceID: "dev-x", UpTo: 2}}); err == nil {
		t.Fatal("DeliverAndAck of a mail without a device succeeded")
	}
	if n, _ := depth(t, s, "dev-x"); n != 2 {
		t.Errorf("failed batch applied its ack: depth %d", n)
	}
	subs := []store.Submission{sub("dev-a", 5, mail("dev-x", "3")), sub("dev-a", 1, mail("dev-x", "dup"))}
	errs, err := s.DeliverAndAck(t.Context(), subs, []store.AckUpTo{{DeviceID: "dev-x", UpTo: 1}, {DeviceID: "dev-y", UpTo: 1}})
	noErr(t, "DeliverAndAck", err)
	if len(errs) != 2 || errs[0] != nil || !errors.Is(errs[1], store.ErrDuplicate) {
		t.Fatalf("DeliverAndAck results = %v", errs)
	}
	if subs[0].Mail[0].Seq != 3 {
		t.Errorf("seq = %d, want 3", subs[0].Mail[0].Seq)
	}
	if got := envelopes(fetchAll(t, s, "dev-x")); !equalStrings(got, []string{"2", "3"}) {
		t.Errorf("dev-x after DeliverAndAck = %q", got)
	}
	if n, _ := depth(t, s, "dev-y"); n != 0 {
		t.Errorf("dev-y depth %d after its ack", n)
	}
	// Acks alone.
	errs, err = s.DeliverAndAck(t.Context(), nil, []store.AckUpTo{{DeviceID: "dev-x", UpTo: 3}})
	noErr(t, "DeliverAndAck(acks only)", err)
	if len(errs) != 0 {
		t.Errorf("results for no submissions: %v", errs)
	}
	if n, last := depth(t, s, "dev-x"); n != 0 || last != 3 {
		t.Errorf("dev-x depth %d, last %d after acking all", n, last)
	}
}
