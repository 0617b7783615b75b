package server_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/coder/websocket"
	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/gateway"
)

// stalledReceiveBuffer is a stalled device's SO_RCVBUF: small, so that
// what it does not read stays in the server's socket (bounded by
// Config.SendBuffer) and output, rather than in its own kernel, which on
// loopback would take megabytes.
const stalledReceiveBuffer = 4 << 10

// stalled authenticates as c's device on a connection that then never
// reads again (until the test reads it), like a device whose app froze.
func stalled(t *testing.T, ts *testServer, c *client) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	nd := net.Dialer{Control: receiveBuffer(stalledReceiveBuffer)}
	hc := &http.Client{Transport: &http.Transport{DialContext: nd.DialContext}}
	ws, _, err := websocket.Dial(ctx, ts.url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(2 * proto.MaxFrameBytes)
	t.Cleanup(func() { ws.CloseNow() })
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var hello proto.Frame
	if err := gproto.Unmarshal(b, &hello); err != nil {
		t.Fatal(err)
	}
	n := &client{t: t, hello: hello.GetHello(), pub: c.pub, priv: c.priv}
	req := n.authReq()
	req.Id = 1
	b, _ = gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Request{Request: req}})
	if err := ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		t.Fatal(err)
	}
	_, b, err = ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var resp proto.Frame
	gproto.Unmarshal(b, &resp)
	if resp.GetResponse().GetCode() != proto.Code_OK {
		t.Fatalf("stalled device did not authenticate: %v", resp.GetResponse())
	}
	return ws
}

// A device that stops reading while ephemeral events pile up fills its
// send queue and is cut; its stored mail survives and is delivered when it
// comes back.
func TestSlowConsumerQueueFull(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.SendQueue, c.RateBurst = 4, 100000 })
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	gid := directGroup(t, alice, bob, bob)
	bob.ws.CloseNow()
	stalled(t, ts, bob)

	var durable [][]byte
	for range 3 {
		id := randomID(t)
		durable = append(durable, id)
		alice.mustCall(sendReq(gid, id, "keep me"))
	}
	typing := make([]byte, 60<<10)
	for i := 0; counterValue(t, ts, "parley_slow_consumer_cuts_total", "") == 0; i++ {
		if i == 2000 {
			t.Fatal("the stalled device was never cut")
		}
		alice.mustCall(&proto.Request{Body: &proto.Request_Send{Send: &proto.Send{GroupId: gid, MessageId: randomID(t), Epoch: 1, Ciphertext: typing, Ephemeral: true}}})
	}
	if v := counterValue(t, ts, "parley_errors_total", "SLOW_CONSUMER"); v != 1 {
		t.Fatalf("SLOW_CONSUMER errors %v, want 1", v)
	}

	back := bob.reconnect(ts)
	if _, env := back.envelope(); env.Kind != proto.EnvelopeKind_WELCOME {
		t.Fatalf("first redelivered envelope %v, want the welcome", env)
	}
	for _, id := range durable {
		if _, env := back.envelope(); !bytes.Equal(env.MessageId, id) {
			t.Fatalf("redelivered %x, want %x", env.MessageId, id)
		}
	}
}

// The send queue is bounded by bytes too: ephemeral events of 60 KiB to
// a device that does not read cut it after about a megabyte waits, long
// before the default SendQueue of 512 frames fills.
func TestSlowConsumerQueueBytes(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.RateBurst = 100000 })
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	gid := directGroup(t, alice, bob, bob)
	bob.ws.CloseNow()
	stalled(t, ts, bob)

	typing := make([]byte, 60<<10)
	const most = 100 // 6 MiB: the byte bound, the socket's buffers and slack
	for i := 0; counterValue(t, ts, "parley_slow_consumer_cuts_total", "") == 0; i++ {
		if i == most {
			t.Fatalf("the stalled device was not cut after %d events of %d bytes", most, len(typing))
		}
		alice.mustCall(&proto.Request{Body: &proto.Request_Send{Send: &proto.Send{GroupId: gid, MessageId: randomID(t), Epoch: 1, Ciphertext: typing, Ephemeral: true}}})
	}
}

