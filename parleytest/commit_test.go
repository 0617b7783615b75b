package parleytest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
)

// loseCommitAnswers makes a client lose the server's answers to its
// Commit requests while armed (at most max of them).
func loseCommitAnswers(armed *atomic.Bool, lost *atomic.Int32, max int32) ClientOption {
	return WithOptions(func(o *client.Options) {
		o.Hooks = &client.Hooks{LoseResponse: func(req *proto.Request) bool {
			if req.GetCommit() == nil || !armed.Load() || lost.Load() >= max {
				return false
			}
			lost.Add(1)
			return true
		}}
	})
}

// sendAll sends text from `from` to handle and waits until every device in
// readers shows it: proof that all of them are in the conversation's
// current epoch.
func sendAll(t *testing.T, from *Client, handle, text string, readers ...*Client) {
	t.Helper()
	if _, err := from.Send(Ctx(t), handle, text); err != nil {
		t.Fatalf("%s sends %q: %v", from.Handle, text, err)
	}
	for _, c := range readers {
		WaitMessage(t, c, text)
	}
}

// TestLostCommitAnswerIsMerged: the server accepts a commit but its answer
// is lost. The client repeats it (at once if a new connection is up in
// time, else once reconnected), is answered DUPLICATE with the commit's
// result, and must take that as accepted — before the fix it discarded its
// own accepted commit and stayed in the old epoch for good.
func TestLostCommitAnswerIsMerged(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	var armed atomic.Bool
	var lost atomic.Int32
	alice := NewClient(t, srv, "@alice", loseCommitAnswers(&armed, &lost, 1))
	bob := NewClient(t, srv, "@bob")
	sendAll(t, alice, "@bob", "hello", bob)

	ctx := Ctx(t)
	alice2 := NewDevice(t, srv, alice.Handle)
	link, err := alice2.LinkBegin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- link.Wait(ctx) }()
	armed.Store(true) // alice's commit adding alice2 loses its answer
	if _, err := alice.LinkApprove(ctx, link.Code, link.DeviceID); err != nil {
		t.Logf("approval reported %v; the commit is settled after reconnecting", err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if lost.Load() != 1 {
		t.Fatalf("%d commit answers lost, want 1", lost.Load())
	}
	sendAll(t, alice, "@bob", "from the primary", bob, alice2)
	sendAll(t, bob, "@alice", "from bob", alice, alice2)
	if pending, err := alice.Profile().PendingCommits(ctx); err != nil || len(pending) != 0 {
		t.Fatalf("pending commits in the end: %d, %v; want none", len(pending), err)
	}
}

// TestPendingCommitResentAfterRestart: every answer to a commit is lost,
// so the client gives up with the commit undecided. It was saved as
// pending, and the restarted client sends it again, is told it was
// accepted, and merges it.
func TestPendingCommitResentAfterRestart(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	var armed atomic.Bool
	var lost atomic.Int32
	alice := NewClient(t, srv, "@alice", loseCommitAnswers(&armed, &lost, 1000))
	bob := NewClient(t, srv, "@bob")
	ctx := Ctx(t)
	sendAll(t, alice, "@bob", "hello", bob)

	// Link by hand: the approval's commit never gets an answer.
	alice2 := NewDevice(t, srv, alice.Handle)
	link, err := alice2.LinkBegin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- link.Wait(ctx) }()
	armed.Store(true)
	if _, err := alice.LinkApprove(ctx, link.Code, link.DeviceID); err == nil {
		t.Fatal("LinkApprove succeeded although every commit answer was lost")
	}
	if err := <-waitErr; err != nil {
		t.Fatal(err)
	}
	pending, err := alice.Profile().PendingCommits(ctx)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending commits after the lost answers: %d, %v; want 1", len(pending), err)
	}

	armed.Store(false)
	alice.Reopen() // a restart: the commit is settled before the group is used
	sendAll(t, alice, "@bob", "after the restart", bob, alice2)
	sendAll(t, bob, "@alice", "back", alice, alice2)
	if pending, err := alice.Profile().PendingCommits(ctx); err != nil || len(pending) != 0 {
		t.Fatalf("pending commits after the restart: %d, %v; want none", len(pending), err)
	}
}

// TestResyncAfterUnprocessableCommit: a device that cannot process a
// commit (here it arrives corrupted) rejoins the conversation by external
// commit from the GroupInfo the committer uploaded, and reads and sends
// again; before, it skipped the commit and was stuck in the old epoch.
func TestResyncAfterUnprocessableCommit(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	var corrupt atomic.Bool
	var corrupted atomic.Int32
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob", WithOptions(func(o *client.Options) {
		o.Hooks = &client.Hooks{Envelope: func(env *proto.Envelope) {
			if env.Kind == proto.EnvelopeKind_COMMIT && corrupt.CompareAndSwap(true, false) {
				env.Payload = append([]byte(nil), env.Payload...)
				env.Payload[len(env.Payload)-1] ^= 0xff // breaks the signature
				corrupted.Add(1)
			}
		}}
	}))
	sendAll(t, alice, "@bob", "hello", bob)

	corrupt.Store(true)
	alice2 := LinkDevice(t, alice) // epoch 1 -> 2; bob gets the commit corrupted
	// Bob rejoins: epoch 2 -> 3. (What alice sent in epoch 2 before that
	// stays unreadable to bob; that is the price of a resync.)
	eventually(t, "bob rejoins the conversation", func() bool {
		convs, err := bob.Profile().Conversations(Ctx(t))
		return err == nil && len(convs) == 1 && convs[0].Epoch == 3
	})
	if corrupted.Load() != 1 {
		t.Fatal("no commit was corrupted; the test proves nothing")
	}
	sendAll(t, alice, "@bob", "after the rejoin", alice2, bob)
	sendAll(t, bob, "@alice", "bob is back", alice, alice2)
	sendAll(t, alice2, "@bob", "to the rejoined bob", bob, alice)
}

// eventually waits until cond holds (it watches state that changes
// without an event), and fails the test after WaitTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(WaitTimeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: not within %v", what, WaitTimeout)
		}
	}
}
