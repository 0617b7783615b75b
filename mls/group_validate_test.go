package mls

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// These tests play a hostile member or delivery service: each crafts a
// message that a check of RFC 9420 must reject, and verifies both the
// typed error and that the receiver's state is byte-for-byte unchanged
// (and still accepts the genuine message afterwards).

// exportOf returns g's state, for comparing before and after.
func exportOf(t testing.TB, g *Group) []byte {
	t.Helper()
	b, err := g.Export()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expectReject processes msg at c, requires err to match want, and the
// state to be unchanged.
func expectReject(t *testing.T, c *client, msg []byte, want error) {
	t.Helper()
	before := exportOf(t, c.g)
	_, err := c.g.Process(msg)
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
	if !bytes.Equal(before, exportOf(t, c.g)) {
		t.Fatalf("state changed by a rejected message (%v)", err)
	}
}

// remac decodes a PublicMessage, lets mutate change it, optionally
// re-signs it as from (who must be its sender), and recomputes the
// membership tag, as a malicious member could.
func remac(t testing.TB, msg []byte, from *Group, resign bool, mutate func(pm *PublicMessage)) []byte {
	t.Helper()
	m, err := DecodeMLSMessage(bytes.Clone(msg))
	if err != nil {
		t.Fatal(err)
	}
	pm := m.Public
	mutate(pm)
	st := from.st
	ac := pm.AuthenticatedContent()
	if resign {
		if err := ac.Sign(st.cs, from.signer, st.ctxBytes); err != nil {
			t.Fatal(err)
		}
		pm.Auth.Signature = ac.Auth.Signature
	}
	pm.MembershipTag = st.cs.MAC(st.keys.Membership, tbm(pm.AuthenticatedContent(), st.ctxBytes))
	return m.Encode()
}

// forgeCommit returns a commit from member from carrying c, signed and
// tagged but with a dummy confirmation tag.
func forgeCommit(t testing.TB, from *Group, c *Commit) []byte {
	t.Helper()
	st := from.st
	ac := &AuthenticatedContent{
		WireFormat: WirePublicMessage,
		Content: FramedContent{
			GroupID: st.ctx.GroupID, Epoch: st.ctx.Epoch, Sender: MemberSender(uint32(st.own)),
			ContentType: ContentCommit, Commit: c,
		},
		Auth: FramedContentAuthData{ConfirmationTag: make([]byte, st.cs.HashSize())},
	}
	if err := ac.Sign(st.cs, from.signer, st.ctxBytes); err != nil {
		t.Fatal(err)
	}
	pm, err := ProtectPublic(st.cs, ac, st.keys.Membership, st.ctxBytes)
	if err != nil {
		t.Fatal(err)
	}
	return NewPublicMLSMessage(pm).Encode()
}

func TestRejectTamperedCommits(t *testing.T) {
	cl := newTestGroup(t, 1, 4)
	a, b := cl[1], cl[2]
	commit, err := a.g.SelfUpdate()
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s []byte) { s[len(s)-1] ^= 1 }

	t.Run("membership tag", func(t *testing.T) {
		bad := bytes.Clone(commit)
		flip(bad)
		expectReject(t, b, bad, ErrBadMembershipTag)
	})
	t.Run("signature", func(t *testing.T) {
		expectReject(t, b, remac(t, commit, a.g, false, func(pm *PublicMessage) { flip(pm.Auth.Signature) }), ErrBadSignature)
	})
	t.Run("signed by another member", func(t *testing.T) {
		// Member 3 claims to be member 1.
		m := remac(t, commit, cl[3].g, true, func(pm *PublicMessage) {})
		expectReject(t, b, m, ErrBadSignature)
	})
	t.Run("confirmation tag", func(t *testing.T) {
		expectReject(t, b, remac(t, commit, a.g, false, func(pm *PublicMessage) { flip(pm.Auth.ConfirmationTag) }), ErrBadConfirmationTag)
	})
	t.Run("wrong epoch", func(t *testing.T) {
		expectReject(t, b, remac(t, commit, a.g, true, func(pm *PublicMessage) { pm.Content.Epoch++ }), ErrWrongEpoch)
	})
	t.Run("wrong group", func(t *testing.T) {
		expectReject(t, b, remac(t, commit, a.g, true, func(pm *PublicMessage) { pm.Content.GroupID = []byte("other") }), ErrWrongGroup)
	})
	t.Run("sender not a member", func(t *testing.T) {
		expectReject(t, b, remac(t, commit, a.g, true, func(pm *PublicMessage) { pm.Content.Sender.Index = 40 }), ErrNotMember)
	})
	t.Run("parent hash", func(t *testing.T) {
		// Replace a path key: the parent hash the committer's leaf signs
		// no longer matches the path.
		k, _ := a.g.st.cs.GenerateHPKEKey()
		m := remac(t, commit, a.g, true, func(pm *PublicMessage) {
			p := pm.Content.Commit.Path
			p.Nodes[len(p.Nodes)-1].EncryptionKey = k.Public()
		})
		expectReject(t, b, m, ErrParentHashMismatch)
	})
	t.Run("path with another member's leaf", func(t *testing.T) {
		m := remac(t, commit, a.g, true, func(pm *PublicMessage) {
			pm.Content.Commit.Path.LeafNode = *cl[3].g.st.tree.Leaf(3)
		})
		expectReject(t, b, m, ErrInvalidPath)
	})
	t.Run("new identity", func(t *testing.T) {
		m := remac(t, commit, a.g, true, func(pm *PublicMessage) {
			l := &pm.Content.Commit.Path.LeafNode
			l.Credential = tree.BasicCredential([]byte("someone else"))
			if err := l.Sign(a.g.st.cs, a.g.signer, a.g.GroupID(), 1); err != nil {
				t.Fatal(err)
			}
		})
		expectReject(t, b, m, ErrInvalidPath)
	})
	t.Run("leaf signature", func(t *testing.T) {
		m := remac(t, commit, a.g, true, func(pm *PublicMessage) { flip(pm.Content.Commit.Path.LeafNode.Signature) })
		expectReject(t, b, m, ErrBadSignature)
	})

	// The genuine commit still applies everywhere.
	deliverCommit(t, cl, 1, commit)
	checkAgree(t, cl)
	expectReject(t, b, commit, ErrWrongEpoch) // replayed
}

