// Package bustest is the conformance suite every bus.Bus implementation
// passes: Run(t, newBus) from the implementation's own test.
//
// Delivery may be asynchronous (a network bus), so the suite waits for
// messages with a deadline instead of expecting them on return from
// Publish, and checks absence only after a later message on the same
// route has arrived (the bus orders one publisher's messages).
package bustest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/bus"
)

// waitFor bounds how long a test waits for a message that should arrive.
const waitFor = 10 * time.Second

// Run runs the suite. newBus returns a fresh, empty bus; the suite closes
// it.
func Run(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	tests := []struct {
		name string
		fn   func(*testing.T, bus.Bus)
	}{
		{"RoutesByDevice", testRoutesByDevice},
		{"EverySubscriberGetsIt", testEverySubscriber},
		{"UnsubscribeStops", testUnsubscribe},
		{"OrderPerPublisher", testOrder},
		{"FieldsSurvive", testFields},
		{"PublishWithoutSubscriber", testNoSubscriber},
		{"ConcurrentUse", testConcurrent},
		{"Closed", testClosed},
		{"Subscribed", testSubscribed},
		{"ChannelRoutes", testChannelRoutes},
		{"ChannelUnsubscribe", testChannelUnsubscribe},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBus(t)
			t.Cleanup(func() { b.Close() })
			tc.fn(t, b)
		})
	}
}

// inbox collects a subscriber's messages.
type inbox struct{ c chan bus.Message }

func newInbox() *inbox { return &inbox{c: make(chan bus.Message, 1024)} }

func (in *inbox) fn(m bus.Message) {
	if m.Kind == bus.KindMail && m.Seq == 0 {
		return // a spontaneous "there may be mail" (see bus.KindMail)
	}
	select {
	case in.c <- m:
	default: // the suite never sends this many; a full inbox fails next
	}
}

func (in *inbox) next(t *testing.T) bus.Message {
	t.Helper()
	select {
	case m := <-in.c:
		return m
	case <-time.After(waitFor):
		t.Fatal("no message within", waitFor)
		return bus.Message{}
	}
}

func subscribe(t *testing.T, b bus.Bus, device string, fn func(bus.Message)) func() {
	t.Helper()
	unsub, err := b.Subscribe(device, fn)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", device, err)
	}
	t.Cleanup(unsub)
	return unsub
}

func publish(t *testing.T, b bus.Bus, device string, m bus.Message) {
	t.Helper()
	if err := b.Publish(context.Background(), device, m); err != nil {
		t.Fatalf("Publish(%s): %v", device, err)
	}
}

func mail(seq uint64) bus.Message { return bus.Message{Kind: bus.KindMail, Seq: seq} }

func testRoutesByDevice(t *testing.T, b bus.Bus) {
	a, c := newInbox(), newInbox()
	subscribe(t, b, "da", a.fn)
	subscribe(t, b, "dc", c.fn)
	publish(t, b, "da", mail(1))
	publish(t, b, "dc", mail(2))
	publish(t, b, "da", mail(3))
	if m := a.next(t); m.Seq != 1 {
		t.Fatalf("da got seq %d first, want 1", m.Seq)
	}
	if m := a.next(t); m.Seq != 3 {
		t.Fatalf("da got seq %d second, want 3 (seq 2 was for dc)", m.Seq)
	}
	if m := c.next(t); m.Seq != 2 {
		t.Fatalf("dc got seq %d, want 2", m.Seq)
	}
}

func testEverySubscriber(t *testing.T, b bus.Bus) {
	one, two := newInbox(), newInbox()
	subscribe(t, b, "dx", one.fn)
	subscribe(t, b, "dx", two.fn)
	publish(t, b, "dx", mail(7))
	if m := one.next(t); m.Seq != 7 {
		t.Fatalf("first subscriber got %d", m.Seq)
	}
	if m := two.next(t); m.Seq != 7 {
		t.Fatalf("second subscriber got %d", m.Seq)
	}
}

func testUnsubscribe(t *testing.T, b bus.Bus) {
	gone, stays := newInbox(), newInbox()
	unsub := subscribe(t, b, "dx", gone.fn)
	subscribe(t, b, "dx", stays.fn)
	publish(t, b, "dx", mail(1))
	gone.next(t)
	stays.next(t)
	unsub()
	unsub() // idempotent
	publish(t, b, "dx", mail(2))
	// stays got seq 2, so the bus has routed it; gone must not have it.
	if m := stays.next(t); m.Seq != 2 {
		t.Fatalf("remaining subscriber got %d, want 2", m.Seq)
	}
	select {
	case m := <-gone.c:
		t.Fatalf("unsubscribed callback still got seq %d", m.Seq)
	default:
	}
}

