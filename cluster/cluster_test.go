package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/pgtest"
)

// Durations of the cluster tests: short by default, long with soak().
type phases struct {
	pace       time.Duration // between two sends of one route
	progress   int           // acknowledged sends to wait for between faults
	outage     time.Duration // how long NATS or PostgreSQL stays down
	verifyWait time.Duration // for the last deliveries after the load
}

func clusterPhases() phases {
	if soak() {
		return phases{pace: 20 * time.Millisecond, progress: 2000, outage: 10 * time.Second, verifyWait: 2 * time.Minute}
	}
	return phases{pace: 25 * time.Millisecond, progress: 30, outage: 10 * time.Second, verifyWait: time.Minute}
}

// startCluster starts n nodes with the same serve flags.
func startCluster(t *testing.T, n int, args ...string) []*node {
	t.Helper()
	var nodes []*node
	for i := range n {
		nodes = append(nodes, startNode(t, fmt.Sprintf("node%d", i), args...))
	}
	return nodes
}

// sixAccounts registers @ann, @ben, @cat, @dan, @eve, @gus on nodes 0, 1,
// 2, 0, 1, 2 and links a second device of @ann on node 2; the routes all
// cross nodes, except @ann ↔ @dan, which stay on node 0.
func sixAccounts(f *fleet) (map[string]*device, []route) {
	f.t.Helper()
	acc := map[string]*device{}
	for i, h := range []string{"@ann", "@ben", "@cat", "@dan", "@eve", "@gus"} {
		acc[h] = f.register(h, i%3)
	}
	f.link(acc["@ann"], 2)
	routes := []route{
		{acc["@ann"], "@ben"}, {acc["@ben"], "@cat"}, {acc["@cat"], "@ann"},
		{acc["@dan"], "@eve"}, {acc["@eve"], "@gus"}, {acc["@gus"], "@dan"},
		{acc["@ann"], "@dan"}, {acc["@dan"], "@ann"},
	}
	for _, r := range routes {
		if err := f.send(r.from, r.to, "hello"); err != nil {
			f.t.Fatalf("first message %s → %s: %v", r.from.handle, r.to, err)
		}
	}
	return acc, routes
}

// TestClusterFailover: three nodes on the machine's PostgreSQL and NATS.
// Devices on different nodes converse, see each other's presence and
// typing; under load one node is killed (its devices reconnect to the
// others) and restarted (a device pinned to it converses again).
func TestClusterFailover(t *testing.T) {
	ph := clusterPhases()
	dsn, url := pgtest.DSN(t), machineNATS(t)
	nodes := startCluster(t, 3, "--postgres", dsn, "--nats", url, "--nats-prefix", "parleytest."+randomHex(6))
	f := newFleet(t, nodes...)
	acc, routes := sixAccounts(f)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()

	// Presence and typing cross nodes (@ann on node 0, @ben on node 1).
	p, err := acc["@ann"].c.Presence(ctx, "@ben")
	if err != nil || !p.Online {
		t.Fatalf("@ben on another node: presence %+v, %v; want online", p, err)
	}
	if err := acc["@ann"].c.SetTyping(ctx, "@ben", true); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, setupTimeout, "@ben to see @ann typing from another node", func() bool { return acc["@ben"].typingFrom("@ann") > 0 })

	l := f.startLoad(routes, ph.pace)
	f.progress(ph.progress, time.Minute)
	nodes[1].kill()
	killed := time.Now()
	t.Logf("killed node1 after %d acknowledged sends", f.ackedCount())
	// node1's devices reconnect to the other nodes and go on sending.
	for _, h := range []string{"@ben", "@eve"} {
		waitUntil(t, time.Minute, h+", pinned to the killed node, to send again", func() bool { return f.sentSince(acc[h], killed) >= 3 })
	}
	p, err = acc["@ann"].c.Presence(ctx, "@ben")
	if err != nil || !p.Online {
		t.Fatalf("@ben, moved off the killed node: presence %+v, %v; want online", p, err)
	}

	nodes[1].start()
	late := f.register("@late", 1) // connects to the restarted node
	if err := f.send(late, "@ann", "from the rejoined node"); err != nil {
		t.Fatalf("send from the restarted node: %v", err)
	}
	if err := f.send(acc["@ann"], "@late", "to the rejoined node"); err != nil {
		t.Fatalf("send to the restarted node: %v", err)
	}
	f.progress(ph.progress, time.Minute)
	l.end()
	v := f.verify(ph.verifyWait)
	t.Logf("failover: %v", v)
}

