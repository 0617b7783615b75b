package server_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server"
)

func randomID(t testing.TB) []byte {
	t.Helper()
	b := make([]byte, proto.MessageIDBytes)
	rand.Read(b)
	return b
}

// directGroup creates a DIRECT conversation between creator and peer and
// adds the given devices (the MLS payloads are opaque to the server, so
// placeholders do).
func directGroup(t testing.TB, creator *client, peer *client, add ...*client) []byte {
	t.Helper()
	gid := randomID(t)
	c := &proto.Commit{
		GroupId: gid, Epoch: 0, MessageId: randomID(t), Commit: []byte("commit@0"),
		Kind: proto.ConversationKind_DIRECT, Accounts: []string{creator.auth.AccountId, peer.auth.AccountId},
	}
	for _, d := range add {
		c.AddDevices = append(c.AddDevices, d.deviceID())
	}
	if len(add) > 0 {
		c.Welcome = []byte("welcome@1")
	}
	r := creator.mustCall(&proto.Request{Body: &proto.Request_Commit{Commit: c}})
	if r.GetCommit().Epoch != 1 {
		t.Fatalf("epoch after creation %d, want 1", r.GetCommit().Epoch)
	}
	return gid
}

func sendReq(gid, id []byte, text string) *proto.Request {
	return &proto.Request{Body: &proto.Request_Send{Send: &proto.Send{GroupId: gid, MessageId: id, Epoch: 1, Ciphertext: []byte(text)}}}
}

// envelope waits for the next pushed envelope.
func (c *client) envelope() (uint64, *proto.Envelope) {
	c.t.Helper()
	e := c.event()
	if e.GetEnvelope() == nil {
		c.t.Fatalf("event %v, want an envelope", e)
	}
	return e.Seq, e.GetEnvelope()
}

func ack(c *client, seq uint64) {
	c.t.Helper()
	c.mustCall(&proto.Request{Body: &proto.Request_Ack{Ack: &proto.Ack{UpToSeq: seq}}})
}

func TestSendFanOutAckAndRedelivery(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	bobPhone := link(t, ts, bob)
	alicePhone := link(t, ts, alice)
	gid := directGroup(t, alice, bob, bob, bobPhone, alicePhone)

	// Each added device gets its Welcome first.
	for _, d := range []*client{bob, bobPhone, alicePhone} {
		seq, env := d.envelope()
		if env.Kind != proto.EnvelopeKind_WELCOME || !bytes.Equal(env.Payload, []byte("welcome@1")) || env.Epoch != 1 ||
			env.ConversationKind != proto.ConversationKind_DIRECT || len(env.Accounts) != 2 || env.SenderDevice != alice.deviceID() {
			t.Fatalf("welcome %v", env)
		}
		ack(d, seq)
	}

	ids := [][]byte{randomID(t), randomID(t), randomID(t)}
	for i, id := range ids {
		r := alice.mustCall(sendReq(gid, id, fmt.Sprintf("ciphertext %d", i)))
		if r.GetSend().ServerTimeMs == 0 {
			t.Fatal("SendResult without server time")
		}
	}
	// Every other member device, the sender's other device included, gets
	// all three in order.
	var lastSeq uint64
	for _, d := range []*client{bob, bobPhone, alicePhone} {
		var prev uint64
		for i, id := range ids {
			seq, env := d.envelope()
			if seq <= prev {
				t.Fatalf("seq %d after %d", seq, prev)
			}
			prev = seq
			if !bytes.Equal(env.MessageId, id) || env.Kind != proto.EnvelopeKind_APPLICATION ||
				string(env.Payload) != fmt.Sprintf("ciphertext %d", i) || env.SenderHandle != "@alice" || env.SenderAccount != alice.auth.AccountId {
				t.Fatalf("envelope %d: %v", i, env)
			}
			if d == bob && i == 1 {
				lastSeq = seq
			}
		}
	}
	// Bob acks the first two, drops the connection and reconnects: only
	// the third comes again.
	ack(bob, lastSeq)
	bob2 := bob.reconnect(ts)
	seq, env := bob2.envelope()
	if !bytes.Equal(env.MessageId, ids[2]) || seq <= lastSeq {
		t.Fatalf("redelivered %d %v, want the third message", seq, env)
	}
	if bob2.auth.MailboxSeq != seq {
		t.Fatalf("AuthResult.mailbox_seq %d, want %d", bob2.auth.MailboxSeq, seq)
	}
	// The sender's own device gets nothing of its own.
	alice.mustCall(ping)
	if len(alice.events) != 0 {
		t.Fatalf("sender got its own messages: %v", alice.events)
	}
}

