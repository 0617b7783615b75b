package server_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/mls"
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
// adds the given devices, with a real MLS commit (the server reads its
// proposals; see commitMsg).
func directGroup(t testing.TB, creator *client, peer *client, add ...*client) []byte {
	t.Helper()
	gid := randomID(t)
	c := creator.commitReq(gid, 0, add)
	c.Kind, c.Accounts = proto.ConversationKind_DIRECT, []string{creator.auth.AccountId, peer.auth.AccountId}
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
		if env.Kind != proto.EnvelopeKind_WELCOME || !mls.IsWelcome(env.Payload) || env.Epoch != 1 ||
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
	alice.expectCode(&proto.Request{Body: &proto.Request_Commit{Commit: alice.commitReq(gid, 1, nil)}}, proto.Code_BLOCKED)
	// Bob can still write to alice.
	bob.mustCall(sendReq(gid, randomID(t), "from bob"))
}

func TestCommitCreationIsChecked(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	carol := register(t, ts, "@carol")
	var commitIn func(epoch uint64, mod func(*proto.Commit), add ...*client) *proto.Request
	commit := func(mod func(*proto.Commit), add ...*client) *proto.Request {
		return commitIn(0, mod, add...)
	}
	commitIn = func(epoch uint64, mod func(*proto.Commit), add ...*client) *proto.Request {
		if add == nil {
			add = []*client{bob}
		}
		c := alice.commitReq(randomID(t), epoch, add)
		c.Kind, c.Accounts = proto.ConversationKind_DIRECT, []string{alice.auth.AccountId, bob.auth.AccountId}
		mod(c)
		return &proto.Request{Body: &proto.Request_Commit{Commit: c}}
	}
	for name, tc := range map[string]struct {
		req  *proto.Request
		want proto.Code
	}{
		"no kind":             {commit(func(c *proto.Commit) { c.Kind = 0 }), proto.Code_BAD_REQUEST},
		"three accounts":      {commit(func(c *proto.Commit) { c.Accounts = append(c.Accounts, carol.auth.AccountId) }), proto.Code_BAD_REQUEST},
		"not my conversation": {commit(func(c *proto.Commit) { c.Accounts = []string{bob.auth.AccountId, carol.auth.AccountId} }), proto.Code_BAD_REQUEST},
		"unknown account":     {commit(func(c *proto.Commit) { c.Accounts[1] = "anobody" }), proto.Code_NOT_FOUND},
		"outsider device":     {commit(func(*proto.Commit) {}, carol), proto.Code_BAD_REQUEST},
		"welcome missing":     {commit(func(c *proto.Commit) { c.Welcome = nil }), proto.Code_BAD_REQUEST},
		"welcome to nobody":   {commit(func(c *proto.Commit) { c.AddDevices = nil }), proto.Code_BAD_REQUEST},
		"stale first epoch":   {commitIn(3, func(*proto.Commit) {}), proto.Code_NOT_FOUND},
		"commit too large":    {commit(func(c *proto.Commit) { c.Commit = make([]byte, proto.MaxHandshakeBytes+1) }), proto.Code_TOO_LARGE},
		"together too large": {commit(func(c *proto.Commit) {
			// Each under the limit, together over it.
			c.Commit, c.Welcome = make([]byte, proto.MaxHandshakeBytes/2+1), make([]byte, proto.MaxHandshakeBytes/2+1)
		}), proto.Code_TOO_LARGE},
		"bad message id": {commit(func(c *proto.Commit) { c.MessageId = nil }), proto.Code_BAD_REQUEST},
	} {
		t.Run(name, func(t *testing.T) { alice.expectCode(tc.req, tc.want) })
	}
}

