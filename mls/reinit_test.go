package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// reinitOld builds an n-member group of suite 1 and commits, from member
// 0, a ReInit to newSuite. It returns the old group's members (frozen)
// and a late message member 1 sent just before the ReInit commit.
func reinitOld(t *testing.T, n int, newSuite suite.ID, newID []byte) (old []*client, late []byte) {
	t.Helper()
	old = newTestGroup(t, 1, n)
	late, err := old[1].g.Encrypt([]byte("last words"), nil)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := old[0].g.CommitReInit(ReInitProposal{GroupID: newID, CipherSuite: newSuite})
	if err != nil {
		t.Fatal(err)
	}
	deliverCommit(t, old, 0, commit)
	return old, late
}

// freshClients returns a new client in suite cs for each of old, with the
// same credential.
func freshClients(t *testing.T, old []*client, cs suite.ID) []*client {
	t.Helper()
	out := make([]*client, len(old))
	for i, c := range old {
		out[i] = newClient(t, cs, string(c.id.Credential))
	}
	return out
}

func keyPackagesExcept(cl []*client, skip int) [][]byte {
	var kps [][]byte
	for i, c := range cl {
		if i != skip {
			kps = append(kps, c.bundle.Message())
		}
	}
	return kps
}

func TestReInit(t *testing.T) {
	for _, tc := range []struct {
		n  int
		cs suite.ID
	}{{2, 1}, {3, 1}, {2, 2}, {3, 3}, {2, 7}} {
		t.Run(fmt.Sprintf("%d members to suite %d", tc.n, tc.cs), func(t *testing.T) {
			newID := []byte("reinitialised group")
			old, late := reinitOld(t, tc.n, tc.cs, newID)
			var final uint64
			for i, c := range old {
				r, ok := c.g.ReInitPending()
				if !ok {
					t.Fatalf("member %d: no ReInit pending", i)
				}
				if !bytes.Equal(r.GroupID, newID) || r.CipherSuite != tc.cs || r.Version != tree.MLS10 ||
					!bytes.Equal(r.OldGroupID, []byte("test group")) || r.Epoch != c.g.Epoch() {
					t.Fatalf("member %d: ReInit %+v", i, r)
				}
				final = r.Epoch
				if _, err := c.g.Encrypt([]byte("x"), nil); !errors.Is(err, ErrReInitialized) || !errors.Is(err, ErrUnsupported) {
					t.Fatalf("member %d: Encrypt in a frozen group: %v", i, err)
				}
				if _, err := c.g.SelfUpdate(); !errors.Is(err, ErrReInitialized) {
					t.Fatalf("member %d: SelfUpdate in a frozen group: %v", i, err)
				}
				if _, err := c.g.GroupInfo(); !errors.Is(err, ErrReInitialized) {
					t.Fatalf("member %d: GroupInfo of a frozen group: %v", i, err)
				}
				if i != 1 {
					p, err := c.g.Process(late)
					if err != nil || string(p.Data) != "last words" {
						t.Fatalf("member %d: late message: %v", i, err)
					}
				}
			}
			if !old[0].g.EpochAuthenticator().Equal(old[1].g.EpochAuthenticator()) {
				t.Fatal("members disagree on the final epoch")
			}

			// Member 1, not the ReInit's committer, recreates the group.
			nc := freshClients(t, old, tc.cs)
			ng, commit, welcome, err := old[1].g.ReInitGroup(nc[1].id, keyPackagesExcept(nc, 1))
			if err != nil {
				t.Fatal(err)
			}
			if commit == nil || welcome == nil {
				t.Fatal("no commit or Welcome")
			}
			if err := ng.MergePendingCommit(); err != nil {
				t.Fatal(err)
			}
			nc[1].g = ng
			for i, c := range nc {
				if i == 1 {
					continue
				}
				c.g, err = JoinFromWelcomeWith(welcome, []*KeyPackageBundle{c.bundle}, c.id, JoinOptions{ResumptionGroups: []*Group{old[i].g}})
				if err != nil {
					t.Fatalf("member %d joins: %v", i, err)
				}
			}
			checkAgree(t, nc)
			for i, c := range nc {
				if c.g.Epoch() != 1 || c.g.Suite() != tc.cs || !bytes.Equal(c.g.GroupID(), newID) || len(c.g.Members()) != tc.n {
					t.Fatalf("member %d: epoch %d suite %v id %q %d members", i, c.g.Epoch(), c.g.Suite(), c.g.GroupID(), len(c.g.Members()))
				}
			}
			sendMessage(t, nc, 0, "hello again")
			sendMessage(t, nc, tc.n-1, "hi")
			commit, err = nc[0].g.SelfUpdate()
			if err != nil {
				t.Fatal(err)
			}
			deliverCommit(t, nc, 0, commit)
			checkAgree(t, nc)
			// The old group is untouched by all this.
			if r, ok := old[0].g.ReInitPending(); !ok || r.Epoch != final || old[0].g.Epoch() != final {
				t.Fatal("old group changed")
			}
		})
	}
}