// TestClusterNATSOutage: three nodes on a nats-server the test owns,
// stopped under load. Each node keeps serving its own devices (a message
// between two devices of one node arrives during the outage); when NATS
// returns, nothing acknowledged is missing.
func TestClusterNATSOutage(t *testing.T) {
	ph := clusterPhases()
	dsn := pgtest.DSN(t)
	nats := startNATS(t)
	nodes := startCluster(t, 3, "--postgres", dsn, "--nats", nats.URL())
	f := newFleet(t, nodes...)
	acc, routes := sixAccounts(f)

	l := f.startLoad(routes, ph.pace)
	f.progress(ph.progress, time.Minute)
	nats.stop()
	t.Logf("stopped NATS after %d acknowledged sends", f.ackedCount())
	before := f.ackedCount()
	// @ann and @dan are both on node 0: a message between them arrives
	// without NATS.
	if err := f.send(acc["@ann"], "@dan", "during the NATS outage"); err != nil {
		t.Fatalf("send on one node during the NATS outage: %v", err)
	}
	f.mu.Lock()
	var id string
	for k, s := range f.acked {
		if s.from == acc["@ann"] && s.to == "@dan" && (id == "" || s.at.After(f.acked[id].at)) {
			id = k
		}
	}
	f.mu.Unlock()
	waitUntil(t, ph.outage, "@dan to get @ann's message while NATS is down", func() bool { return acc["@dan"].shownCount(id) > 0 })
	<-time.After(ph.outage) // the outage lasts; the load goes on
	t.Logf("%d sends acknowledged during the outage", f.ackedCount()-before)
	nats.start()
	f.progress(ph.progress, time.Minute)
	l.end()
	v := f.verify(ph.verifyWait)
	t.Logf("NATS outage of %v: %v", ph.outage, v)
}

// TestClusterPostgresRestart: three nodes on a private PostgreSQL
// instance, stopped and started under load. Sends fail with UNAVAILABLE
// (retryable) while it is down, never with another error; nothing
// acknowledged is lost.
func TestClusterPostgresRestart(t *testing.T) {
	ph := clusterPhases()
	pg := startPostgres(t)
	url := machineNATS(t)
	nodes := startCluster(t, 3, "--postgres", pg.DSN(), "--nats", url, "--nats-prefix", "parleytest."+randomHex(6))
	f := newFleet(t, nodes...)
	_, routes := sixAccounts(f)

	l := f.startLoad(routes, ph.pace)
	f.progress(ph.progress, time.Minute)
	codes := f.watchCodes()
	failedBefore := f.failures()
	pg.stop()
	t.Logf("stopped PostgreSQL after %d acknowledged sends", f.ackedCount())
	<-time.After(ph.outage)
	pg.start()
	f.progress(ph.progress, time.Minute)
	seen := codes()
	l.end()
	failed := f.failures()
	for k, n := range failedBefore {
		failed[k] -= n
	}
	t.Logf("during the outage: Send responses %v; failed sends by cause %v", seen, failed)
	if seen["UNAVAILABLE"]+failed["UNAVAILABLE"] == 0 {
		t.Errorf("no send failed with UNAVAILABLE while PostgreSQL was down")
	}
	for code, n := range seen {
		switch code {
		case "OK", "UNAVAILABLE", "DUPLICATE", "SHUTTING_DOWN", "no response":
		default:
			t.Errorf("%d Sends answered %s during the PostgreSQL restart; want only OK or the retryable UNAVAILABLE", n, code)
		}
	}
	for cause, n := range failed {
		switch cause {
		case "UNAVAILABLE", "SHUTTING_DOWN", "transport", "timeout":
		default:
			if n > 0 {
				t.Errorf("%d sends failed with %s during the PostgreSQL restart; want only retryable failures", n, cause)
			}
		}
	}
	v := f.verify(ph.verifyWait)
	t.Logf("PostgreSQL restart after %v: %v", ph.outage, v)
}
