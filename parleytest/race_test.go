package parleytest

import (
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server"
)

// TestConcurrentCommits makes two devices commit to one conversation in
// the same epoch: bob's device is held from processing alice's commit
// (which adds her new device) while bob adds his own new device, so bob's
// commit is for a stale epoch. The server answers CONFLICT with alice's
// winning commit; bob processes it, rebuilds his commit on the new epoch,
// and later skips alice's commit when his mailbox delivers it. In the end
// every device of both accounts gets every message.
func TestConcurrentCommits(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	var hold atomic.Bool
	held := make(chan struct{}, 1)
	release := make(chan struct{})
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob", WithOptions(func(o *client.Options) {
		o.Hooks = &client.Hooks{Envelope: func(env *proto.Envelope) {
			if env.Kind == proto.EnvelopeKind_COMMIT && hold.CompareAndSwap(true, false) {
				held <- struct{}{}
				<-release
			}
		}}
	}))
	ctx := Ctx(t)
	if _, err := alice.Send(ctx, "@bob", "hi"); err != nil {
		t.Fatal(err)
	}
	WaitMessage(t, bob, "hi")

	hold.Store(true)
	alice2 := LinkDevice(t, alice)
	<-held // bob has alice's commit in hand but has not applied it
	bob2 := LinkDevice(t, bob)
	close(release)

	if _, err := alice.Send(ctx, "@bob", "to all of bob"); err != nil {
		t.Fatal(err)
	}
	WaitMessage(t, bob, "to all of bob")
	WaitMessage(t, bob2, "to all of bob")
	WaitMessage(t, alice2, "to all of bob")
	if _, err := bob2.Send(ctx, "@alice", "from bob2"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{alice, alice2, bob} {
		WaitMessage(t, c, "from bob2")
	}
}

// TestSimultaneousFirstMessages: both sides start the conversation at
// once, creating two groups; messages arrive either way and both sides
// then settle on the same group.
func TestSimultaneousFirstMessages(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	ctx := Ctx(t)
	errs := make(chan error, 2)
	go func() { _, err := alice.Send(ctx, "@bob", "from alice"); errs <- err }()
	go func() { _, err := bob.Send(ctx, "@alice", "from bob"); errs <- err }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	WaitMessage(t, bob, "from alice")
	WaitMessage(t, alice, "from bob")
	if _, err := alice.Send(ctx, "@bob", "second"); err != nil {
		t.Fatal(err)
	}
	m := WaitMessage(t, bob, "second")
	if _, err := bob.Send(ctx, "@alice", "reply"); err != nil {
		t.Fatal(err)
	}
	r := WaitMessage(t, alice, "reply")
	if string(m.GroupID) != string(r.GroupID) {
		t.Fatal("the two sides did not settle on one conversation")
	}
}

// TestLinkCodeExpires runs the server on a fake clock: a link code that
// nobody approves expires after proto.LinkCodeTTL. The idle timeout runs
// on that clock too, and the waiting device pings on real time: were it
// the default 90 s, a sweep read while the clock was passing between 90 s
// and the code's expiry cut the connection as idle instead (4 runs in 40).
func TestLinkCodeExpires(t *testing.T) {
	srv := NewServer(t, WithFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
		WithConfig(func(c *server.Config) { c.IdleTimeout = 10 * proto.LinkCodeTTL }))
	alice := NewClient(t, srv, "@alice")
	c, err := client.Dial(Ctx(t), client.Options{Profile: filepath.Join(t.TempDir(), "new"), Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	link, err := c.LinkBegin(Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- link.Wait(Ctx(t)) }()
	srv.Clock.Advance(proto.LinkCodeTTL + time.Second)
	if err := <-done; err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("link.Wait after the code expired: %v", err)
	}
	if _, err := alice.LinkApprove(Ctx(t), link.Code, link.DeviceID); err == nil {
		t.Fatal("an expired code was approved")
	}
	if c.Registered() {
		t.Fatal("the device counts as linked")
	}
}

// TestInviteRegistration uses the admin endpoint to create an invite.
func TestInviteRegistration(t *testing.T) {
	srv := NewServer(t, WithRegistration("invite"))
	dial := func() *client.Client {
		c, err := client.Dial(Ctx(t), client.Options{Profile: filepath.Join(t.TempDir(), "p"), Server: srv.URL,
			InviteCode: inviteCode})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	inviteCode = ""
	if err := dial().Register(Ctx(t), "@carol"); codeOf(err) != proto.Code_INVALID_INVITE {
		t.Fatalf("register without an invite: %v, want INVALID_INVITE", err)
	}
	inviteCode = srv.Invite(t)
	if err := dial().Register(Ctx(t), "@carol"); err != nil {
		t.Fatalf("register with an invite: %v", err)
	}
	if err := dial().Register(Ctx(t), "@dave"); codeOf(err) != proto.Code_INVALID_INVITE {
		t.Fatalf("an invite was used twice: %v", err)
	}
}

var inviteCode string

// TestTamperedKeyLog: when the key log no longer extends what a device
// trusted (here: the device's stored head is altered, as if the server
// had shown it a fork before), the device refuses and warns. The server
// side of a forgery is TestForgedKeyLogEntry.
func TestTamperedKeyLog(t *testing.T) {
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	NewClient(t, srv, "@bob")
	ctx := Ctx(t)
	if _, err := alice.SafetyNumber(ctx, "@bob"); err != nil {
		t.Fatal(err)
	}
	p, err := alice.Profile().PeerByHandle(ctx, "@bob")
	if err != nil {
		t.Fatal(err)
	}
	p.HeadHash = append([]byte(nil), p.HeadHash...)
	p.HeadHash[0] ^= 1
	if err := alice.Profile().SavePeer(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SafetyNumber(ctx, "@bob"); !errors.Is(err, client.ErrKeyLog) {
		t.Fatalf("safety number over a forked log: %v, want ErrKeyLog", err)
	}
	kc := WaitEvent(t, alice, func(e client.KeyChangeEvent) bool { return e.Err != nil })
	if kc.Handle != "@bob" {
		t.Fatalf("warning for %q", kc.Handle)
	}
	if client.EncryptionAvailable() {
		if _, err := alice.Send(ctx, "@bob", "secret"); !errors.Is(err, client.ErrKeyLog) {
			t.Fatalf("send to an account with a forked log: %v", err)
		}
	}
}
