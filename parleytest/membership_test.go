package parleytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/mls"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/proto"
)

// mlsIdentity is c's device as an MLS member, built from its profile key:
// tests use it to craft what a misbehaving (or older) client would send.
func mlsIdentity(t *testing.T, c *Client) mls.Identity {
	t.Helper()
	key, err := c.Profile().DeviceKey(Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := suite.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := key.MLSSigningKey(cs)
	if err != nil {
		t.Fatal(err)
	}
	return mls.Identity{Suite: 1, SigningKey: sk, Credential: []byte(c.DeviceID())}
}

// claim takes one key package of device (of account) as c.
func claim(t *testing.T, c *Client, account, device string) *proto.ClaimedKeyPackage {
	t.Helper()
	resp, err := c.Do(Ctx(t), &proto.Request{Body: &proto.Request_ClaimKeyPackages{ClaimKeyPackages: &proto.ClaimKeyPackages{
		AccountId: account, DeviceIds: []string{device}}}})
	if err != nil {
		t.Fatalf("claim a key package of %s: %v", device, err)
	}
	return resp.GetClaim().GetKeyPackages()[0]
}

func randomID() []byte {
	b := make([]byte, proto.MessageIDBytes)
	rand.Read(b)
	return b
}

// members lists the device ids in c's MLS state of its conversation with
// peer.
func members(t *testing.T, c *Client, peerAccount string) []string {
	t.Helper()
	conv, err := c.Profile().ConversationWith(Ctx(t), peerAccount)
	if err != nil {
		t.Fatalf("%s: conversation: %v", c.Handle, err)
	}
	g, err := mls.Import(conv.State)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range g.Members() {
		ids = append(ids, string(m.Credential))
	}
	return ids
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// TestNoValidPeerKeyPackage: when none of the peer's key packages is
// usable (here: all expired by the sender's clock), Send fails with
// NO_KEY_PACKAGE and creates no conversation. Before, it committed a
// group of the sender alone and reported success: the message was lost.
func TestNoValidPeerKeyPackage(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	future := clock.NewFake(time.Now().Add(mls.DefaultKeyPackageLifetime + 24*time.Hour))
	alice := NewClient(t, srv, "@alice", WithOptions(func(o *client.Options) { o.Clock = future }))
	bob := NewClient(t, srv, "@bob")
	ctx := Ctx(t)
	if _, err := alice.Send(ctx, "@bob", "into the void"); codeOf(err) != proto.Code_NO_KEY_PACKAGE {
		t.Fatalf("send with no valid key package of the peer: %v, want NO_KEY_PACKAGE", err)
	}
	if convs, _ := alice.Profile().Conversations(ctx); len(convs) != 0 {
		t.Fatalf("alice keeps %d conversations after the refused send", len(convs))
	}
	NoEvent(t, bob, 200*time.Millisecond, func(e client.MessageEvent) bool { return true })
}

// TestConversationWithoutPeerDeviceIsReplaced: a conversation holding
// none of the peer's devices (as older clients created them) is never
// used to send: the client starts a new one that holds them.
func TestConversationWithoutPeerDeviceIsReplaced(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	ctx := Ctx(t)

	// The lowest group id, so it is the one ConversationWith picks.
	broken := make([]byte, 16)
	g, err := mls.CreateGroup(broken, mlsIdentity(t, alice))
	if err != nil {
		t.Fatal(err)
	}
	commit, _, err := g.Commit(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Do(ctx, &proto.Request{Body: &proto.Request_Commit{Commit: &proto.Commit{
		GroupId: broken, MessageId: randomID(), Commit: commit, Kind: proto.ConversationKind_DIRECT,
		Accounts: []string{alice.Self().AccountID, bob.Self().AccountID}}}}); err != nil {
		t.Fatal(err)
	}
	if err := g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	state, err := g.Export()
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Profile().Update(ctx, func(tx *profile.Tx) error {
		return tx.SaveConversation(profile.Conversation{GroupID: broken, Kind: int32(proto.ConversationKind_DIRECT),
			PeerAccount: bob.Self().AccountID, PeerHandle: "@bob", Epoch: g.Epoch(), State: state, Created: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}

	sent, err := alice.Send(ctx, "@bob", "not lost")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(sent.GroupID, broken) {
		t.Fatal("the message went to the conversation without the peer")
	}
	got := WaitMessage(t, bob, "not lost")
	if !bytes.Equal(got.GroupID, sent.GroupID) {
		t.Fatal("bob got it in another conversation")
	}
	if _, err := alice.Profile().Conversation(ctx, broken); err == nil {
		t.Fatal("alice still keeps the conversation without the peer")
	}
}

// TestReconcileRemovesRevokedDevice: the primary revokes a device but goes
// away before removing it from the conversation. Bob, once he sees the
// revocation in alice's key log, removes the device himself (before, his
// device refused to send to alice from then on), and the revoked device
// cannot read what follows.
func TestReconcileRemovesRevokedDevice(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	var stop atomic.Pointer[context.CancelFunc]
	alice := NewClient(t, srv, "@alice", WithOptions(func(o *client.Options) {
		o.Hooks = &client.Hooks{Response: func(req *proto.Request, _ *proto.Response) {
			if cancel := stop.Load(); cancel != nil && req.GetRevokeDevice() != nil {
				(*cancel)() // the primary is gone right after the revocation
			}
		}}
	}))
	bob := NewClient(t, srv, "@bob")
	alice2 := LinkDevice(t, alice)
	sendAll(t, bob, "@alice", "hello", alice, alice2)
	revoked := alice2.DeviceID()
	state := conversationState(t, alice2)

	rctx, cancel := context.WithCancel(Ctx(t))
	stop.Store(&cancel)
	if err := alice.RevokeDevice(rctx, revoked); err == nil {
		t.Fatal("the revocation's removal from conversations was not interrupted; the test proves nothing")
	}
	alice.Close()
	if !contains(members(t, bob, alice.Self().AccountID), revoked) {
		t.Fatal("the revoked device left the conversation anyway; the test proves nothing")
	}

	// Bob verifies alice's keys again: the revocation is a key change,
	// which makes his device reconcile.
	if _, err := bob.SafetyNumber(Ctx(t), "@alice"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob removes the revoked device", func() bool {
		return !contains(members(t, bob, alice.Self().AccountID), revoked)
	})

	captured := captureApplication(t, alice)
	sent, err := bob.Send(Ctx(t), "@alice", "after the revocation")
	if err != nil {
		t.Fatal(err)
	}
	WaitMessage(t, alice, "after the revocation")
	assertCannotDecrypt(t, state, captured(sent.ID))
}

// captureApplication restarts c with a hook that keeps the payload of
// every application message it gets, by message id.
func captureApplication(t *testing.T, c *Client) func(id []byte) []byte {
	t.Helper()
	var mu sync.Mutex
	got := map[string][]byte{}
	c.Close()
	c.opts.Hooks = &client.Hooks{Envelope: func(env *proto.Envelope) {
		if env.Kind == proto.EnvelopeKind_APPLICATION {
			mu.Lock()
			got[string(env.MessageId)] = bytes.Clone(env.Payload)
			mu.Unlock()
		}
	}}
	c.Reopen()
	return func(id []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		ct, ok := got[string(id)]
		if !ok {
			t.Fatal("the message's ciphertext was not captured")
		}
		return ct
	}
}

// TestReconcileAddsMissingOwnDevice: the primary approves a link but goes
// away before adding the new device to the conversations; on its next
// start it adds it (before, the device stayed out for good).
func TestReconcileAddsMissingOwnDevice(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	var stop atomic.Pointer[context.CancelFunc]
	alice := NewClient(t, srv, "@alice", WithOptions(func(o *client.Options) {
		o.Hooks = &client.Hooks{Response: func(req *proto.Request, _ *proto.Response) {
			if cancel := stop.Load(); cancel != nil && req.GetLinkApprove() != nil {
				(*cancel)()
			}
		}}
	}))
	bob := NewClient(t, srv, "@bob")
	sendAll(t, bob, "@alice", "hello", alice)

	alice2 := NewDevice(t, srv, alice.Handle)
	ctx := Ctx(t)
	link, err := alice2.LinkBegin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- link.Wait(ctx) }()
	actx, cancel := context.WithCancel(ctx)
	stop.Store(&cancel)
	if _, err := alice.LinkApprove(actx, link.Code, link.DeviceID); err == nil {
		t.Fatal("adding the device to conversations was not interrupted; the test proves nothing")
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if contains(members(t, alice, bob.Self().AccountID), alice2.DeviceID()) {
		t.Fatal("the new device is in the conversation already; the test proves nothing")
	}

	alice.opts.Hooks = nil
	alice.Reopen()
	eventually(t, "alice's primary adds the new device", func() bool {
		return contains(members(t, bob, alice.Self().AccountID), alice2.DeviceID())
	})
	sendAll(t, bob, "@alice", "to every device", alice, alice2)
	sendAll(t, alice2, "@bob", "from the new device", bob, alice)
}

// TestWelcomeWithoutPeerDeviceIgnored: a Welcome to a DIRECT conversation
// that holds none of the peer's devices (here made by the account's own
// other device) is not joined, so it can never become the conversation
// used to reach the peer.
func TestWelcomeWithoutPeerDeviceIgnored(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	alice2 := LinkDevice(t, alice)
	ctx := Ctx(t)

	planted := make([]byte, 16) // the lowest group id
	g, err := mls.CreateGroup(planted, mlsIdentity(t, alice2))
	if err != nil {
		t.Fatal(err)
	}
	kp := claim(t, alice2, alice.Self().AccountID, alice.DeviceID())
	commit, welcome, err := g.Commit([][]byte{kp.KeyPackage}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice2.Do(ctx, &proto.Request{Body: &proto.Request_Commit{Commit: &proto.Commit{
		GroupId: planted, MessageId: randomID(), Commit: commit, Welcome: welcome, AddDevices: []string{alice.DeviceID()},
		Kind: proto.ConversationKind_DIRECT, Accounts: []string{alice.Self().AccountID, bob.Self().AccountID}}}}); err != nil {
		t.Fatal(err)
	}
	// The next message proves the Welcome before it was processed.
	sendAll(t, bob, "@alice", "after the welcome", alice)
	if _, err := alice.Profile().Conversation(ctx, planted); err == nil {
		t.Fatal("alice joined a conversation with bob that holds none of bob's devices")
	}
}

// TestReplayedWelcomeDoesNotOverwrite: a Welcome for a conversation the
// device already has (here the original one, delivered again under another
// group id) is ignored; before, it replaced the conversation's state with
// the stale one from the Welcome.
func TestReplayedWelcomeDoesNotOverwrite(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	var welcome atomic.Pointer[[]byte]
	bob := NewClient(t, srv, "@bob", WithOptions(func(o *client.Options) {
		o.Hooks = &client.Hooks{Response: func(req *proto.Request, _ *proto.Response) {
			if w := req.GetCommit().GetWelcome(); len(w) > 0 {
				welcome.CompareAndSwap(nil, &w)
			}
		}}
	}))
	ctx := Ctx(t)
	aliceAcc, bobAcc := alice.Self().AccountID, bob.Self().AccountID
	// Drain alice's one-time packages: the conversation then uses her
	// last-resort package, whose private key she keeps, so a replay of
	// its Welcome would still open.
	for claim(t, bob, aliceAcc, alice.DeviceID()).LastResort == false {
	}
	sendAll(t, bob, "@alice", "hello", alice)
	LinkDevice(t, alice) // moves the conversation to a later epoch
	before, err := alice.Profile().ConversationWith(ctx, bobAcc)
	if err != nil {
		t.Fatal(err)
	}

	// Bob's device delivers the first Welcome again, under a new group.
	g, err := mls.CreateGroup(randomID(), mlsIdentity(t, bob))
	if err != nil {
		t.Fatal(err)
	}
	kp := claim(t, bob, aliceAcc, alice.DeviceID())
	commit, _, err := g.Commit([][]byte{kp.KeyPackage}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Do(ctx, &proto.Request{Body: &proto.Request_Commit{Commit: &proto.Commit{
		GroupId: g.GroupID(), MessageId: randomID(), Commit: commit, Welcome: *welcome.Load(),
		AddDevices: []string{alice.DeviceID()}, Kind: proto.ConversationKind_DIRECT, Accounts: []string{aliceAcc, bobAcc}}}}); err != nil {
		t.Fatal(err)
	}
	sendAll(t, bob, "@alice", "after the replay", alice)
	after, err := alice.Profile().Conversation(ctx, before.GroupID)
	if err != nil || after.Epoch < before.Epoch {
		t.Fatalf("alice's conversation after the replayed Welcome: epoch %d (was %d), %v", after.Epoch, before.Epoch, err)
	}
	sendAll(t, alice, "@bob", "still fine", bob)
}
