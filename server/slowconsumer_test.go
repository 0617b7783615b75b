package server_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"
	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server"
)

// stalled authenticates as c's device on a connection that then never
// reads again, like a device whose app froze.
func stalled(t *testing.T, ts *testServer, c *client) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, ts.url, nil)
	if err != nil {
		t.Fatal(err)
	}
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
		if i%100 == 99 {
			ack(back, seq)
		}
	}
}
