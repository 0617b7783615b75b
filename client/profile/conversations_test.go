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

func TestAddConversationNeverReplaces(t *testing.T) {
	p, _ := openTemp(t)
	ctx := context.Background()
	orig := Conversation{GroupID: []byte("g1"), Kind: 1, PeerAccount: "acc-b", PeerHandle: "@bob", Epoch: 3,
		State: []byte("state-3"), Created: time.UnixMilli(1000)}
	if err := p.Update(ctx, func(tx *Tx) error { return tx.AddConversation(orig) }); err != nil {
		t.Fatal(err)
	}
	planted := orig
	planted.PeerAccount, planted.PeerHandle, planted.State, planted.Epoch = "acc-m", "@mallory", []byte("planted"), 1
	err := p.Update(ctx, func(tx *Tx) error { return tx.AddConversation(planted) })
	if !errors.Is(err, ErrExists) {
		t.Fatalf("AddConversation over an existing group: %v, want ErrExists", err)
	}
	got, err := p.Conversation(ctx, orig.GroupID)
	if err != nil || got.PeerAccount != "acc-b" || string(got.State) != "state-3" || got.Epoch != 3 {
		t.Fatalf("after a refused AddConversation: %+v, %v", got, err)
	}
}

func TestPendingCommitRoundTrip(t *testing.T) {
	p, _ := openTemp(t)
	ctx := context.Background()
	c := Conversation{GroupID: []byte("g1"), Kind: 1, PeerAccount: "acc-b", PeerHandle: "@bob",
		State: []byte("s"), Created: time.UnixMilli(1000)}
	other := c
	other.GroupID = []byte("g2")
	c.PendingCommit = []byte("commit request")
	if err := p.Update(ctx, func(tx *Tx) error {
		if err := tx.SaveConversation(c); err != nil {
			return err
		}
		return tx.SaveConversation(other)
	}); err != nil {
		t.Fatal(err)
	}
	pend, err := p.PendingCommits(ctx)
	if err != nil || len(pend) != 1 || !bytes.Equal(pend[0].GroupID, c.GroupID) || string(pend[0].PendingCommit) != "commit request" {
		t.Fatalf("PendingCommits = %+v, %v", pend, err)
	}
	c.PendingCommit = nil
	if err := p.Update(ctx, func(tx *Tx) error { return tx.SaveConversation(c) }); err != nil {
		t.Fatal(err)
	}
	if pend, err := p.PendingCommits(ctx); err != nil || len(pend) != 0 {
		t.Fatalf("PendingCommits after clearing = %+v, %v", pend, err)
	}
}

// TestDeletedSecretsLeaveTheFile: a state that was replaced and a
// conversation that was deleted are not readable in the profile's files
// after Close (secure_delete zeroes freed pages; Close truncates the WAL).
func TestDeletedSecretsLeaveTheFile(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "p")
	p, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(tag string) []byte {
		// Large enough to live in overflow pages, like a real MLS state.
		return bytes.Repeat([]byte("SECRET-"+tag+"-"), 1000)
	}
	c := Conversation{GroupID: []byte("g1"), Kind: 1, PeerAccount: "a", PeerHandle: "@b", State: secret("old"), Created: time.UnixMilli(1)}
	gone := Conversation{GroupID: []byte("g2"), Kind: 1, PeerAccount: "a", PeerHandle: "@b", State: secret("gone"), Created: time.UnixMilli(1)}
	kp := KeyPackage{Ref: []byte("ref"), Bundle: secret("keypackage"), Created: time.UnixMilli(1)}
	if err := p.Update(ctx, func(tx *Tx) error {
		if err := tx.SaveConversation(c); err != nil {
			return err
		}
		if err := tx.SaveConversation(gone); err != nil {
			return err
		}
		return tx.PutKeyPackage(kp)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	c.State = secret("new")
	if err := p.Update(ctx, func(tx *Tx) error {
		if err := tx.SaveConversation(c); err != nil {
			return err
		}
		if err := tx.DeleteConversation(gone.GroupID); err != nil {
			return err
		}
		return tx.DeleteKeyPackage(kp.Ref)
	}); err != nil {
		t.Fatal(err)
	}
	var on int
	if err := p.db.QueryRow(`PRAGMA secure_delete`).Scan(&on); err != nil || on != 1 {
		t.Fatalf("secure_delete = %d, %v", on, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, FileName+"*"))
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if !bytes.Contains(all, []byte("SECRET-new-")) {
		t.Fatal("the current state is not in the file; the scan proves nothing")
	}
	for _, tag := range []string{"old", "gone", "keypackage"} {
		if bytes.Contains(all, []byte("SECRET-"+tag+"-")) {
			t.Errorf("deleted secret %q is still in the profile's files", tag)
		}
	}
}
