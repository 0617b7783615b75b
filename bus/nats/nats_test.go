package nats_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/bus/bustest"
	natsbus "github.com/parleyhq/parley/bus/nats"
)

// waitFor bounds every wait in these tests.
const waitFor = 10 * time.Second

// machineURL is the NATS service of the machine (docs/operations.md);
// PARLEY_NATS_URL overrides it.
func machineURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("PARLEY_NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	hostport := strings.TrimPrefix(url, "nats://")
	c, err := net.DialTimeout("tcp", hostport, 2*time.Second)
	if err != nil {
		t.Fatalf("NATS is not reachable at %s (%v). Start it with:\n"+
			"  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log\n"+
			"or set PARLEY_NATS_URL.", url, err)
	}
	c.Close()
	return url
}

// prefix isolates one test's subjects from everything else on a shared
// NATS server (other tests, other packages running at the same time).
func prefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "parleytest." + hex.EncodeToString(b[:])
}

func newBus(t *testing.T, url, prefix string) *natsbus.Bus {
	t.Helper()
	b, err := natsbus.New(natsbus.Options{URL: url, Prefix: prefix, Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestConformance runs the suite on one node: its own subscribers are
// served by the local path.
func TestConformance(t *testing.T) {
	url := machineURL(t)
	bustest.Run(t, func(t *testing.T) bus.Bus { return newBus(t, url, prefix()) })
}

// TestConformanceTwoNodes runs the suite with subscribers on one node and
// publishers on another, so every message crosses NATS.
func TestConformanceTwoNodes(t *testing.T) {
	url := machineURL(t)
	bustest.Run(t, func(t *testing.T) bus.Bus {
		p := prefix()
		return &pair{sub: newBus(t, url, p), pub: newBus(t, url, p)}
	})
}

// pair is two nodes seen as one bus: Subscribe on one, Publish and
// Subscribed on the other.
type pair struct{ sub, pub *natsbus.Bus }

// Subscribe subscribes on the first node and returns once the second
// node's NATS server routes the device's subject (a probe through it is
// answered): in a NATS cluster, interest reaches the other servers
// asynchronously.
func (p *pair) Subscribe(deviceID string, fn func(bus.Message)) (func(), error) {
	unsub, err := p.sub.Subscribe(deviceID, fn)
	if err != nil {
		return nil, err
	}
	return p.routed(unsub, func() (bool, error) { return p.pub.Subscribed(context.Background(), deviceID) })
}

// SubscribeChannel is Subscribe for a channel topic.
func (p *pair) SubscribeChannel(channelID string, fn func(bus.Message)) (func(), error) {
	unsub, err := p.sub.SubscribeChannel(channelID, fn)
	if err != nil {
		return nil, err
	}
	return p.routed(unsub, func() (bool, error) { return p.pub.ChannelSubscribed(context.Background(), channelID) })
}

func (p *pair) PublishChannel(ctx context.Context, channelID string, m bus.Message) error {
	return p.pub.PublishChannel(ctx, channelID, m)
}

// routed waits until probe sees the subscription from the other node.
func (p *pair) routed(unsub func(), probe func() (bool, error)) (func(), error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitFor)
	for {
		on, err := probe()
		if err != nil {
			unsub()
			return nil, err
		}
		if on {
			return unsub, nil
		}
		select {
		case <-tick.C:
		case <-deadline:
			unsub()
			return nil, errors.New("the subscription did not reach the other node's server")
		}
	}
}

func (p *pair) Publish(ctx context.Context, deviceID string, m bus.Message) error {
	return p.pub.Publish(ctx, deviceID, m)
}

func (p *pair) Subscribed(ctx context.Context, deviceID string) (bool, error) {
	return p.pub.Subscribed(ctx, deviceID)
}

func (p *pair) Close() error { return errors.Join(p.sub.Close(), p.pub.Close()) }

func TestBadNames(t *testing.T) {
	url := machineURL(t)
	if _, err := natsbus.New(natsbus.Options{URL: url, Prefix: "bad prefix"}); err == nil {
		t.Fatal("New accepted a prefix with a space")
	}
	b := newBus(t, url, prefix())
	for _, id := range []string{"", "a.b", "a*", ">", "a b"} {
		if _, err := b.Subscribe(id, func(bus.Message) {}); err == nil {
			t.Errorf("Subscribe(%q) succeeded", id)
		}
		if err := b.Publish(context.Background(), id, bus.Message{Kind: bus.KindMail}); err == nil {
			t.Errorf("Publish(%q) succeeded", id)
		}
	}
}

func TestConnectFailsClearly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = natsbus.New(natsbus.Options{URL: "nats://user:secret@" + addr})
	if err == nil {
		t.Fatal("New connected to a closed port")
	}
	if strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "nats-server") {
		t.Fatalf("error should name the fix and hide the password: %v", err)
	}
}
