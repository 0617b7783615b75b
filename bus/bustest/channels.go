package bustest

import (
	"context"
	"fmt"
	"testing"

	"github.com/parleyhq/parley/bus"
)

// The channel-topic tests run for buses that implement bus.ChannelRouter.

func channelRouter(t *testing.T, b bus.Bus) bus.ChannelRouter {
	t.Helper()
	r, ok := b.(bus.ChannelRouter)
	if !ok {
		t.Skip("this bus does not implement bus.ChannelRouter")
	}
	return r
}

func subscribeChannel(t *testing.T, r bus.ChannelRouter, ch string, fn func(bus.Message)) func() {
	t.Helper()
	unsub, err := r.SubscribeChannel(ch, fn)
	if err != nil {
		t.Fatalf("SubscribeChannel(%s): %v", ch, err)
	}
	t.Cleanup(unsub)
	return unsub
}

// testChannelRoutes: a channel message reaches every subscriber of that
// channel, in order, and neither other channels nor the device with the
// same id.
func testChannelRoutes(t *testing.T, b bus.Bus) {
	r := channelRouter(t, b)
	ctx := context.Background()
	a1, a2, other, dev := newInbox(), newInbox(), newInbox(), newInbox()
	subscribeChannel(t, r, "ca", a1.fn)
	subscribeChannel(t, r, "ca", a2.fn)
	subscribeChannel(t, r, "cb", other.fn)
	subscribe(t, b, "ca", dev.fn) // a device whose id equals the channel's
	for i := range 5 {
		if err := r.PublishChannel(ctx, "ca", bus.Message{Kind: bus.KindFrame, Frame: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatalf("PublishChannel: %v", err)
		}
	}
	for _, in := range []*inbox{a1, a2} {
		for i := range 5 {
			if m := in.next(t); m.Kind != bus.KindFrame || string(m.Frame) != fmt.Sprint(i) {
				t.Fatalf("message %d = %+v", i, m)
			}
		}
	}
	// Absence, checked after a later message on each route arrived.
	if err := r.PublishChannel(ctx, "cb", bus.Message{Kind: bus.KindFrame, Frame: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "ca", bus.Message{Kind: bus.KindFrame, Frame: []byte("device")}); err != nil {
		t.Fatal(err)
	}
	if m := other.next(t); string(m.Frame) != "b" {
		t.Fatalf("other channel got %q first", m.Frame)
	}
	if m := dev.next(t); string(m.Frame) != "device" {
		t.Fatalf("the device got %q first: channel and device routes mixed", m.Frame)
	}
	if err := r.PublishChannel(ctx, "ca", bus.Message{Kind: bus.KindFrame, Frame: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	if m := a1.next(t); string(m.Frame) != "after" {
		t.Fatalf("got %q", m.Frame)
	}
}

// testChannelUnsubscribe: after unsubscribe, nothing more arrives.
func testChannelUnsubscribe(t *testing.T, b bus.Bus) {
	r := channelRouter(t, b)
	ctx := context.Background()
	gone, stays := newInbox(), newInbox()
	unsub := subscribeChannel(t, r, "cu", gone.fn)
	subscribeChannel(t, r, "cu", stays.fn)
	unsub()
	unsub() // twice is fine
	for _, f := range []string{"one", "two"} {
		if err := r.PublishChannel(ctx, "cu", bus.Message{Kind: bus.KindFrame, Frame: []byte(f)}); err != nil {
			t.Fatal(err)
		}
	}
	stays.next(t)
	stays.next(t)
	select {
	case m := <-gone.c:
		t.Fatalf("unsubscribed channel subscriber got %q", m.Frame)
	default:
	}
	if err := r.PublishChannel(ctx, "c-nobody", bus.Message{Kind: bus.KindFrame}); err != nil {
		t.Fatalf("PublishChannel without subscribers: %v", err)
	}
}
