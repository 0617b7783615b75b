package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/store"
)

var groupID = []byte("group-0123456789abcdef")

// create makes groupID at epoch 0 from dev-a with dev-b and dev-c added.
func create(t *testing.T, s store.Store) store.CommitRecord {
	t.Helper()
	c := store.CommitRecord{
		GroupID: groupID, Epoch: 0, SenderDevice: "dev-a", MessageID: msgID(100), Commit: []byte("commit@0"),
		GroupInfo: []byte("info@1"), AddDevices: []string{"dev-c", "dev-b"},
		Kind: int32(proto.ConversationKind_DIRECT), Accounts: []string{"acct-b", "acct-a"},
		Mail: []store.Mail{mail("dev-b", "welcome"), mail("dev-c", "welcome")}, At: T0,
	}
	if _, err := s.ApplyCommit(t.Context(), c); err != nil {
		t.Fatalf("ApplyCommit(create): %v", err)
	}
	return c
}

func testCreateGroup(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := create(t, s)
	for i, m := range c.Mail {
		if m.Seq != 1 {
			t.Errorf("welcome %d: Seq = %d, want 1", i, m.Seq)
		}
	}
	g, err := s.Group(ctx, groupID)
	noErr(t, "Group", err)
	want := store.Group{ID: groupID, Epoch: 1, Kind: int32(proto.ConversationKind_DIRECT),
		Accounts: []string{"acct-a", "acct-b"}, Devices: []string{"dev-a", "dev-b", "dev-c"}}
	if !bytes.Equal(g.ID, want.ID) || g.Epoch != want.Epoch || g.Kind != want.Kind ||
		!equalStrings(g.Accounts, want.Accounts) || !equalStrings(g.Devices, want.Devices) {
		t.Errorf("Group = %+v, want %+v", g, want)
	}
	info, err := s.GroupInfo(ctx, groupID)
	noErr(t, "GroupInfo", err)
	if string(info) != "info@1" {
		t.Errorf("GroupInfo = %q", info)
	}
	for _, d := range want.Devices {
		ids, err := s.GroupsOfDevice(ctx, d)
		noErr(t, "GroupsOfDevice", err)
		if !equalBytes(ids, [][]byte{groupID}) {
			t.Errorf("GroupsOfDevice(%s) = %q", d, ids)
		}
	}
	if got := envelopes(fetchAll(t, s, "dev-b")); !equalStrings(got, []string{"welcome"}) {
		t.Errorf("dev-b mailbox = %q", got)
	}
	_, err = s.Group(ctx, []byte("no such group"))
	wantErr(t, "Group(unknown)", err, store.ErrNotFound)
	_, err = s.GroupInfo(ctx, []byte("no such group"))
	wantErr(t, "GroupInfo(unknown)", err, store.ErrNotFound)
	ids, err := s.GroupsOfDevice(ctx, "dev-ghost")
	noErr(t, "GroupsOfDevice(unknown)", err)
	if len(ids) != 0 {
		t.Errorf("GroupsOfDevice(unknown) = %q", ids)
	}
}

