package parleytest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

func requireMLS(t *testing.T) {
	t.Helper()
	if !client.EncryptionAvailable() {
		t.Fatal("this build has no MLS engine; the client refuses to send")
	}
}

func TestSendRecvReceipts(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	ctx := Ctx(t)

	sent, err := alice.Send(ctx, "@bob", "hello")
	if err != nil {
		t.Fatal(err)
	}
	got := WaitMessage(t, bob, "hello")
	if got.SenderHandle != "@alice" || got.Outgoing || !bytes.Equal(got.ID, sent.ID) {
		t.Fatalf("bob got %+v", got)
	}
	r := WaitEvent(t, alice, func(e client.ReceiptEvent) bool { return e.Kind == proto.Receipt_DELIVERED })
	if r.From != "@bob" || len(r.MessageIDs) != 1 || !bytes.Equal(r.MessageIDs[0], sent.ID) {
		t.Fatalf("delivery receipt %+v", r)
	}
	if err := bob.MarkRead(ctx, got); err != nil {
		t.Fatal(err)
	}
	WaitEvent(t, alice, func(e client.ReceiptEvent) bool { return e.Kind == proto.Receipt_READ })
	m, err := alice.Profile().Message(ctx, sent.ID)
	if err != nil || m.Status != profile.StatusRead {
		t.Fatalf("alice's copy: %+v, %v", m, err)
	}

	// And back, in the same conversation.
	if _, err := bob.Send(ctx, "@alice", "hi alice"); err != nil {
		t.Fatal(err)
	}
	WaitMessage(t, alice, "hi alice")
	convs, _ := alice.Profile().Conversations(ctx)
	if len(convs) != 1 {
		t.Fatalf("alice has %d conversations, want 1", len(convs))
	}
}

func TestTypingIsEphemeral(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	ctx := Ctx(t)
	if _, err := alice.Send(ctx, "@bob", "start"); err != nil {
		t.Fatal(err)
	}
	WaitMessage(t, bob, "start")
	if err := alice.SetTyping(ctx, "@bob", true); err != nil {
		t.Fatal(err)
	}
	e := WaitEvent(t, bob, func(e client.TypingEvent) bool { return e.Typing })
	if e.From != "@alice" {
		t.Fatalf("typing from %q", e.From)
	}
	// Offline devices never get it: it is not stored.
	bob.Close()
	if err := alice.SetTyping(ctx, "@bob", true); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "@bob", "after typing"); err != nil {
		t.Fatal(err)
	}
	bob.Reopen()
	WaitMessage(t, bob, "after typing")
	NoEvent(t, bob, 100*time.Millisecond, func(e client.TypingEvent) bool { return true })
}