func TestDuplicateSend(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	gid := directGroup(t, alice, bob, bob)
	bob.envelope() // welcome

	id := randomID(t)
	alice.mustCall(sendReq(gid, id, "once"))
	alice.expectCode(sendReq(gid, id, "once"), proto.Code_DUPLICATE)
	alice.mustCall(sendReq(gid, randomID(t), "after"))
	_, first := bob.envelope()
	_, second := bob.envelope()
	if string(first.Payload) != "once" || string(second.Payload) != "after" {
		t.Fatalf("bob got %q then %q; the replay must not be delivered", first.Payload, second.Payload)
	}
}

func TestSendIsChecked(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	carol := register(t, ts, "@carol")
	gid := directGroup(t, alice, bob, bob)

	alice.expectCode(sendReq(gid, []byte("short"), "x"), proto.Code_BAD_REQUEST)
	alice.expectCode(sendReq(gid, randomID(t), ""), proto.Code_BAD_REQUEST)
	alice.expectCode(&proto.Request{Body: &proto.Request_Send{Send: &proto.Send{GroupId: gid, MessageId: randomID(t), Ciphertext: make([]byte, proto.MaxCiphertextBytes+1)}}}, proto.Code_TOO_LARGE)
	alice.expectCode(sendReq(randomID(t), randomID(t), "x"), proto.Code_NOT_FOUND)
	alice.expectCode(sendReq(make([]byte, proto.MaxGroupIDBytes+1), randomID(t), "x"), proto.Code_BAD_REQUEST)
	carol.expectCode(sendReq(gid, randomID(t), "x"), proto.Code_FORBIDDEN)
	carol.expectCode(&proto.Request{Body: &proto.Request_GetGroup{GetGroup: &proto.GetGroup{GroupId: gid}}}, proto.Code_FORBIDDEN)

	g := bob.mustCall(&proto.Request{Body: &proto.Request_GetGroup{GetGroup: &proto.GetGroup{GroupId: gid}}}).GetGroup()
	if g.Epoch != 1 || len(g.Devices) != 2 || g.Kind != proto.ConversationKind_DIRECT {
		t.Fatalf("group %v", g)
	}

	// Bob blocks alice: she can no longer send or commit to their chat.
	bob.mustCall(&proto.Request{Body: &proto.Request_SetBlocked{SetBlocked: &proto.SetBlocked{AccountId: alice.auth.AccountId, Blocked: true}}})
	alice.expectCode(sendReq(gid, randomID(t), "x"), proto.Code_BLOCKED)
	alice.expectCode(&proto.Request{Body: &proto.Request_Commit{Commit: &proto.Commit{GroupId: gid, Epoch: 1, MessageId: randomID(t), Commit: []byte("c")}}}, proto.Code_BLOCKED)
	// Bob can still write to alice.
	bob.mustCall(sendReq(gid, randomID(t), "from bob"))
}

func TestCommitCreationIsChecked(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	carol := register(t, ts, "@carol")
	commit := func(mod func(*proto.Commit)) *proto.Request {
		c := &proto.Commit{
			GroupId: randomID(t), Epoch: 0, MessageId: randomID(t), Commit: []byte("c"),
			Kind: proto.ConversationKind_DIRECT, Accounts: []string{alice.auth.AccountId, bob.auth.AccountId},
			AddDevices: []string{bob.deviceID()}, Welcome: []byte("w"),
		}
		mod(c)
		return &proto.Request{Body: &proto.Request_Commit{Commit: c}}
	}
	for name, tc := range map[string]struct {
		mod  func(*proto.Commit)
		want proto.Code
	}{
		"no kind":             {func(c *proto.Commit) { c.Kind = 0 }, proto.Code_BAD_REQUEST},
		"three accounts":      {func(c *proto.Commit) { c.Accounts = append(c.Accounts, carol.auth.AccountId) }, proto.Code_BAD_REQUEST},
		"not my conversation": {func(c *proto.Commit) { c.Accounts = []string{bob.auth.AccountId, carol.auth.AccountId} }, proto.Code_BAD_REQUEST},
		"unknown account":     {func(c *proto.Commit) { c.Accounts[1] = "anobody" }, proto.Code_NOT_FOUND},
		"outsider device":     {func(c *proto.Commit) { c.AddDevices = []string{carol.deviceID()} }, proto.Code_BAD_REQUEST},
		"welcome missing":     {func(c *proto.Commit) { c.Welcome = nil }, proto.Code_BAD_REQUEST},
		"welcome to nobody":   {func(c *proto.Commit) { c.AddDevices = nil }, proto.Code_BAD_REQUEST},
		"stale first epoch":   {func(c *proto.Commit) { c.Epoch = 3 }, proto.Code_NOT_FOUND},
		"commit too large":    {func(c *proto.Commit) { c.Commit = make([]byte, proto.MaxHandshakeBytes+1) }, proto.Code_TOO_LARGE},
		"bad message id":      {func(c *proto.Commit) { c.MessageId = nil }, proto.Code_BAD_REQUEST},
	} {
		t.Run(name, func(t *testing.T) { alice.expectCode(commit(tc.mod), tc.want) })
	}
}