func testCommitMembership(t *testing.T, s store.Store) {
	ctx := t.Context()
	create(t, s)
	// Mail already waiting keeps the device's sequence going.
	deliver(t, s, sub("dev-a", 1, mail("dev-d", "before")))
	c := store.CommitRecord{GroupID: groupID, Epoch: 1, SenderDevice: "dev-b", MessageID: msgID(101), Commit: []byte("commit@1"),
		AddDevices: []string{"dev-d"}, RemoveDevices: []string{"dev-c"},
		Mail: []store.Mail{mail("dev-a", "commit"), mail("dev-d", "welcome")}, At: T0}
	g, err := s.ApplyCommit(ctx, c)
	noErr(t, "ApplyCommit", err)
	if g.Epoch != 2 || !equalStrings(g.Devices, []string{"dev-a", "dev-b", "dev-d"}) || !equalStrings(g.Accounts, []string{"acct-a", "acct-b"}) {
		t.Errorf("ApplyCommit returned %+v", g)
	}
	if c.Mail[0].Seq != 1 || c.Mail[1].Seq != 2 {
		t.Errorf("commit mail seqs = %d, %d; want 1, 2", c.Mail[0].Seq, c.Mail[1].Seq)
	}
	// A nil GroupInfo keeps the previous one.
	if info, _ := s.GroupInfo(ctx, groupID); string(info) != "info@1" {
		t.Errorf("GroupInfo = %q, want the previous info@1", info)
	}
	ids, err := s.GroupsOfDevice(ctx, "dev-c")
	noErr(t, "GroupsOfDevice", err)
	if len(ids) != 0 {
		t.Errorf("removed device still in %q", ids)
	}
	_, err = s.ApplyCommit(ctx, store.CommitRecord{GroupID: groupID, Epoch: 2, SenderDevice: "dev-a", MessageID: msgID(102),
		Commit: []byte("commit@2"), GroupInfo: []byte("info@3"), At: T0})
	noErr(t, "ApplyCommit", err)
	if info, _ := s.GroupInfo(ctx, groupID); string(info) != "info@3" {
		t.Errorf("GroupInfo = %q, want info@3", info)
	}
	g, err = s.Group(ctx, groupID)
	noErr(t, "Group", err)
	if g.Epoch != 3 {
		t.Errorf("epoch = %d, want 3", g.Epoch)
	}
}

func testCommitConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := create(t, s)
	late := store.CommitRecord{GroupID: groupID, Epoch: 0, SenderDevice: "dev-b", MessageID: msgID(200), Commit: []byte("late@0"),
		GroupInfo: []byte("late-info"), RemoveDevices: []string{"dev-a"}, Mail: []store.Mail{mail("dev-a", "late")}, At: T0}
	_, err := s.ApplyCommit(ctx, late)
	var conflict *store.EpochConflict
	if !errors.As(err, &conflict) || !errors.Is(err, store.ErrStaleEpoch) {
		t.Fatalf("stale commit: got %v, want *EpochConflict", err)
	}
	if conflict.Current != 1 || !bytes.Equal(conflict.Winning, first.Commit) {
		t.Errorf("conflict = current %d winning %q; want 1, %q", conflict.Current, conflict.Winning, first.Commit)
	}
	// Nothing of the losing commit was applied.
	g, err := s.Group(ctx, groupID)
	noErr(t, "Group", err)
	if g.Epoch != 1 || !equalStrings(g.Devices, []string{"dev-a", "dev-b", "dev-c"}) {
		t.Errorf("group after conflict = %+v", g)
	}
	if info, _ := s.GroupInfo(ctx, groupID); string(info) != "info@1" {
		t.Errorf("GroupInfo after conflict = %q", info)
	}
	if n, _ := depth(t, s, "dev-a"); n != 0 {
		t.Errorf("losing commit delivered %d mails", n)
	}
	// A commit from the future conflicts too, with no winner to show.
	_, err = s.ApplyCommit(ctx, store.CommitRecord{GroupID: groupID, Epoch: 5, SenderDevice: "dev-b", MessageID: msgID(201), Commit: []byte("x"), At: T0})
	if !errors.As(err, &conflict) || conflict.Current != 1 || conflict.Winning != nil {
		t.Errorf("future commit: got %v (%+v), want conflict at 1 without winner", err, conflict)
	}
	// The loser's message id was not consumed: it can rebase and retry.
	late.Epoch = 1
	_, err = s.ApplyCommit(ctx, late)
	noErr(t, "rebased commit", err)
}

func testCommitErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := create(t, s)
	// Same sender, id and epoch as the accepted commit, other bytes.
	dup := store.CommitRecord{GroupID: groupID, Epoch: 0, SenderDevice: first.SenderDevice, MessageID: first.MessageID, Commit: []byte("dup"), At: T0}
	_, err := s.ApplyCommit(ctx, dup)
	wantErr(t, "ApplyCommit(reused message id)", err, store.ErrDuplicate)
	var repeat *store.CommitRepeated
	if errors.As(err, &repeat) {
		t.Errorf("another commit under an accepted commit's message id answered %v, want a plain ErrDuplicate", err)
	}
	// Message ids are shared with Deliver: one namespace per sender.
	errs := deliver(t, s, sub(first.SenderDevice, 100, mail("dev-x", "x")))
	wantErr(t, "Deliver(commit's message id)", errs[0], store.ErrDuplicate)

	_, err = s.ApplyCommit(ctx, store.CommitRecord{GroupID: []byte("unknown"), Epoch: 3, SenderDevice: "dev-a", MessageID: msgID(300), Commit: []byte("c"), At: T0})
	wantErr(t, "ApplyCommit(unknown group, epoch 3)", err, store.ErrNotFound)
	if g, _ := s.Group(ctx, groupID); g.Epoch != 1 {
		t.Errorf("epoch moved to %d", g.Epoch)
	}
}

// testCommitRepeated: a commit sent again with its message id (its
// answer was lost) applies nothing and is told it was accepted, with the
// epoch it produced, even after the group moved on.
func testCommitRepeated(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := create(t, s)
	next := store.CommitRecord{GroupID: groupID, Epoch: 1, SenderDevice: "dev-b", MessageID: msgID(101), Commit: []byte("commit@1"),
		Mail: []store.Mail{mail("dev-a", "commit@1"), mail("dev-c", "commit@1")}, At: T0}
	_, err := s.ApplyCommit(ctx, next)
	noErr(t, "ApplyCommit(epoch 1)", err)
	before := envelopes(fetchAll(t, s, "dev-a"))

	for _, c := range []store.CommitRecord{first, next} {
		c.Mail = []store.Mail{mail("dev-a", "again")}
		_, err := s.ApplyCommit(ctx, c)
		var repeat *store.CommitRepeated
		if !errors.As(err, &repeat) || !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("repeated commit of epoch %d: %v, want *CommitRepeated", c.Epoch, err)
		}
		if repeat.Epoch != c.Epoch+1 {
			t.Errorf("repeated commit of epoch %d: accepted into epoch %d, want %d", c.Epoch, repeat.Epoch, c.Epoch+1)
		}
	}
	g, err := s.Group(ctx, groupID)
	noErr(t, "Group", err)
	if g.Epoch != 2 {
		t.Errorf("epoch %d after repeats, want 2", g.Epoch)
	}
	if got := envelopes(fetchAll(t, s, "dev-a")); !equalStrings(got, before) {
		t.Errorf("dev-a mailbox %q after repeats, want %q (nothing delivered again)", got, before)
	}
}

// testConcurrentCommits: ten devices commit on the same epoch at once;
// exactly one wins and the others learn its commit.
func testConcurrentCommits(t *testing.T, s store.Store) {
	create(t, s)
	const committers = 10
	errs := make([]error, committers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range committers {
		wg.Go(func() {
			<-start
			_, errs[i] = s.ApplyCommit(t.Context(), store.CommitRecord{GroupID: groupID, Epoch: 1,
				SenderDevice: fmt.Sprintf("dev-%d", i), MessageID: msgID(i), Commit: []byte(fmt.Sprintf("commit-%d", i)),
				Mail: []store.Mail{mail("dev-a", fmt.Sprintf("commit-%d", i))}, At: T0})
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("commits %d and %d both won epoch 1", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no commit won: %v", errs)
	}
	for i, err := range errs {
		if i == winner {
			continue
		}
		var conflict *store.EpochConflict
		if !errors.As(err, &conflict) {
			t.Errorf("loser %d: %v, want *EpochConflict", i, err)
			continue
		}
		if conflict.Current != 2 || string(conflict.Winning) != fmt.Sprintf("commit-%d", winner) {
			t.Errorf("loser %d told current %d winning %q", i, conflict.Current, conflict.Winning)
		}
	}
	if got := envelopes(fetchAll(t, s, "dev-a")); !equalStrings(got, []string{fmt.Sprintf("commit-%d", winner)}) {
		t.Errorf("dev-a got %q, want only the winner's commit", got)
	}
}