func TestRejectInvalidProposalLists(t *testing.T) {
	cl := newTestGroup(t, 1, 4)
	a, b := cl[1], cl[2]
	own := a.g.st.tree.Leaf(1)
	remove := func(i uint32) ProposalOrRef {
		return ProposalOrRef{Proposal: &Proposal{Type: tree.ProposalRemove, Remove: &RemoveProposal{Removed: i}}}
	}
	addOf := func(c *client) ProposalOrRef {
		m, err := DecodeMLSMessage(c.bundle.Message())
		if err != nil {
			t.Fatal(err)
		}
		return ProposalOrRef{Proposal: &Proposal{Type: tree.ProposalAdd, Add: &AddProposal{KeyPackage: *m.KeyPackage}}}
	}
	nonce := make([]byte, 32)

	cases := []struct {
		name   string
		commit *Commit
		want   error
	}{
		{"update by committer", &Commit{Proposals: []ProposalOrRef{{Proposal: &Proposal{Type: tree.ProposalUpdate, Update: &UpdateProposal{LeafNode: *own}}}}}, ErrProposalNotAllowed},
		{"remove committer", &Commit{Proposals: []ProposalOrRef{remove(1)}}, ErrCommitterRemoved},
		{"remove twice", &Commit{Proposals: []ProposalOrRef{remove(3), remove(3)}}, ErrProposalNotAllowed},
		{"remove blank leaf", &Commit{Proposals: []ProposalOrRef{remove(30)}}, ErrNotMember},
		{"remove without path", &Commit{Proposals: []ProposalOrRef{remove(3)}}, ErrPathRequired},
		{"empty without path", &Commit{}, ErrPathRequired},
		{"unknown reference", &Commit{Proposals: []ProposalOrRef{{Reference: make([]byte, 32)}}}, ErrUnknownProposal},
		{"external init", &Commit{Proposals: []ProposalOrRef{{Proposal: &Proposal{Type: tree.ProposalExternalInit, ExternalInit: &ExternalInitProposal{KEMOutput: []byte{1}}}}}}, ErrProposalNotAllowed},
		{"add existing member", &Commit{Proposals: []ProposalOrRef{addOf(&client{bundle: mustKeyPackage(t, testIdentityNamed(t, "member-3"), KeyPackageOptions{})})}}, ErrDuplicateMember},
		{"add twice", func() *Commit {
			x := newClient(t, 1, "x")
			return &Commit{Proposals: []ProposalOrRef{addOf(x), addOf(x)}}
		}(), ErrDuplicateMember},
		{"add expired", &Commit{Proposals: []ProposalOrRef{addOf(&client{bundle: mustKeyPackage(t, testIdentityNamed(t, "old"),
			KeyPackageOptions{Now: time.Now().Add(-200 * 24 * time.Hour), Lifetime: 24 * time.Hour})})}}, ErrKeyPackageExpired},
		{"reinit with others", &Commit{Proposals: []ProposalOrRef{
			{Proposal: &Proposal{Type: tree.ProposalReInit, ReInit: &ReInitProposal{GroupID: []byte("g2"), Version: tree.MLS10, CipherSuite: 1}}},
			{Proposal: &Proposal{Type: tree.ProposalPSK, PreSharedKey: &PreSharedKeyProposal{PSK: schedule.PreSharedKeyID{Type: schedule.PSKExternal, ID: []byte("p"), Nonce: nonce}}}},
		}}, ErrProposalNotAllowed},
		{"psk with short nonce", &Commit{Proposals: []ProposalOrRef{
			{Proposal: &Proposal{Type: tree.ProposalPSK, PreSharedKey: &PreSharedKeyProposal{PSK: schedule.PreSharedKeyID{Type: schedule.PSKExternal, ID: []byte("p"), Nonce: nonce[:5]}}}},
		}}, ErrProposalNotAllowed},
		{"unknown psk", &Commit{Proposals: []ProposalOrRef{
			{Proposal: &Proposal{Type: tree.ProposalPSK, PreSharedKey: &PreSharedKeyProposal{PSK: schedule.PreSharedKeyID{Type: schedule.PSKExternal, ID: []byte("p"), Nonce: nonce}}}},
		}}, ErrMissingPSK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectReject(t, b, forgeCommit(t, a.g, tc.commit), tc.want)
		})
	}
	// The group still works.
	commit, err := a.g.SelfUpdate()
	if err != nil {
		t.Fatal(err)
	}
	deliverCommit(t, cl, 1, commit)
	checkAgree(t, cl)
}