// TestOfflineDelivery: mail waits in the mailbox and is shown once.
func TestOfflineDelivery(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	ctx := Ctx(t)
	bob.Close()
	for _, text := range []string{"one", "two", "three"} {
		if _, err := alice.Send(ctx, "@bob", text); err != nil {
			t.Fatal(err)
		}
	}
	bob.Reopen()
	un, err := bob.Unshown(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range un {
		texts = append(texts, m.Text)
	}
	if strings.Join(texts, ",") != "one,two,three" {
		t.Fatalf("bob's waiting messages: %v", texts)
	}
}

// TestDedupeAfterLostAck drops the connection instead of acking: the
// server redelivers, and the message is still shown once.
func TestDedupeAfterLostAck(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	var mu sync.Mutex
	var armed atomic.Bool
	dropped := 0
	bob := NewClient(t, srv, "@bob", WithOptions(func(o *client.Options) {
		o.Hooks = &client.Hooks{BeforeAck: func(uint64) bool {
			mu.Lock()
			defer mu.Unlock()
			if dropped < 2 && armed.Load() {
				dropped++
				return false
			}
			return true
		}}
	}))
	ctx := Ctx(t)
	armed.Store(true)
	if _, err := alice.Send(ctx, "@bob", "exactly once"); err != nil {
		t.Fatal(err)
	}
	WaitMessage(t, bob, "exactly once")
	// The next message proves the redeliveries were processed (in order).
	WaitEvent(t, bob, func(e client.ConnectionEvent) bool { return e.Connected })
	if _, err := alice.Send(ctx, "@bob", "next"); err != nil {
		t.Fatal(err)
	}
	WaitMessage(t, bob, "next")
	NoEvent(t, bob, 100*time.Millisecond, func(e client.MessageEvent) bool { return e.Message.Text == "exactly once" })
	mu.Lock()
	n := dropped
	mu.Unlock()
	if n == 0 {
		t.Fatal("no ack was dropped; the test did not exercise redelivery")
	}
	un, _ := bob.Unshown(ctx)
	count := 0
	for _, m := range un {
		if m.Text == "exactly once" {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("history holds %d copies", count)
	}
}

// TestLinkedDevices: after linking, messages to and from the account
// reach both devices; a revoked device gets nothing new and cannot
// decrypt what is sent afterwards.
func TestLinkedDevices(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	ctx := Ctx(t)
	if _, err := bob.Send(ctx, "@alice", "before link"); err != nil {
		t.Fatal(err)
	}
	WaitMessage(t, alice, "before link")

	alice2 := LinkDevice(t, alice) // joins the existing conversation
	if _, err := bob.Send(ctx, "@alice", "to both"); err != nil {
		t.Fatal(err)
	}
	WaitMessage(t, alice, "to both")
	WaitMessage(t, alice2, "to both")
	// Bob's device was told about the new device.
	WaitEvent(t, bob, func(e client.KeyChangeEvent) bool { return len(e.Added) == 1 && e.Added[0] == alice2.DeviceID() })

	if _, err := alice2.Send(ctx, "@bob", "from the new device"); err != nil {
		t.Fatal(err)
	}
	m := WaitMessage(t, bob, "from the new device")
	if m.SenderDevice != alice2.DeviceID() || m.SenderHandle != "@alice" {
		t.Fatalf("bob got %+v", m)
	}
	own := WaitMessage(t, alice, "from the new device")
	if !own.Outgoing {
		t.Fatalf("alice's primary shows her own message as incoming: %+v", own)
	}

	// Revoke: alice2 is cut off and removed from the conversation.
	state := conversationState(t, alice2)
	if err := alice.RevokeDevice(ctx, alice2.DeviceID()); err != nil {
		t.Fatal(err)
	}
	WaitEvent(t, alice2, func(e client.DeviceEvent) bool { return e.Self })
	captured := captureApplication(t, alice)
	after, err := bob.Send(ctx, "@alice", "after revoke")
	if err != nil {
		t.Fatal(err)
	}
	WaitMessage(t, alice, "after revoke")
	ct := captured(after.ID)
	assertCannotDecrypt(t, state, ct)
	// Every remaining member dropped it from the group.
	for _, c := range []*Client{alice, bob} {
		peer := bob.Self().AccountID
		if c == bob {
			peer = alice.Self().AccountID
		}
		if contains(members(t, c, peer), alice2.DeviceID()) {
			t.Fatalf("%s still counts the revoked device as a member", c.Handle)
		}
	}
}

// TestBlocking: a blocked account cannot send.
func TestBlocking(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	ctx := Ctx(t)
	if err := bob.SetBlocked(ctx, "@alice", true); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "@bob", "let me in"); codeOf(err) != proto.Code_BLOCKED {
		t.Fatalf("send to an account that blocked you: %v, want BLOCKED", err)
	}
	if err := bob.SetBlocked(ctx, "@alice", false); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "@bob", "thanks"); err != nil {
		t.Fatal(err)
	}
	WaitMessage(t, bob, "thanks")
	if err := bob.SetBlocked(ctx, "@alice", true); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "@bob", "again"); codeOf(err) != proto.Code_BLOCKED {
		t.Fatalf("send in an existing conversation after a block: %v, want BLOCKED", err)
	}
	NoEvent(t, bob, 100*time.Millisecond, func(e client.MessageEvent) bool { return e.Message.Text == "again" })
}

// TestPlaintextNeverReachesServer is the proof the issue asks for:
// messages carrying a random marker travel between two accounts with
// several devices each; every device shows them, and the marker appears
// in no file of the server's data directory and nowhere in its log.
func TestPlaintextNeverReachesServer(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	alice2 := LinkDevice(t, alice)
	bob2 := LinkDevice(t, bob)
	ctx := Ctx(t)

	var mark [12]byte
	rand.Read(mark[:])
	marker := "MARKER-" + hex.EncodeToString(mark[:])
	msgs := []struct {
		from *Client
		to   string
		text string
	}{
		{alice, "@bob", marker + " from alice"},
		{bob2, "@alice", marker + " from bob2"},
		{alice2, "@bob", marker + " from alice2"},
	}
	for _, m := range msgs {
		if _, err := m.from.Send(ctx, m.to, m.text); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*Client{alice, alice2, bob, bob2} {
			if c != m.from {
				WaitMessage(t, c, m.text)
			}
		}
	}
	// Receipts and typing ride along too.
	if err := bob.SetTyping(ctx, "@alice", true); err != nil {
		t.Fatal(err)
	}

	for _, needle := range [][]byte{[]byte(marker), []byte(hex.EncodeToString([]byte(marker)))} {
		if hits := srv.FilesContaining(t, needle); len(hits) > 0 {
			t.Fatalf("plaintext marker found in server files: %v", hits)
		}
	}
	if strings.Contains(srv.Logs(), marker) {
		t.Fatal("plaintext marker found in the server log")
	}
	if len(srv.Logs()) == 0 {
		t.Fatal("the server logged nothing; the log check proves nothing")
	}
}
