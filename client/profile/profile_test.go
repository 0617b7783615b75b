package profile

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func openTemp(t *testing.T) (*Profile, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "p")
	p, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, dir
}

func TestDeviceKeyIsPrivateAndStable(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "p")
	p, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	k1, err := p.DeviceKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open of a profile in use: got %v, want ErrInUse", err)
	}
	p.Close()

	for _, name := range []string{FileName} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, st.Mode().Perm())
		}
	}
	st, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o700 {
		t.Errorf("profile dir has mode %v, want 0700", st.Mode().Perm())
	}

	p, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	k2, err := p.DeviceKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Fatal("device key changed across reopen")
	}
}

func TestSelf(t *testing.T) {
	ctx := context.Background()
	p, _ := openTemp(t)
	if _, err := p.Self(ctx); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Self on a new profile: %v, want ErrNotRegistered", err)
	}
	want := Self{AccountID: "acc", Handle: "@alice", DeviceID: "dev", Primary: true}
	if err := p.Update(ctx, func(tx *Tx) error {
		if err := tx.SetServerURL("http://x"); err != nil {
			return err
		}
		return tx.SetSelf(want)
	}); err != nil {
		t.Fatal(err)
	}
	got, err := p.Self(ctx)
	if err != nil || got != want {
		t.Fatalf("Self = %+v, %v; want %+v", got, err, want)
	}
	if u, _ := p.ServerURL(ctx); u != "http://x" {
		t.Fatalf("ServerURL = %q", u)
	}
}