// A device that stops reading while its mailbox is pushed blocks the
// writer; the write deadline cuts it and nothing is lost.
func TestSlowConsumerWriteTimeout(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.WriteTimeout, c.RateBurst = 300*time.Millisecond, 100000 })
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	gid := directGroup(t, alice, bob, bob)
	bob.ws.CloseNow()
	stalled(t, ts, bob)

	// 200 × 60 KiB is far more than the socket buffers hold.
	const n = 200
	big := make([]byte, 60<<10)
	for range n {
		alice.send(sendReq(gid, randomID(t), string(big)))
	}
	for id := alice.nextID - n + 1; id <= alice.nextID; id++ {
		if r := alice.response(id); r.Code != proto.Code_OK {
			t.Fatalf("send: %v %q", r.Code, r.Message)
		}
	}
	waitFor(t, "the stalled device to be cut", func() bool {
		return counterValue(t, ts, "parley_slow_consumer_cuts_total", "") == 1
	})

	back := bob.reconnect(ts)
	back.envelope() // welcome
	for i := range n {
		seq, env := back.envelope()
		if len(env.Payload) != len(big) {
			t.Fatalf("message %d (seq %d) has %d bytes", i, seq, len(env.Payload))
		}
		if i%8 == 7 {
			ack(back, seq) // the byte budget holds back the rest until then
		}
	}
}

// A device cut as a slow consumer that reads again, even after the
// server let go of its socket, gets close status 4016 after what the
// socket already held: the cut drops the output that waited and puts
// the close frame into the kernel in its place.
func TestSlowConsumerCloseCode(t *testing.T) {
	testSlowConsumerCloseCode(t, 40, 60<<10)
}

// The same with small frames: the socket is full and the leftover of a
// partly written frame is small, so the kernel would not report the
// socket writable (it waits until half of what it holds is free) and the
// close frame must go in without waiting for it.
func TestSlowConsumerCloseCodeSmallFrames(t *testing.T) {
	testSlowConsumerCloseCode(t, 250, 1536)
}

func testSlowConsumerCloseCode(t *testing.T, n, size int) {
	if os.Getenv(gateway.TransportEnv) == gateway.TransportGoroutines {
		t.Skip("goroutine mode releases a timed-out socket at once (its writer cannot be resumed)")
	}
	ts := startServer(t, func(c *server.Config) { c.WriteTimeout, c.RateBurst = 300*time.Millisecond, 100000 })
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	gid := directGroup(t, alice, bob, bob)
	bob.ws.CloseNow()
	ws := stalled(t, ts, bob)

	big := make([]byte, size)
	for range n {
		alice.mustCall(sendReq(gid, randomID(t), string(big)))
	}
	waitFor(t, "the stalled device to be cut", func() bool {
		return counterValue(t, ts, "parley_slow_consumer_cuts_total", "") == 1
	})
	waitFor(t, "the server to let go of the stalled socket", func() bool {
		return counterValue(t, ts, "parley_connections", "") == 1 // alice's
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	events := 0
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			if st := websocket.CloseStatus(err); st != 4000+websocket.StatusCode(proto.Code_SLOW_CONSUMER) {
				t.Fatalf("after %d events the connection ended with %v (status %d), want status 4016", events, err, st)
			}
			break
		}
		var f proto.Frame
		if err := gproto.Unmarshal(b, &f); err != nil {
			t.Fatalf("frame %d: %v", events, err)
		}
		events++
	}
	if events == 0 || events >= n {
		t.Fatalf("%d events before the close, want some of the %d (the rest dropped at the cut)", events, n)
	}
}

// A device with a megabyte of pushed, unacknowledged mail gets no more
// pushes until it acknowledges, then gets the rest, in order and once.
func TestSlowConsumerByteBudget(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.RateBurst = 100000 })
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	gid := directGroup(t, alice, bob, bob)
	seq, _ := bob.envelope() // the welcome
	ack(bob, seq)
	bob.ws.CloseNow()

	const n = 40
	var ids [][]byte
	big := make([]byte, 60<<10)
	for range n {
		id := randomID(t)
		ids = append(ids, id)
		alice.mustCall(sendReq(gid, id, string(big)))
	}

	back := bob.reconnect(ts)
	const budget = 1 << 20 // the gateway's maxInFlightBytes
	got := 0
	for got < n {
		// The window: as many envelopes as fit in the budget.
		var size, last uint64
		window := 0
		for got+window < n {
			seq, env := back.envelope()
			if !bytes.Equal(env.MessageId, ids[got+window]) {
				t.Fatalf("envelope %d is %x, want %x", got+window, env.MessageId, ids[got+window])
			}
			size, last = uint64(gproto.Size(env)), seq
			window++
			if (uint64(window)+1)*size > budget {
				break // the next would not fit
			}
		}
		// No more comes before the ack: a Ping's answer comes first, and
		// the server counts exactly the window in flight.
		if r := back.call(&proto.Request{Body: &proto.Request_Ping{Ping: &proto.Ping{}}}); r.Code != proto.Code_OK || len(back.events) != 0 {
			t.Fatalf("ping: %v, %d events pushed past a window of %d × %d bytes", r.Code, len(back.events), window, size)
		}
		if v := counterValue(t, ts, "parley_mailbox_in_flight", ""); v != float64(window) {
			t.Fatalf("%v entries in flight, want the %d pushed", v, window)
		}
		got += window
		ack(back, last)
	}
}