// TestCommitContentIsChecked: what a Commit declares must be what its MLS
// commit does (review finding Medium 7): the server decodes the commit's
// framing and proposals with package mls, never its secrets.
func TestCommitContentIsChecked(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	bobPhone := link(t, ts, bob)
	gid := directGroup(t, alice, bob, bob)
	mailOf := func(c *client) int {
		n := 0
		for _, e := range c.events {
			if e.GetEnvelope() != nil {
				n++
			}
		}
		return n
	}
	req := func(c *proto.Commit) *proto.Request { return &proto.Request{Body: &proto.Request_Commit{Commit: c}} }
	addsPhone := alice.commitReq(gid, 1, []*client{bobPhone})
	for name, c := range map[string]*proto.Commit{
		// The commit adds bob's phone; the request hides it or names
		// another device.
		"hidden add": func() *proto.Commit {
			c := alice.commitReq(gid, 1, []*client{bobPhone})
			c.AddDevices, c.Welcome = nil, nil
			return c
		}(),
		"declared add the commit does not make": func() *proto.Commit {
			c := alice.commitReq(gid, 1, nil)
			c.AddDevices, c.Welcome = []string{bobPhone.deviceID()}, addsPhone.Welcome
			return c
		}(),
		"remove the commit does not make": func() *proto.Commit {
			c := alice.commitReq(gid, 1, nil)
			c.RemoveDevices = []string{bob.deviceID()}
			return c
		}(),
		"not an MLS message":     {GroupId: gid, Epoch: 1, MessageId: randomID(t), Commit: []byte("commit")},
		"an application message": {GroupId: gid, Epoch: 1, MessageId: randomID(t), Commit: alice.keyPackageMsg(t, false)},
		"commit of another epoch": func() *proto.Commit {
			c := alice.commitReq(gid, 2, nil)
			c.Epoch = 1
			return c
		}(),
		"commit of another group": func() *proto.Commit {
			c := alice.commitReq(randomID(t), 1, nil)
			c.GroupId = gid
			return c
		}(),
		"another device's leaf": func() *proto.Commit { return bob.commitReq(gid, 1, nil) }(),
		"welcome not a Welcome": func() *proto.Commit {
			c := alice.commitReq(gid, 1, []*client{bobPhone})
			c.Welcome = c.Commit
			return c
		}(),
		"group info of the wrong epoch": func() *proto.Commit {
			c := alice.commitReq(gid, 1, nil)
			c.GroupInfo = alice.commitMsg(gid, 2, nil, 0).info // epoch 3's
			return c
		}(),
		"group info not a GroupInfo": func() *proto.Commit {
			c := alice.commitReq(gid, 1, nil)
			c.GroupInfo = c.Commit
			return c
		}(),
	} {
		if r := alice.call(req(c)); r.Code != proto.Code_BAD_REQUEST || r.Message == "" {
			t.Errorf("%s: %v %q, want BAD_REQUEST with a message", name, r.Code, r.Message)
		}
	}
	// Nothing was applied: still epoch 1, bob's phone got no welcome.
	if g := alice.mustCall(&proto.Request{Body: &proto.Request_GetGroup{GetGroup: &proto.GetGroup{GroupId: gid}}}).GetGroup(); g.Epoch != 1 || len(g.Devices) != 2 {
		t.Fatalf("group after refused commits: %v", g)
	}
	if n := mailOf(bobPhone); n != 0 {
		t.Fatalf("bob's phone got %d envelopes", n)
	}
	// The honest commit goes through, with the GroupInfo of the epoch it
	// starts.
	addsPhone.GroupInfo = alice.commitMsg(gid, 1, []string{bobPhone.deviceID()}, 0).info
	if r := alice.mustCall(req(addsPhone)); r.GetCommit().Epoch != 2 {
		t.Fatalf("epoch %d after the commit", r.GetCommit().Epoch)
	}
	if _, env := bobPhone.envelope(); env.Kind != proto.EnvelopeKind_WELCOME {
		t.Fatalf("bob's phone got %v, want its welcome", env)
	}
}

