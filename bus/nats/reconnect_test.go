package nats_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/parleyhq/parley/bus"
)

// TestOutage stops the NATS server under two nodes: each keeps serving its
// own subscribers, and after NATS comes back every local subscriber is
// woken to recheck its mailbox and subscriptions work across nodes again.
func TestOutage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv := startServer(t, port, "")
	url := srv.ClientURL()
	p := prefix()
	a, b := newBus(t, url, p), newBus(t, url, p)
	onA, onB := make(chan bus.Message, 16), make(chan bus.Message, 16)
	if _, err := a.Subscribe("d1", func(m bus.Message) { onA <- m }); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe("d2", func(m bus.Message) { onB <- m }); err != nil {
		t.Fatal(err)
	}
	onChan := make(chan bus.Message, 16)
	if _, err := a.SubscribeChannel("c1", func(m bus.Message) { onChan <- m }); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	srv.Shutdown()
	srv.WaitForShutdown()
	waitUntil(t, "both nodes to notice the outage", func() bool { return !a.Connected() && !b.Connected() })
	if err := b.Publish(ctx, "d2", bus.Message{Kind: bus.KindMail, Seq: 5}); err != nil {
		t.Fatalf("local publish during the outage: %v", err)
	}
	if m := next(t, onB); m.Seq != 5 {
		t.Fatalf("local subscriber got %+v during the outage, want seq 5", m)
	}
	if _, err := b.Subscribed(ctx, "d1"); err == nil {
		t.Fatal("a presence probe to other nodes succeeded while NATS was down")
	}

	startServer(t, port, "")
	waitUntil(t, "both nodes to reconnect", func() bool { return a.Connected() && b.Connected() })
	for name, in := range map[string]chan bus.Message{"a": onA, "b": onB} {
		if m := next(t, in); m.Kind != bus.KindMail || m.Seq != 0 {
			t.Fatalf("node %s: first message after reconnect %+v, want a KindMail seq 0 wake-up", name, m)
		}
	}
	waitUntil(t, "a's subscription to be restored", func() bool {
		on, _ := b.Subscribed(ctx, "d1")
		return on
	})
	if err := b.Publish(ctx, "d1", bus.Message{Kind: bus.KindMail, Seq: 7}); err != nil {
		t.Fatal(err)
	}
	for {
		m := next(t, onA)
		if m.Seq == 7 {
			break
		}
		if m.Seq != 0 { // a publish buffered during the outage may also arrive
			t.Fatalf("unexpected %+v", m)
		}
	}
	// Channel subscribers are not woken (followers sync instead), and
	// their subscription is restored too.
	waitUntil(t, "a's channel subscription to be restored", func() bool {
		on, _ := b.ChannelSubscribed(ctx, "c1")
		return on
	})
	if err := b.PublishChannel(ctx, "c1", bus.Message{Kind: bus.KindFrame, Frame: []byte("post")}); err != nil {
		t.Fatal(err)
	}
	if m := next(t, onChan); string(m.Frame) != "post" {
		t.Fatalf("channel subscriber got %+v first, want the post", m)
	}
}

func next(t *testing.T, in chan bus.Message) bus.Message {
	t.Helper()
	select {
	case m := <-in:
		return m
	case <-time.After(waitFor):
		t.Fatal("no message within", waitFor)
		return bus.Message{}
	}
}