func testOrder(t *testing.T, b bus.Bus) {
	in := newInbox()
	subscribe(t, b, "dx", in.fn)
	const n = 500
	for i := uint64(1); i <= n; i++ {
		publish(t, b, "dx", mail(i))
	}
	for i := uint64(1); i <= n; i++ {
		if m := in.next(t); m.Seq != i {
			t.Fatalf("message %d arrived as %d-th", m.Seq, i)
		}
	}
}

func testFields(t *testing.T, b bus.Bus) {
	in := newInbox()
	subscribe(t, b, "dx", in.fn)
	want := []bus.Message{
		{Kind: bus.KindMail, Seq: 1<<63 + 5},
		{Kind: bus.KindFrame, Frame: []byte{0, 1, 2, 255}},
		{Kind: bus.KindClose, Code: 15, Reason: "device revoked", Except: "c42"},
	}
	for _, m := range want {
		publish(t, b, "dx", m)
	}
	for i, w := range want {
		got := in.next(t)
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Fatalf("message %d: got %+v, want %+v", i, got, w)
		}
	}
}

func testNoSubscriber(t *testing.T, b bus.Bus) {
	marker := newInbox()
	subscribe(t, b, "marker", marker.fn)
	publish(t, b, "nobody", mail(1))
	// Once a later message of the same publisher arrived, seq 1 has been
	// routed (a network bus may still have had it in flight before).
	publish(t, b, "marker", mail(9))
	marker.next(t)
	// A later subscriber does not get earlier messages: the bus is not
	// storage.
	in := newInbox()
	subscribe(t, b, "nobody", in.fn)
	publish(t, b, "nobody", mail(2))
	if m := in.next(t); m.Seq != 2 {
		t.Fatalf("late subscriber got seq %d, want only 2", m.Seq)
	}
}

func testConcurrent(t *testing.T, b bus.Bus) {
	const devices, msgs = 8, 50
	var wg sync.WaitGroup
	inboxes := make([]*inbox, devices)
	for i := range inboxes {
		inboxes[i] = newInbox()
		subscribe(t, b, fmt.Sprintf("d%d", i), inboxes[i].fn)
	}
	errs := make(chan error, devices)
	for i := range devices {
		wg.Go(func() {
			for s := uint64(1); s <= msgs; s++ {
				if err := b.Publish(context.Background(), fmt.Sprintf("d%d", i), mail(s)); err != nil {
					errs <- err
					return
				}
			}
		})
		// Churn subscriptions of an unrelated device meanwhile.
		wg.Go(func() {
			for range msgs {
				unsub, err := b.Subscribe("churn", func(bus.Message) {})
				if err != nil {
					errs <- err
					return
				}
				unsub()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, in := range inboxes {
		for s := uint64(1); s <= msgs; s++ {
			if m := in.next(t); m.Seq != s {
				t.Fatalf("d%d: got seq %d, want %d", i, m.Seq, s)
			}
		}
	}
}

func testClosed(t *testing.T, b bus.Bus) {
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Publish(context.Background(), "dx", mail(1)); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Subscribe("dx", func(bus.Message) {}); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrClosed", err)
	}
}

// testSubscribed checks bus.Prober, for buses that implement it. A network
// bus learns of an unsubscription asynchronously, so "no longer
// subscribed" is awaited; "subscribed" must hold once Subscribe returned
// (a device is online as soon as its connection is).
func testSubscribed(t *testing.T, b bus.Bus) {
	p, ok := b.(bus.Prober)
	if !ok {
		t.Skip("this bus does not implement bus.Prober")
	}
	ctx := context.Background()
	probe := func() bool {
		t.Helper()
		on, err := p.Subscribed(ctx, "dp")
		if err != nil {
			t.Fatalf("Subscribed: %v", err)
		}
		return on
	}
	if probe() {
		t.Fatal("Subscribed before any subscription")
	}
	one := subscribe(t, b, "dp", func(bus.Message) {})
	two := subscribe(t, b, "dp", func(bus.Message) {})
	if !probe() {
		t.Fatal("not Subscribed after Subscribe returned")
	}
	one()
	if !probe() {
		t.Fatal("not Subscribed while a second subscriber remains")
	}
	two()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitFor)
	for probe() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("still Subscribed %v after the last unsubscribe", waitFor)
		}
	}
}