func TestUpdateIsAtomic(t *testing.T) {
	ctx := context.Background()
	p, _ := openTemp(t)
	boom := errors.New("boom")
	err := p.Update(ctx, func(tx *Tx) error {
		if err := tx.SaveConversation(Conversation{GroupID: []byte("g"), State: []byte("s1")}); err != nil {
			return err
		}
		if err := tx.MarkSeen([]byte("m1"), time.Now()); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := p.Conversation(ctx, []byte("g")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("conversation written by a failed transaction: %v", err)
	}
	p.Update(ctx, func(tx *Tx) error {
		if seen, _ := tx.Seen([]byte("m1")); seen {
			t.Error("seen id written by a failed transaction")
		}
		return nil
	})
}

func TestConversations(t *testing.T) {
	ctx := context.Background()
	p, _ := openTemp(t)
	t0 := time.UnixMilli(1000)
	c1 := Conversation{GroupID: []byte("g1"), Kind: 1, PeerAccount: "bob", PeerHandle: "@bob", Epoch: 1, State: []byte("a"), Created: t0}
	c2 := Conversation{GroupID: []byte("g2"), Kind: 1, PeerAccount: "bob", PeerHandle: "@bob", Epoch: 0, State: []byte("b"), Created: t0.Add(time.Second)}
	if err := p.Update(ctx, func(tx *Tx) error {
		if err := tx.SaveConversation(c1); err != nil {
			return err
		}
		return tx.SaveConversation(c2)
	}); err != nil {
		t.Fatal(err)
	}
	got, err := p.ConversationWith(ctx, "bob")
	if err != nil || !bytes.Equal(got.GroupID, []byte("g1")) {
		t.Fatalf("ConversationWith = %q, %v; want the smallest id, g1", got.GroupID, err)
	}
	c1.Epoch, c1.State = 2, []byte("a2")
	p.Update(ctx, func(tx *Tx) error { return tx.SaveConversation(c1) })
	got, _ = p.Conversation(ctx, []byte("g1"))
	if got.Epoch != 2 || string(got.State) != "a2" || got.PeerHandle != "@bob" {
		t.Fatalf("after update: %+v", got)
	}
	all, _ := p.Conversations(ctx)
	if len(all) != 2 {
		t.Fatalf("Conversations: %d", len(all))
	}
}

func TestMessagesDedupeAndShown(t *testing.T) {
	ctx := context.Background()
	p, _ := openTemp(t)
	now := time.UnixMilli(5000)
	in := Message{ID: []byte("id-1"), GroupID: []byte("g"), SenderHandle: "@bob", Text: "hello", Sent: now, Received: now}
	for range 2 { // redelivery stores it once
		if err := p.Update(ctx, func(tx *Tx) error {
			seen, err := tx.Seen(in.ID)
			if err != nil || seen {
				return err
			}
			if err := tx.AddMessage(in); err != nil {
				return err
			}
			return tx.MarkSeen(in.ID, now)
		}); err != nil {
			t.Fatal(err)
		}
	}
	out := Message{ID: []byte("id-2"), GroupID: []byte("g"), Text: "mine", Outgoing: true, Sent: now, Received: now.Add(time.Millisecond)}
	p.Update(ctx, func(tx *Tx) error { return tx.AddMessage(out) })

	un, err := p.Unshown(ctx, 10)
	if err != nil || len(un) != 1 || un[0].Text != "hello" {
		t.Fatalf("Unshown = %+v, %v", un, err)
	}
	p.MarkShown(ctx, in.ID)
	if un, _ := p.Unshown(ctx, 10); len(un) != 0 {
		t.Fatalf("Unshown after MarkShown: %+v", un)
	}

	p.Update(ctx, func(tx *Tx) error { return tx.SetStatus([][]byte{out.ID, in.ID}, StatusRead) })
	p.Update(ctx, func(tx *Tx) error { return tx.SetStatus([][]byte{out.ID}, StatusDelivered) })
	m, _ := p.Message(ctx, out.ID)
	if m.Status != StatusRead {
		t.Fatalf("status %v, want read (a late delivered must not lower it)", m.Status)
	}
	m, _ = p.Message(ctx, in.ID)
	if m.Status != StatusSent {
		t.Fatalf("receipt changed an incoming message: %v", m.Status)
	}
	h, _ := p.History(ctx, []byte("g"), 1)
	if len(h) != 1 || h[0].Text != "mine" {
		t.Fatalf("History(limit 1) = %+v, want the newest", h)
	}

	if err := p.PruneSeen(ctx, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	p.Update(ctx, func(tx *Tx) error {
		if seen, _ := tx.Seen(in.ID); seen {
			t.Error("PruneSeen kept an old id")
		}
		return nil
	})
}

func TestPeersContactsKeyPackages(t *testing.T) {
	ctx := context.Background()
	p, _ := openTemp(t)
	pr := Peer{AccountID: "a1", Handle: "@bob", LogIndex: 3, HeadHash: []byte("h"), DeviceList: []byte("l"), Verified: time.UnixMilli(7)}
	if err := p.SavePeer(ctx, pr); err != nil {
		t.Fatal(err)
	}
	got, err := p.PeerByHandle(ctx, "@bob")
	if err != nil || got.LogIndex != 3 || string(got.HeadHash) != "h" {
		t.Fatalf("PeerByHandle = %+v, %v", got, err)
	}
	if _, err := p.Peer(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}

	p.SetContact(ctx, Contact{AccountID: "a1", Handle: "@bob"}, true)
	p.SetContact(ctx, Contact{AccountID: "a2", Handle: "@carol"}, true)
	p.SetContact(ctx, Contact{AccountID: "a1"}, false)
	cs, _ := p.Contacts(ctx)
	if len(cs) != 1 || cs[0].Handle != "@carol" {
		t.Fatalf("Contacts = %+v", cs)
	}

	p.Update(ctx, func(tx *Tx) error {
		tx.PutKeyPackage(KeyPackage{Ref: []byte("r1"), Bundle: []byte("b1")})
		tx.PutKeyPackage(KeyPackage{Ref: []byte("lr"), Bundle: []byte("b2"), LastResort: true})
		return tx.PutKeyPackage(KeyPackage{Ref: []byte("r2"), Bundle: []byte("b3")})
	})
	p.Update(ctx, func(tx *Tx) error { return tx.DeleteKeyPackage([]byte("r1")) })
	kps, _ := p.KeyPackages(ctx)
	if len(kps) != 2 || !kps[1].LastResort {
		t.Fatalf("KeyPackages = %+v", kps)
	}
}
