package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/pgtest"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server"
)

// natsURL is the machine's NATS service; the test fails, never skips,
// when it is not running.
func natsURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("PARLEY_NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "nats://"), 2*time.Second)
	if err != nil {
		t.Fatalf("NATS is not reachable at %s (%v). Start it with:\n"+
			"  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log\n"+
			"or set PARLEY_NATS_URL.", url, err)
	}
	c.Close()
	return url
}

// clusterNodes starts n servers sharing one fresh PostgreSQL schema and
// the machine's NATS, under a subject prefix of their own.
func clusterNodes(t *testing.T, n int) []*testServer {
	t.Helper()
	dsn, url := pgtest.DSN(t), natsURL(t)
	var b [6]byte
	rand.Read(b[:])
	prefix := "parleytest." + hex.EncodeToString(b[:])
	var nodes []*testServer
	for range n {
		nodes = append(nodes, startServer(t, func(c *server.Config) {
			c.PostgresDSN, c.NATSURL, c.NATSPrefix = dsn, url, prefix
		}))
	}
	return nodes
}

// TestClusterTwoNodes: devices on two nodes converse as on one. Mail,
// ephemeral events and "replaced by a newer connection" cross nodes, and
// presence is cluster-wide.
func TestClusterTwoNodes(t *testing.T) {
	nodes := clusterNodes(t, 2)
	alice := register(t, nodes[0], "@alice")
	bob := register(t, nodes[1], "@bob")
	presence := func(c *client, of string) bool {
		t.Helper()
		return c.mustCall(&proto.Request{Body: &proto.Request_GetPresence{GetPresence: &proto.GetPresence{AccountId: of}}}).GetPresence().Online
	}
	if !presence(alice, bob.auth.AccountId) || !presence(bob, alice.auth.AccountId) {
		t.Fatal("a device connected to the other node is not online")
	}

	gid := directGroup(t, alice, bob, bob)
	seq, env := bob.envelope()
	if env.Kind != proto.EnvelopeKind_WELCOME {
		t.Fatalf("bob got %v, want the welcome from the other node", env)
	}
	ack(bob, seq)
	id := randomID(t)
	alice.mustCall(sendReq(gid, id, "across nodes"))
	seq, env = bob.envelope()
	if !bytes.Equal(env.MessageId, id) {
		t.Fatalf("bob got %v", env)
	}
	ack(bob, seq)
	typing := &proto.Request{Body: &proto.Request_Send{Send: &proto.Send{GroupId: gid, MessageId: randomID(t), Epoch: 1, Ciphertext: []byte("typing"), Ephemeral: true}}}
	bob.mustCall(typing)
	if s, env := alice.envelope(); s != 0 || string(env.Payload) != "typing" {
		t.Fatalf("alice got seq %d %v, want the ephemeral typing event", s, env)
	}

	// bob connects again, to the first node: his connection on the
	// second is closed from across the cluster.
	moved := bob.reconnect(nodes[0])
	bob.expectClosed(proto.Code_FORBIDDEN)
	id = randomID(t)
	alice.mustCall(sendReq(gid, id, "same node now"))
	if _, env := moved.envelope(); !bytes.Equal(env.MessageId, id) {
		t.Fatalf("moved bob got %v", env)
	}

	// alice leaves the first node; bob, on the same node, asks.
	alice.ws.CloseNow()
	waitFor(t, "alice to go offline cluster-wide", func() bool { return !presence(moved, alice.auth.AccountId) })
	// alice comes back on the second node; bob on the first sees it.
	alice2 := alice.reconnect(nodes[1])
	if !presence(moved, alice2.auth.AccountId) {
		t.Fatal("alice, back on the other node, is not online")
	}
	if v := gaugeValue(t, nodes[0], "parley_bus_connected"); v != 1 {
		t.Fatalf("parley_bus_connected = %v, want 1", v)
	}
}

// gaugeValue reads an unlabelled metric from the admin endpoint.
func gaugeValue(t *testing.T, ts *testServer, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + ts.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestClusterNeedsSharedStore(t *testing.T) {
	_, err := server.New(server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff, DataDir: t.TempDir(), NATSURL: "nats://127.0.0.1:4222"})
	if err == nil || !strings.Contains(err.Error(), "postgres") {
		t.Fatalf("New with NATS and the embedded store: %v, want an error asking for PostgreSQL", err)
	}
}

func TestClusterConfigHidesCredentials(t *testing.T) {
	cfg := server.Config{NATSURL: "nats://node:hunter2@10.0.0.1:4222,nats://10.0.0.2:4222", PostgresDSN: "postgres://p:hunter3@db/parley"}
	if s := cfg.LogValue().String(); strings.Contains(s, "hunter") || !strings.Contains(s, "10.0.0.2") {
		t.Fatalf("config logged as %s", s)
	}
}