func TestStaleEpochCommitGetsTheWinner(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	gid := directGroup(t, alice, bob, bob)
	_, welcome := bob.envelope()
	if welcome.Kind != proto.EnvelopeKind_WELCOME {
		t.Fatalf("bob got %v first", welcome)
	}
	bobPhone := link(t, ts, bob)

	// Both commit in epoch 1; alice's arrives first and wins.
	winner := &proto.Commit{GroupId: gid, Epoch: 1, MessageId: randomID(t), Commit: []byte("alice adds bob's phone"),
		AddDevices: []string{bobPhone.deviceID()}, Welcome: []byte("welcome@2")}
	r := alice.mustCall(&proto.Request{Body: &proto.Request_Commit{Commit: winner}})
	if r.GetCommit().Epoch != 2 {
		t.Fatalf("epoch %d after the commit, want 2", r.GetCommit().Epoch)
	}
	late := &proto.Commit{GroupId: gid, Epoch: 1, MessageId: randomID(t), Commit: []byte("bob's late commit")}
	lr := bob.expectCode(&proto.Request{Body: &proto.Request_Commit{Commit: late}}, proto.Code_CONFLICT)
	if c := lr.GetConflict(); c == nil || c.Epoch != 2 || !bytes.Equal(c.WinningCommit, winner.Commit) {
		t.Fatalf("conflict body %v, want epoch 2 and the winning commit", lr.GetConflict())
	}
	// The loser also finds the winner in its mailbox, and the added
	// device its Welcome.
	_, env := bob.envelope()
	if env.Kind != proto.EnvelopeKind_COMMIT || !bytes.Equal(env.Payload, winner.Commit) || env.Epoch != 1 {
		t.Fatalf("bob's mail %v, want alice's commit", env)
	}
	_, env = bobPhone.envelope()
	if env.Kind != proto.EnvelopeKind_WELCOME || env.Epoch != 2 {
		t.Fatalf("bob's phone got %v, want its welcome", env)
	}
	// A repeat of the accepted commit (its answer was lost) is a
	// duplicate that says it was accepted, even after the group moved on;
	// its message id reused for another commit is a plain duplicate.
	bob.mustCall(&proto.Request{Body: &proto.Request_Commit{Commit: &proto.Commit{GroupId: gid, Epoch: 2, MessageId: randomID(t), Commit: []byte("bob's commit@2")}}})
	rr := alice.expectCode(&proto.Request{Body: &proto.Request_Commit{Commit: gproto.Clone(winner).(*proto.Commit)}}, proto.Code_DUPLICATE)
	if rr.GetCommit() == nil || rr.GetCommit().Epoch != 2 {
		t.Fatalf("repeat of the accepted commit: body %v, want the CommitResult with epoch 2", rr.Body)
	}
	reuse := &proto.Commit{GroupId: gid, Epoch: 3, MessageId: winner.MessageId, Commit: []byte("another")}
	if r := alice.expectCode(&proto.Request{Body: &proto.Request_Commit{Commit: reuse}}, proto.Code_DUPLICATE); r.GetCommit() != nil {
		t.Fatalf("another commit under the accepted one's id claims acceptance: %v", r.Body)
	}
	// Nothing was delivered again: bob's phone gets bob's commit, then
	// the next message, and no second copy of alice's commit in between.
	alice.mustCall(&proto.Request{Body: &proto.Request_Send{Send: &proto.Send{GroupId: gid, MessageId: randomID(t), Epoch: 3, Ciphertext: []byte("marker")}}})
	for _, want := range []string{"bob's commit@2", "marker"} {
		if _, env := bobPhone.envelope(); string(env.Payload) != want {
			t.Fatalf("bob's phone got %q, want %q", env.Payload, want)
		}
	}
}