// TestReInitFrozenExportImport checks that a frozen group stays frozen
// across Export/Import and can still recreate the group.
func TestReInitFrozenExportImport(t *testing.T) {
	old, _ := reinitOld(t, 2, 1, []byte("g2"))
	reimport(t, old[0])
	reimport(t, old[1])
	if _, ok := old[0].g.ReInitPending(); !ok {
		t.Fatal("ReInit lost by Export/Import")
	}
	if _, err := old[0].g.Encrypt(nil, nil); !errors.Is(err, ErrReInitialized) {
		t.Fatal(err)
	}
	nc := freshClients(t, old, 1)
	ng, _, welcome, err := old[0].g.ReInitGroup(nc[0].id, keyPackagesExcept(nc, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := ng.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	if _, err := JoinFromWelcomeWith(welcome, []*KeyPackageBundle{nc[1].bundle}, nc[1].id, JoinOptions{ResumptionGroups: []*Group{old[1].g}}); err != nil {
		t.Fatal(err)
	}
}

func TestReInitRejected(t *testing.T) {
	newID := []byte("g2")
	old, _ := reinitOld(t, 3, 1, newID)
	r, _ := old[0].g.ReInitPending()
	nc := freshClients(t, old, 1)
	kps := keyPackagesExcept(nc, 0)
	joiner := nc[1]

	// welcomeFrom builds the first commit of ng linked by link, the way
	// ReInitGroup does, and returns its Welcome.
	welcomeFrom := func(ng *Group, link linkedPSK) []byte {
		t.Helper()
		_, _, w, err := old[0].g.startLinked(ng, link, kps)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	good := linkedPSK{usage: schedule.ResumptionReInit, groupID: r.OldGroupID, epoch: r.Epoch, secret: r.ResumptionPSK}
	prev, ok := old[0].g.resumptionPSK(r.OldGroupID, r.Epoch-1)
	if !ok {
		t.Fatal("no resumption PSK of the previous epoch")
	}
	mkGroup := func(id []byte, ext tree.Extensions) *Group {
		t.Helper()
		ng, err := CreateGroupWith(id, nc[0].id, GroupOptions{Extensions: ext})
		if err != nil {
			t.Fatal(err)
		}
		return ng
	}
	frozenNotReInit := newTestGroup(t, 1, 1)[0].g // another group under the old id, without a ReInit

	for _, tc := range []struct {
		name    string
		welcome []byte
		groups  []*Group
		want    error
	}{
		{"missing old group", welcomeFrom(mkGroup(newID, nil), good), nil, ErrMissingPSK},
		{"old group without ReInit", welcomeFrom(mkGroup(newID, nil), good), []*Group{frozenNotReInit}, ErrResumptionMismatch},
		{"wrong group id", welcomeFrom(mkGroup([]byte("g3"), nil), good), []*Group{old[1].g}, ErrResumptionMismatch},
		{"wrong extensions", welcomeFrom(mkGroup(newID, tree.Extensions{{Type: ExtLastResort}}), good), []*Group{old[1].g}, ErrResumptionMismatch},
		{"previous epoch's PSK", welcomeFrom(mkGroup(newID, nil), linkedPSK{usage: schedule.ResumptionReInit, groupID: r.OldGroupID, epoch: r.Epoch - 1, secret: prev}), []*Group{old[1].g}, ErrResumptionMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := old[1].g.EpochAuthenticator()
			_, err := JoinFromWelcomeWith(tc.welcome, []*KeyPackageBundle{joiner.bundle}, joiner.id, JoinOptions{ResumptionGroups: tc.groups})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if r2, ok := old[1].g.ReInitPending(); !ok || r2.Epoch != r.Epoch || !old[1].g.EpochAuthenticator().Equal(auth) {
				t.Fatal("old group changed")
			}
		})
	}

	// After all this, the genuine Welcome still works with the same key
	// package.
	ng, _, welcome, err := old[0].g.ReInitGroup(nc[0].id, kps)
	if err != nil {
		t.Fatal(err)
	}
	if err := ng.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	if _, err := JoinFromWelcomeWith(welcome, []*KeyPackageBundle{joiner.bundle}, joiner.id, JoinOptions{ResumptionGroups: []*Group{old[1].g}}); err != nil {
		t.Fatal(err)
	}

	// Recreating needs a committed ReInit, the ReInit's suite and members
	// of the old group.
	live := newTestGroup(t, 1, 2)
	if _, _, _, err := live[0].g.ReInitGroup(nc[0].id, kps); err == nil {
		t.Fatal("ReInitGroup without a ReInit")
	}
	if _, _, _, err := old[0].g.ReInitGroup(testIdentity(t, 2, "member-0"), kps); err == nil {
		t.Fatal("ReInitGroup with an identity of another suite")
	}
	stranger := newClient(t, 1, "stranger")
	if _, _, _, err := old[0].g.ReInitGroup(nc[0].id, [][]byte{stranger.bundle.Message()}); !errors.Is(err, ErrNotMember) {
		t.Fatalf("ReInitGroup adding a stranger: %v", err)
	}
	if _, err := live[0].g.CommitReInit(ReInitProposal{GroupID: []byte("x"), CipherSuite: 99}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("ReInit to an unknown suite: %v", err)
	}
	if _, err := live[0].g.CommitReInit(ReInitProposal{GroupID: []byte("x"), Version: 2}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("ReInit to an unknown version: %v", err)
	}
}

// TestReInitPSKProposalRejected checks that a member's commit cannot
// carry a reinit or branch resumption PSK (RFC 9420 §11.2, §11.3).
func TestReInitPSKProposalRejected(t *testing.T) {
	cl := newTestGroup(t, 1, 2)
	st := cl[0].g.st
	for _, usage := range []schedule.ResumptionUsage{schedule.ResumptionReInit, schedule.ResumptionBranch} {
		psk := schedule.PreSharedKeyID{Type: schedule.PSKResumption, Usage: usage, GroupID: st.ctx.GroupID, Epoch: st.ctx.Epoch, Nonce: make([]byte, st.cs.HashSize())}
		entries := []proposalEntry{{p: &Proposal{Type: tree.ProposalPSK, PreSharedKey: &PreSharedKeyProposal{PSK: psk}}, sender: MemberSender(0)}}
		if _, err := cl[0].g.createCommit(st, entries); !errors.Is(err, ErrProposalNotAllowed) {
			t.Fatalf("usage %d: %v", usage, err)
		}
	}
}

// TestReInitFrozenRefusesHandshakes checks that a frozen group accepts no
// proposal or commit of its final epoch (another implementation could
// still send them), and leaves its state as it was.
func TestReInitFrozenRefusesHandshakes(t *testing.T) {
	old, _ := reinitOld(t, 2, 1, []byte("g2"))
	if _, err := old[1].g.ProposeLeave(); !errors.Is(err, ErrReInitialized) {
		t.Fatalf("ProposeLeave: %v", err)
	}
	// Bypass the API's own refusal to build a commit in the frozen epoch.
	p, err := old[0].g.createCommit(old[0].g.st, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth := old[1].g.EpochAuthenticator()
	if _, err := old[1].g.Process(p.commit); !errors.Is(err, ErrReInitialized) {
		t.Fatalf("commit in a frozen group: %v", err)
	}
	if _, ok := old[1].g.ReInitPending(); !ok || !old[1].g.EpochAuthenticator().Equal(auth) {
		t.Fatal("frozen group changed")
	}
}