// TestExternalCommitRejoins: a member device that lost its state rejoins
// by an external commit of its own; it cannot rejoin as another device,
// nor add or remove devices that way.
func TestExternalCommitRejoins(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	gid := directGroup(t, alice, bob, bob)
	// The GroupInfo of epoch 1 (as the server keeps it), from which bob
	// rejoins.
	info := alice.commitMsg(gid, 0, []string{bob.deviceID()}, 0).info
	external := func(as *client) []byte {
		_, commit, err := mls.JoinExternal(info, as.mlsIdentity())
		if err != nil {
			t.Fatal(err)
		}
		return commit
	}
	req := func(c *proto.Commit) *proto.Request { return &proto.Request{Body: &proto.Request_Commit{Commit: c}} }
	carol := register(t, ts, "@carol")
	for name, c := range map[string]*proto.Commit{
		"as another device":   {GroupId: gid, Epoch: 1, MessageId: randomID(t), Commit: external(carol)},
		"declaring a removal": {GroupId: gid, Epoch: 1, MessageId: randomID(t), Commit: external(bob), RemoveDevices: []string{alice.deviceID()}},
	} {
		if r := bob.call(req(c)); r.Code != proto.Code_BAD_REQUEST {
			t.Errorf("%s: %v %q, want BAD_REQUEST", name, r.Code, r.Message)
		}
	}
	// An outsider cannot rejoin at all.
	carol.expectCode(req(&proto.Commit{GroupId: gid, Epoch: 1, MessageId: randomID(t), Commit: external(carol)}), proto.Code_FORBIDDEN)
	r := bob.mustCall(req(&proto.Commit{GroupId: gid, Epoch: 1, MessageId: randomID(t), Commit: external(bob)}))
	if r.GetCommit().Epoch != 2 {
		t.Fatalf("epoch %d after the rejoin", r.GetCommit().Epoch)
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
	winner := alice.commitReq(gid, 1, []*client{bobPhone})
	r := alice.mustCall(&proto.Request{Body: &proto.Request_Commit{Commit: winner}})
	if r.GetCommit().Epoch != 2 {
		t.Fatalf("epoch %d after the commit, want 2", r.GetCommit().Epoch)
	}
	late := bob.commitReq(gid, 1, nil)
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
	bobs := bob.commitReq(gid, 2, nil)
	bob.mustCall(&proto.Request{Body: &proto.Request_Commit{Commit: bobs}})
	rr := alice.expectCode(&proto.Request{Body: &proto.Request_Commit{Commit: gproto.Clone(winner).(*proto.Commit)}}, proto.Code_DUPLICATE)
	if rr.GetCommit() == nil || rr.GetCommit().Epoch != 2 {
		t.Fatalf("repeat of the accepted commit: body %v, want the CommitResult with epoch 2", rr.Body)
	}
	reuse := alice.commitReq(gid, 3, nil)
	reuse.MessageId = winner.MessageId
	if r := alice.expectCode(&proto.Request{Body: &proto.Request_Commit{Commit: reuse}}, proto.Code_DUPLICATE); r.GetCommit() != nil {
		t.Fatalf("another commit under the accepted one's id claims acceptance: %v", r.Body)
	}
	// Nothing was delivered again: bob's phone gets bob's commit, then
	// the next message, and no second copy of alice's commit in between.
	alice.mustCall(&proto.Request{Body: &proto.Request_Send{Send: &proto.Send{GroupId: gid, MessageId: randomID(t), Epoch: 3, Ciphertext: []byte("marker")}}})
	for _, want := range [][]byte{bobs.Commit, []byte("marker")} {
		if _, env := bobPhone.envelope(); !bytes.Equal(env.Payload, want) {
			t.Fatalf("bob's phone got %.40q, want %.40q", env.Payload, want)
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
	alice.mustCall(&proto.Request{Body: &proto.Request_Commit{Commit: alice.commitReq(gid, 1, nil)}})

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