func TestEphemeralIsPushedNeverStored(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	gid := directGroup(t, alice, bob, bob)
	seq, _ := bob.envelope()
	ack(bob, seq)

	typing := &proto.Request{Body: &proto.Request_Send{Send: &proto.Send{GroupId: gid, MessageId: randomID(t), Epoch: 1, Ciphertext: []byte("typing"), Ephemeral: true}}}
	alice.mustCall(typing)
	alice.mustCall(typing) // no duplicate check for ephemeral messages
	for range 2 {
		s, env := bob.envelope()
		if s != 0 || string(env.Payload) != "typing" {
			t.Fatalf("ephemeral event seq %d %v, want seq 0", s, env)
		}
	}
	// Nothing of it is in the mailbox.
	again := bob.reconnect(ts)
	again.mustCall(ping)
	if len(again.events) != 0 {
		t.Fatalf("ephemeral message redelivered: %v", again.events)
	}
}

func TestAtMostMaxEventBatchUnacked(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.RateBurst = 10000 })
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	gid := directGroup(t, alice, bob, bob)
	const n = proto.MaxEventBatch + 44
	for i := range n {
		alice.send(sendReq(gid, randomID(t), fmt.Sprint(i)))
	}
	for id := alice.nextID - n + 1; id <= alice.nextID; id++ {
		if r := alice.response(id); r.Code != proto.Code_OK {
			t.Fatalf("send %d: %v", id, r.Code)
		}
	}
	// welcome + 255 messages fill the window.
	var last uint64
	for range proto.MaxEventBatch {
		last, _ = bob.envelope()
	}
	waitFor(t, "the window to be full", func() bool {
		return counterValue(t, ts, "parley_mailbox_in_flight", "") == proto.MaxEventBatch
	})
	// Nothing more arrives until bob acks: a Ping's answer comes before
	// any further event.
	bob.mustCall(ping)
	if len(bob.events) != 0 {
		t.Fatalf("%d events beyond the window", len(bob.events))
	}
	ack(bob, last)
	for i := proto.MaxEventBatch - 1; i < n; i++ {
		_, env := bob.envelope()
		if string(env.Payload) != fmt.Sprint(i) {
			t.Fatalf("after the ack got %q, want %d", env.Payload, i)
		}
	}
}

func TestMailboxExpiry(t *testing.T) {
	ts := startServer(t, withFakeClock)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	gid := directGroup(t, alice, bob, bob)
	bob.ws.CloseNow()
	alice.mustCall(sendReq(gid, randomID(t), "old"))

	ts.clock.Advance(proto.MailboxTTL + time.Hour)
	waitFor(t, "the sweeper to expire the mail", func() bool {
		return counterValue(t, ts, "parley_mailbox_expired_total", "") >= 2 // welcome and message
	})
	again := bob.reconnect(ts)
	again.mustCall(ping)
	if len(again.events) != 0 {
		t.Fatalf("expired mail delivered: %v", again.events)
	}
}

func TestSendInStaleEpochGetsConflict(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	gid := directGroup(t, alice, bob, bob)
	_, welcome := bob.envelope()
	if welcome.Kind != proto.EnvelopeKind_WELCOME {
		t.Fatalf("bob got %v first", welcome)
	}
	alice.mustCall(&proto.Request{Body: &proto.Request_Commit{Commit: &proto.Commit{
		GroupId: gid, Epoch: 1, MessageId: randomID(t), Commit: []byte("alice updates")}}})

	// Bob has not processed the commit yet: his epoch-1 message is refused
	// with the current epoch, and nothing reaches alice.
	r := bob.expectCode(sendReq(gid, randomID(t), "stale"), proto.Code_CONFLICT)
	if c := r.GetConflict(); c == nil || c.Epoch != 2 {
		t.Fatalf("conflict body %v, want epoch 2", r.GetConflict())
	}
	// A future epoch is refused the same way.
	future := sendReq(gid, randomID(t), "future")
	future.GetSend().Epoch = 7
	bob.expectCode(future, proto.Code_CONFLICT)

	current := sendReq(gid, randomID(t), "current")
	current.GetSend().Epoch = 2
	bob.mustCall(current)
	_, env := alice.envelope()
	if string(env.Payload) != "current" {
		t.Fatalf("alice got %q, want only the current-epoch message", env.Payload)
	}
}