func testIdentityNamed(t testing.TB, name string) Identity { return testIdentity(t, 1, name) }

func mustKeyPackage(t testing.TB, id Identity, opts KeyPackageOptions) *KeyPackageBundle {
	t.Helper()
	b, err := NewKeyPackage(id, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCommitterRefusesBadAdds(t *testing.T) {
	cl := newTestGroup(t, 1, 2)
	g := cl[0].g
	expired := mustKeyPackage(t, testIdentityNamed(t, "old"), KeyPackageOptions{Now: time.Now().Add(-3 * 24 * time.Hour), Lifetime: 24 * time.Hour})
	if _, err := ParseKeyPackage(expired.Message(), time.Now()); !errors.Is(err, ErrKeyPackageExpired) {
		t.Fatalf("ParseKeyPackage: %v", err)
	}
	before := exportOf(t, g)
	if _, _, err := g.AddMembers([][]byte{expired.Message()}); !errors.Is(err, ErrKeyPackageExpired) {
		t.Fatalf("expired: %v", err)
	}
	if _, _, err := g.AddMembers([][]byte{cl[1].bundle.Message()}); !errors.Is(err, ErrDuplicateMember) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := g.RemoveMembers([]uint32{0}); !errors.Is(err, ErrCommitterRemoved) {
		t.Fatalf("remove self: %v", err)
	}
	if _, err := g.RemoveMembers([]uint32{7}); !errors.Is(err, ErrNotMember) {
		t.Fatalf("remove blank: %v", err)
	}
	// A key package whose signature was tampered with.
	bad := bytes.Clone(newClient(t, 1, "y").bundle.Message())
	bad[len(bad)-1] ^= 1
	if _, _, err := g.AddMembers([][]byte{bad}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("bad signature: %v", err)
	}
	if _, err := ParseKeyPackage(bad, time.Now()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("ParseKeyPackage bad signature: %v", err)
	}
	if !bytes.Equal(before, exportOf(t, g)) || g.HasPendingCommit() {
		t.Fatal("failed commits changed the state")
	}
	if err := g.MergePendingCommit(); !errors.Is(err, ErrNoPendingCommit) {
		t.Fatal(err)
	}
}

func TestRejectPrivateMessages(t *testing.T) {
	cl := newTestGroup(t, 1, 3)
	a, b := cl[0], cl[1]
	genuine, err := a.g.Encrypt([]byte("genuine"), nil)
	if err != nil {
		t.Fatal(err)
	}

	// Member 2 forges a message as member 0 at the generation 0 will
	// use: every member can derive every sender's keys, only the
	// signature tells them apart. The forgery must not burn the key.
	st := cl[2].g.st
	ac := &AuthenticatedContent{
		WireFormat: WirePrivateMessage,
		Content: FramedContent{GroupID: st.ctx.GroupID, Epoch: st.ctx.Epoch, Sender: MemberSender(0),
			ContentType: ContentApplication, ApplicationData: []byte("forged")},
	}
	if err := ac.Sign(st.cs, cl[2].g.signer, st.ctxBytes); err != nil {
		t.Fatal(err)
	}
	pm, err := ProtectPrivate(st.cs, ac, st.secrets.Clone(), st.keys.SenderData, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.g.Process(NewPrivateMLSMessage(pm).Encode()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forgery: %v", err)
	}
	tampered := bytes.Clone(genuine)
	tampered[len(tampered)-3] ^= 1
	if _, err := b.g.Process(tampered); !errors.Is(err, ErrDecryptionFailed) {
		t.Fatalf("tampered: %v", err)
	}
	if p, err := b.g.Process(genuine); err != nil || string(p.Data) != "genuine" {
		t.Fatalf("genuine after forgeries: %v", err)
	}
	if _, err := b.g.Process(genuine); !errors.Is(err, ErrGenerationReused) {
		t.Fatalf("replay: %v", err)
	}

	// A generation beyond the window.
	var last []byte
	for range schedule.MaxForwardRatchet + 2 {
		if last, err = a.g.Encrypt([]byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	before := exportOf(t, b.g)
	if _, err := b.g.Process(last); !errors.Is(err, ErrGenerationTooFar) {
		t.Fatalf("too far: %v", err)
	}
	if !bytes.Equal(before, exportOf(t, b.g)) {
		t.Fatal("state changed")
	}

	// Application data in a PublicMessage is refused.
	pub := &AuthenticatedContent{WireFormat: WirePublicMessage, Content: ac.Content}
	pub.Content.Sender = MemberSender(0)
	if err := pub.Sign(st.cs, a.g.signer, st.ctxBytes); err != nil {
		t.Fatal(err)
	}
	raw := NewPublicMLSMessage(&PublicMessage{Content: pub.Content, Auth: pub.Auth, MembershipTag: make([]byte, 32)}).Encode()
	if _, err := b.g.Process(raw); !errors.Is(err, ErrWireFormat) {
		t.Fatalf("public application: %v", err)
	}
}

// rewrapWelcome re-encrypts a Welcome for joiner after mutate changed
// its GroupInfo (which signer then re-signs): a hostile committer.
func rewrapWelcome(t testing.TB, welcome []byte, joiner *client, signer *suite.SigningKey, mutate func(gi *GroupInfo)) []byte {
	t.Helper()
	m, err := DecodeMLSMessage(bytes.Clone(welcome))
	if err != nil {
		t.Fatal(err)
	}
	w := m.Welcome
	cs := joiner.bundle.cs
	e, ok := w.Find(joiner.bundle.ref)
	if !ok {
		t.Fatal("welcome not for joiner")
	}
	gs, err := w.DecryptGroupSecrets(cs, e, joiner.bundle.initKey)
	if err != nil {
		t.Fatal(err)
	}
	ws := schedule.WelcomeSecret(cs, gs.JoinerSecret, suite.Secret{})
	gi, err := w.DecryptGroupInfo(cs, ws)
	if err != nil {
		t.Fatal(err)
	}
	mutate(gi)
	if err := gi.Sign(cs, signer); err != nil {
		t.Fatal(err)
	}
	enc, err := EncryptGroupInfo(cs, ws, gi)
	if err != nil {
		t.Fatal(err)
	}
	egs, err := EncryptGroupSecrets(cs, joiner.bundle.kp, gs, enc)
	if err != nil {
		t.Fatal(err)
	}
	return NewWelcomeMLSMessage(&Welcome{CipherSuite: cs.ID(), Secrets: []EncryptedGroupSecrets{egs}, EncryptedGroupInfo: enc}).Encode()
}

// replaceLeaf returns the ratchet tree encoding tr with member i's leaf
// replaced by l (encodings are unique, so a byte replacement is exact).
func replaceLeaf(t testing.TB, tr []byte, old, l *tree.LeafNode) []byte {
	t.Helper()
	o, n := codec.Marshal(old), codec.Marshal(l)
	if bytes.Count(tr, o) != 1 {
		t.Fatal("leaf not found once in the tree")
	}
	return bytes.Replace(tr, o, n, 1)
}

func TestRejectTamperedWelcome(t *testing.T) {
	cl := newTestGroup(t, 1, 3)
	// Member 2 commits, so its leaf carries a parent hash.
	commit, err := cl[2].g.SelfUpdate()
	if err != nil {
		t.Fatal(err)
	}
	deliverCommit(t, cl, 2, commit)
	x := newClient(t, 1, "x")
	commit, welcome, err := cl[0].g.AddMembers([][]byte{x.bundle.Message()})
	if err != nil {
		t.Fatal(err)
	}
	deliverCommit(t, cl, 0, commit)
	signer := cl[0].g.signer
	cs := cl[0].g.st.cs
	gid := cl[0].g.GroupID()

	// Member 2's leaf, re-signed by member 2 but with a wrong parent hash.
	leaf2 := *cl[0].g.st.tree.Leaf(2)
	forged := leaf2
	forged.ParentHash = bytes.Repeat([]byte{7}, len(leaf2.ParentHash))
	if err := forged.Sign(cs, cl[2].g.signer, gid, 2); err != nil {
		t.Fatal(err)
	}
	withTree := func(fixHash bool) func(gi *GroupInfo) {
		return func(gi *GroupInfo) {
			data, _ := gi.Extensions.Find(tree.ExtRatchetTree)
			data = replaceLeaf(t, data, &leaf2, &forged)
			gi.Extensions = tree.Extensions{{Type: tree.ExtRatchetTree, Data: data}}
			if fixHash {
				tr, err := tree.Decode(cs, data)
				if err != nil {
					t.Fatal(err)
				}
				gi.GroupContext.TreeHash = tr.TreeHash()
			}
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(gi *GroupInfo)
		want   error
	}{
		{"tree hash", withTree(false), ErrTreeHashMismatch},
		{"parent hash", withTree(true), ErrParentHashMismatch},
		{"confirmation tag", func(gi *GroupInfo) { gi.ConfirmationTag[0] ^= 1 }, ErrBadConfirmationTag},
		{"group context", func(gi *GroupInfo) { gi.GroupContext.Epoch++ }, ErrBadConfirmationTag},
		{"signer", func(gi *GroupInfo) { gi.Signer = 9 }, ErrNotMember},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := rewrapWelcome(t, welcome, x, signer, tc.mutate)
			if _, err := JoinFromWelcome(w, []*KeyPackageBundle{x.bundle}, x.id); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("signature", func(t *testing.T) {
		other, _ := cs.GenerateSigningKey()
		w := rewrapWelcome(t, welcome, x, other, func(*GroupInfo) {})
		if _, err := JoinFromWelcome(w, []*KeyPackageBundle{x.bundle}, x.id); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("not for us", func(t *testing.T) {
		y := newClient(t, 1, "y")
		if _, err := JoinFromWelcome(welcome, []*KeyPackageBundle{y.bundle}, y.id); !errors.Is(err, ErrNoMatchingKeyPackage) {
			t.Fatalf("got %v", err)
		}
	})
	// The untampered Welcome works.
	if _, err := JoinFromWelcome(welcome, []*KeyPackageBundle{x.bundle}, x.id); err != nil {
		t.Fatal(err)
	}
}

func TestRejectTamperedGroupInfo(t *testing.T) {
	cl := newTestGroup(t, 1, 3)
	gi, err := cl[1].g.GroupInfo()
	if err != nil {
		t.Fatal(err)
	}
	d := newClient(t, 1, "d")
	bad := bytes.Clone(gi)
	bad[len(bad)-1] ^= 1
	if _, _, err := JoinExternal(bad, d.id); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("signature: %v", err)
	}
	m, _ := DecodeMLSMessage(bytes.Clone(gi))
	m.GroupInfo.GroupContext.TreeHash[0] ^= 1
	if err := m.GroupInfo.Sign(cl[1].g.st.cs, cl[1].g.signer); err != nil {
		t.Fatal(err)
	}
	if _, _, err := JoinExternal(m.Encode(), d.id); !errors.Is(err, ErrTreeHashMismatch) {
		t.Fatalf("tree hash: %v", err)
	}
	// An external commit from a stale GroupInfo is for an old epoch.
	_, commit, err := JoinExternal(gi, d.id)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := cl[0].g.SelfUpdate()
	deliverCommit(t, cl, 0, c)
	expectReject(t, cl[2], commit, ErrWrongEpoch)
}
