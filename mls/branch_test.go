package mls

import (
	"errors"
	"testing"

	"github.com/parleyhq/parley/mls/schedule"
)

func TestBranch(t *testing.T) {
	old := newTestGroup(t, 1, 3)
	sub := []byte("subgroup")
	nc := freshClients(t, old[:2], 1)
	ng, commit, welcome, err := old[0].g.Branch(sub, [][]byte{nc[1].bundle.Message()})
	if err != nil {
		t.Fatal(err)
	}
	if commit == nil || welcome == nil {
		t.Fatal("no commit or Welcome")
	}
	if err := ng.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	nc[0].g = ng

	// Without the old group the PSK cannot be resolved.
	if _, err := JoinFromWelcome(welcome, []*KeyPackageBundle{nc[1].bundle}, nc[1].id); !errors.Is(err, ErrMissingPSK) {
		t.Fatalf("join without the old group: %v", err)
	}
	// The old group moves on meanwhile: the branch PSK is of an epoch the
	// joiner still remembers.
	c, err := old[2].g.SelfUpdate()
	if err != nil {
		t.Fatal(err)
	}
	deliverCommit(t, old, 2, c)
	nc[1].g, err = JoinFromWelcomeWith(welcome, []*KeyPackageBundle{nc[1].bundle}, nc[1].id, JoinOptions{ResumptionGroups: []*Group{old[1].g}})
	if err != nil {
		t.Fatal(err)
	}
	checkAgree(t, nc)
	if nc[1].g.Epoch() != 1 || string(nc[1].g.GroupID()) != string(sub) || len(nc[1].g.Members()) != 2 {
		t.Fatalf("branch: epoch %d id %q %d members", nc[1].g.Epoch(), nc[1].g.GroupID(), len(nc[1].g.Members()))
	}
	sendMessage(t, nc, 0, "just us")
	sendMessage(t, nc, 1, "yes")
	// The old group is unaffected.
	sendMessage(t, old, 0, "everyone")
	checkAgree(t, old)
}

func TestBranchRejected(t *testing.T) {
	old := newTestGroup(t, 1, 3)
	nc := freshClients(t, old, 1)
	stranger := newClient(t, 1, "stranger")
	if _, _, _, err := old[0].g.Branch([]byte("sub"), [][]byte{stranger.bundle.Message()}); !errors.Is(err, ErrNotMember) {
		t.Fatalf("branch adding a stranger: %v", err)
	}
	if _, _, _, err := old[0].g.Branch([]byte("test group"), [][]byte{nc[1].bundle.Message()}); err == nil {
		t.Fatal("branch under the old group's id")
	}

	st := old[0].g.st
	link := linkedPSK{usage: schedule.ResumptionBranch, groupID: st.ctx.GroupID, epoch: st.ctx.Epoch, secret: st.keys.Resumption}
	welcomeFrom := func(creator Identity, id []byte) []byte {
		t.Helper()
		ng, err := CreateGroup(id, creator)
		if err != nil {
			t.Fatal(err)
		}
		_, _, w, err := old[0].g.startLinked(ng, link, [][]byte{nc[1].bundle.Message()})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	for _, tc := range []struct {
		name    string
		welcome []byte
		want    error
	}{
		{"creator not a member of the old group", welcomeFrom(stranger.id, []byte("sub")), ErrResumptionMismatch},
		{"same group id as the old group", welcomeFrom(nc[0].id, []byte("test group")), ErrResumptionMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := old[1].g.EpochAuthenticator()
			_, err := JoinFromWelcomeWith(tc.welcome, []*KeyPackageBundle{nc[1].bundle}, nc[1].id, JoinOptions{ResumptionGroups: []*Group{old[1].g}})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !old[1].g.EpochAuthenticator().Equal(auth) {
				t.Fatal("old group changed")
			}
		})
	}
	// A branch PSK of an epoch the joiner no longer holds.
	for range 2 {
		c, err := old[0].g.SelfUpdate()
		if err != nil {
			t.Fatal(err)
		}
		deliverCommit(t, old, 0, c)
	}
	// old[1] remembers only its last epochs now; the Welcome names an
	// older one.
	old[1].g.resumption = old[1].g.resumption[len(old[1].g.resumption)-1:]
	w := welcomeFrom(nc[0].id, []byte("sub"))
	if _, err := JoinFromWelcomeWith(w, []*KeyPackageBundle{nc[1].bundle}, nc[1].id, JoinOptions{ResumptionGroups: []*Group{old[1].g}}); !errors.Is(err, ErrMissingPSK) {
		t.Fatalf("branch PSK of a forgotten epoch: %v", err)
	}
}
