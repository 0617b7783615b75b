package nats_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/bus/bustest"
	natsbus "github.com/parleyhq/parley/bus/nats"
)

// startServer runs an embedded NATS server on a random loopback port
// (or port, when not zero), routed to the given cluster peers.
func startServer(t *testing.T, port int, cluster string, routes ...*url.URL) *natsserver.Server {
	t.Helper()
	if port == 0 {
		port = -1
	}
	opts := &natsserver.Options{
		Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true,
		Routes: routes,
	}
	if cluster != "" {
		opts.Cluster = natsserver.ClusterOpts{Name: cluster, Host: "127.0.0.1", Port: -1}
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(waitFor) {
		t.Fatal("embedded NATS server did not start")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// startCluster runs three embedded NATS servers routed to each other and
// waits until every server has routes to both others.
func startCluster(t *testing.T) []*natsserver.Server {
	t.Helper()
	first := startServer(t, 0, "parley-test")
	seed := &url.URL{Scheme: "nats-route", Host: first.ClusterAddr().String()}
	servers := []*natsserver.Server{first, startServer(t, 0, "parley-test", seed), startServer(t, 0, "parley-test", seed)}
	waitUntil(t, "the three NATS servers to route to each other", func() bool {
		for _, s := range servers {
			if s.NumRoutes() < len(servers)-1 {
				return false
			}
		}
		return true
	})
	return servers
}

// TestConformanceCluster runs the suite across a NATS cluster: subscribers
// on a node connected to one server, publishers on a node connected to
// another, so every message crosses a route.
func TestConformanceCluster(t *testing.T) {
	servers := startCluster(t)
	bustest.Run(t, func(t *testing.T) bus.Bus {
		p := prefix()
		return &pair{sub: newBus(t, servers[0].ClientURL(), p), pub: newBus(t, servers[1].ClientURL(), p)}
	})
}

// TestClusterFanOut: one device connected to three nodes (each on its
// own NATS server) gets a message published from each node, and a
// presence probe from any node finds it.
func TestClusterFanOut(t *testing.T) {
	servers := startCluster(t)
	p := prefix()
	var inboxes []chan bus.Message
	var nodes []*pair
	for _, s := range servers {
		b := newBus(t, s.ClientURL(), p)
		in := make(chan bus.Message, 16)
		inboxes = append(inboxes, in)
		if _, err := b.Subscribe("dall", func(m bus.Message) {
			if m.Seq != 0 { // not the settle wake-up (TestSettleWake)
				in <- m
			}
		}); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, &pair{sub: b, pub: b})
	}
	// Every server knows of the three nodes' subscriptions (its own
	// client's and one per route) before anybody publishes.
	for _, s := range servers {
		waitUntil(t, "interest to reach every server", func() bool {
			return s.GlobalAccount().Interest(p+".dev.dall") >= len(servers)
		})
	}
	for i, n := range nodes {
		if err := n.Publish(context.Background(), "dall", bus.Message{Kind: bus.KindMail, Seq: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, in := range inboxes {
		got := map[uint64]bool{}
		for range len(nodes) {
			select {
			case m := <-in:
				got[m.Seq] = true
			case <-time.After(waitFor):
				t.Fatalf("node %d got %v, want seqs 1..3", i, got)
			}
		}
		if len(got) != len(nodes) {
			t.Fatalf("node %d got %v, want each of 1..3 once", i, got)
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitFor)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s", waitFor, what)
		}
	}
}

// TestSettleWake: on a clustered NATS server, a fresh device subscription
// gets one "there may be mail" wake-up shortly after it is made, covering
// wake-ups that crossed the new subscription's route propagation; on a
// lone server, where the subscription is complete when Subscribe returns,
// it gets none.
func TestSettleWake(t *testing.T) {
	servers := startCluster(t)
	lone := startServer(t, 0, "")
	for _, tc := range []struct {
		name string
		url  string
		want bool
	}{{"clustered", servers[0].ClientURL(), true}, {"lone", lone.ClientURL(), false}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBus(t, tc.url, prefix())
			in := make(chan bus.Message, 4)
			start := time.Now()
			if _, err := b.Subscribe("dnew", func(m bus.Message) { in <- m }); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-in:
				if !tc.want {
					t.Fatalf("lone server: unexpected %+v", m)
				}
				if m.Kind != bus.KindMail || m.Seq != 0 || time.Since(start) < natsbus.RouteSettle/2 {
					t.Fatalf("got %+v after %v, want KindMail seq 0 after about %v", m, time.Since(start), natsbus.RouteSettle)
				}
			case <-time.After(4 * natsbus.RouteSettle):
				if tc.want {
					t.Fatalf("no settle wake-up within %v", 4*natsbus.RouteSettle)
				}
			}
		})
	}
}
