package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/tree"
)

func TestOutOfOrderApplicationMessages(t *testing.T) {
	cl := newTestGroup(t, 1, 3)
	var cts [][]byte
	for i := range 6 {
		ct, err := cl[0].g.Encrypt([]byte(fmt.Sprint("m", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, ct)
	}
	for _, i := range []int{5, 2, 0, 4, 1, 3} {
		p, err := cl[1].g.Process(cts[i])
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(p.Data) != fmt.Sprint("m", i) {
			t.Fatalf("message %d decrypted to %q", i, p.Data)
		}
	}
	// Each is accepted once.
	for i := range cts {
		if _, err := cl[1].g.Process(cts[i]); !errors.Is(err, ErrGenerationReused) {
			t.Fatalf("replay of %d: %v", i, err)
		}
	}
	// Member 2 reads them in order, interleaved with its own sends.
	for i := range cts {
		if _, err := cl[2].g.Process(cts[i]); err != nil {
			t.Fatal(err)
		}
		sendMessage(t, cl, 2, "ack")
	}
}

func TestConcurrentCommits(t *testing.T) {
	cl := newTestGroup(t, 1, 4)
	x := newClient(t, 1, "x")
	// Members 1 and 2 commit in the same epoch; the delivery service
	// takes 1's.
	c1, err := cl[1].g.SelfUpdate()
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = cl[2].g.AddMembers([][]byte{x.bundle.Message()})
	if err != nil {
		t.Fatal(err)
	}
	// 2 cannot process 1's commit while its own is pending.
	if _, err := cl[2].g.Process(c1); !errors.Is(err, ErrPendingCommit) {
		t.Fatalf("commit while pending: %v", err)
	}
	// Nor start another commit.
	if _, err := cl[2].g.SelfUpdate(); !errors.Is(err, ErrPendingCommit) {
		t.Fatalf("second commit: %v", err)
	}
	cl[2].g.DiscardPendingCommit()
	deliverCommit(t, cl, 1, c1)
	checkAgree(t, cl)
	// 2 re-applies its change on the new epoch.
	c2, welcome, err := cl[2].g.AddMembers([][]byte{x.bundle.Message()})
	if err != nil {
		t.Fatal(err)
	}
	deliverCommit(t, cl, 2, c2)
	x.g, err = JoinFromWelcome(welcome, []*KeyPackageBundle{x.bundle}, x.id)
	if err != nil {
		t.Fatal(err)
	}
	cl = append(cl, x)
	checkAgree(t, cl)
	sendMessage(t, cl, 4, "x here")
}

func TestExternalJoin(t *testing.T) {
	cl := newTestGroup(t, 1, 3)
	gi, err := cl[1].g.GroupInfo()
	if err != nil {
		t.Fatal(err)
	}
	d := newClient(t, 1, "d")
	var commit []byte
	d.g, commit, err = JoinExternal(gi, d.id)
	if err != nil {
		t.Fatal(err)
	}
	if d.g.Active() {
		t.Fatal("active before the external commit is merged")
	}
	cl = append(cl, d)
	deliverCommit(t, cl, 3, commit)
	checkAgree(t, cl)
	sendMessage(t, cl, 3, "joined by myself")
	sendMessage(t, cl, 0, "hello d")

	// Member 2 loses its state and rejoins externally with the same
	// identity: the external commit removes its old leaf.
	gi, err = cl[0].g.GroupInfo()
	if err != nil {
		t.Fatal(err)
	}
	old := cl[2].g.OwnLeaf()
	re, commit, err := JoinExternal(gi, cl[2].id)
	if err != nil {
		t.Fatal(err)
	}
	cl[2].g = nil
	if err := re.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	for i, c := range cl {
		if i == 2 {
			continue
		}
		p, err := c.g.Process(commit)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Removed) != 1 || p.Removed[0].Leaf != old || string(p.Sender.Credential) != "member-2" {
			t.Fatalf("resync reported as %+v", p)
		}
	}
	cl[2].g = re
	checkAgree(t, cl)
	sendMessage(t, cl, 2, "back again")
}

func TestExportImport(t *testing.T) {
	cl := newTestGroup(t, 1, 3)
	sendMessage(t, cl, 0, "before")
	ct, err := cl[0].g.Encrypt([]byte("in flight"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cl {
		state, err := c.g.Export()
		if err != nil {
			t.Fatal(err)
		}
		g, err := Import(state)
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		again, _ := g.Export()
		if !bytes.Equal(state, again) {
			t.Fatalf("member %d: export of the import differs", i)
		}
		c.g = g
	}
	if p, err := cl[1].g.Process(ct); err != nil || string(p.Data) != "in flight" {
		t.Fatalf("message across import: %v", err)
	}
	sendMessage(t, cl, 0, "after")
	sendMessage(t, cl, 2, "after too")

	// A pending commit survives export and import.
	commit, err := cl[1].g.RemoveMembers([]uint32{2})
	if err != nil {
		t.Fatal(err)
	}
	state, err := cl[1].g.Export()
	if err != nil {
		t.Fatal(err)
	}
	cl[1].g, err = Import(state)
	if err != nil {
		t.Fatal(err)
	}
	deliverCommit(t, cl, 1, commit)
	checkAgree(t, cl)
	if cl[2].g.Active() {
		t.Fatal("removed member active")
	}
	sendMessage(t, cl, 1, "two of us")

	// Corruption is detected.
	state, _ = cl[0].g.Export()
	for _, cut := range []int{1, len(state) / 2, len(state) - 1} {
		if _, err := Import(state[:cut]); err == nil {
			t.Fatalf("truncated state (%d) imported", cut)
		}
	}
	bad := bytes.Clone(state)
	bad[0] = 99
	if _, err := Import(bad); !errors.Is(err, ErrStateVersion) {
		t.Fatalf("version: %v", err)
	}
}

func TestExporterAndAuthenticator(t *testing.T) {
	cl := newTestGroup(t, 1, 2)
	a, err := cl[0].g.ExportSecret("parley test", []byte("ctx"), 32)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cl[1].g.ExportSecret("parley test", []byte("ctx"), 32)
	if err != nil || !a.Equal(b) || a.Len() != 32 {
		t.Fatalf("exporter differs: %v", err)
	}
	if fmt.Sprint(a) != "[redacted]" {
		t.Fatal("secret printed")
	}
	before := cl[0].g.EpochAuthenticator()
	commit, _ := cl[0].g.SelfUpdate()
	deliverCommit(t, cl, 0, commit)
	if before.Equal(cl[0].g.EpochAuthenticator()) {
		t.Fatal("epoch authenticator did not change")
	}
}

func TestKeyPackageBundleRoundTrip(t *testing.T) {
	c := newClient(t, 1, "kp")
	b, err := UnmarshalKeyPackageBundle(c.bundle.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Ref(), c.bundle.Ref()) || !bytes.Equal(b.Message(), c.bundle.Message()) {
		t.Fatal("bundle changed")
	}
	kp, err := ParseKeyPackage(b.Message(), timeNow())
	if err != nil {
		t.Fatal(err)
	}
	if string(kp.Credential()) != "kp" || !bytes.Equal(kp.SignatureKey(), c.id.SigningKey.Public()) {
		t.Fatal("key package fields")
	}
	lr, err := NewKeyPackage(c.id, KeyPackageOptions{LastResort: true})
	if err != nil || !lr.LastResort() || c.bundle.LastResort() {
		t.Fatal("last resort flag")
	}
	if _, err := ParseKeyPackage(lr.Message(), timeNow()); err != nil {
		t.Fatal(err)
	}
}

func TestLateMessageFromPastEpoch(t *testing.T) {
	cl := newTestGroup(t, 1, 3)
	late, err := cl[0].g.Encrypt([]byte("sent before the commit"), nil)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := cl[1].g.SelfUpdate()
	if err != nil {
		t.Fatal(err)
	}
	deliverCommit(t, cl, 1, commit)
	p, err := cl[2].g.Process(late)
	if err != nil || string(p.Data) != "sent before the commit" || p.Epoch != 1 || p.Sender.Leaf != 0 {
		t.Fatalf("late message: %v %+v", err, p)
	}
	if _, err := cl[2].g.Process(late); !errors.Is(err, ErrGenerationReused) {
		t.Fatalf("replay of a late message: %v", err)
	}
	// Beyond MaxPastEpochs the old keys are gone.
	late, _ = cl[0].g.Encrypt([]byte("too late"), nil)
	for range MaxPastEpochs + 1 {
		commit, _ := cl[1].g.SelfUpdate()
		deliverCommit(t, cl, 1, commit)
	}
	if _, err := cl[2].g.Process(late); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("message %d epochs late: %v", MaxPastEpochs+1, err)
	}
	if cl[2].g.Epoch() != 5 {
		t.Fatal(cl[2].g.Epoch())
	}
	// Handshake messages of a past epoch are refused.
	if _, err := cl[2].g.Process(commit); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("old commit: %v", err)
	}
}

func TestLeave(t *testing.T) {
	cl := newTestGroup(t, 1, 3)
	prop, err := cl[2].g.ProposeLeave()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cl[:2] {
		p, err := c.g.Process(prop)
		if err != nil || p.Kind != KindProposal {
			t.Fatalf("proposal: %v", err)
		}
		if c.g.PendingProposals() != 1 {
			t.Fatal("proposal not cached")
		}
	}
	// Member 1 commits; the cached Remove comes along by reference.
	commit, err := cl[1].g.SelfUpdate()
	if err != nil {
		t.Fatal(err)
	}
	if err := cl[1].g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2} {
		p, err := cl[i].g.Process(commit)
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		if len(p.Removed) != 1 || p.Removed[0].Leaf != 2 {
			t.Fatalf("removed %+v", p.Removed)
		}
	}
	if cl[2].g.Active() || !cl[0].g.Active() || len(cl[0].g.Members()) != 2 {
		t.Fatal("leave not applied")
	}
	checkAgree(t, cl)
	sendMessage(t, cl, 0, "two left")
}

// TestExternalSenderProposal: a group whose context names an external
// sender (say, the server) accepts its Remove proposal, rejects other
// types from it and signatures by anyone else.
func TestExternalSenderProposal(t *testing.T) {
	server := testIdentity(t, 1, "server")
	cl := []*client{newClient(t, 1, "member-0"), newClient(t, 1, "member-1"), newClient(t, 1, "member-2")}
	g, err := CreateGroupWith([]byte("with server"), cl[0].id, GroupOptions{Extensions: tree.Extensions{
		tree.ExternalSendersExtension([]tree.ExternalSender{
			{SignatureKey: server.SigningKey.Public(), Credential: tree.BasicCredential([]byte("server"))},
		}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	cl[0].g = g
	_, welcome, err := g.AddMembers([][]byte{cl[1].bundle.Message(), cl[2].bundle.Message()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cl[1:] {
		if c.g, err = JoinFromWelcome(welcome, []*KeyPackageBundle{c.bundle}, c.id); err != nil {
			t.Fatal(err)
		}
	}
	external := func(signer Identity, p *Proposal) []byte {
		st := cl[0].g.st
		ac := &AuthenticatedContent{WireFormat: WirePublicMessage, Content: FramedContent{
			GroupID: st.ctx.GroupID, Epoch: st.ctx.Epoch, Sender: Sender{Type: SenderExternal, Index: 0},
			ContentType: ContentProposal, Proposal: p,
		}}
		if err := ac.Sign(st.cs, signer.SigningKey, nil); err != nil {
			t.Fatal(err)
		}
		return NewPublicMLSMessage(&PublicMessage{Content: ac.Content, Auth: ac.Auth}).Encode()
	}
	remove := &Proposal{Type: tree.ProposalRemove, Remove: &RemoveProposal{Removed: 2}}
	if _, err := cl[1].g.Process(external(cl[1].id, remove)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged external proposal: %v", err)
	}
	update := &Proposal{Type: tree.ProposalUpdate, Update: &UpdateProposal{LeafNode: *cl[0].g.st.tree.Leaf(0)}}
	if _, err := cl[1].g.Process(external(server, update)); !errors.Is(err, ErrProposalNotAllowed) {
		t.Fatalf("external Update: %v", err)
	}
	prop := external(server, remove)
	for _, c := range cl {
		if _, err := c.g.Process(prop); err != nil {
			t.Fatal(err)
		}
	}
	commit, err := cl[0].g.SelfUpdate()
	if err != nil {
		t.Fatal(err)
	}
	deliverCommit(t, cl, 0, commit)
	if cl[2].g.Active() || len(cl[1].g.Members()) != 2 {
		t.Fatal("external Remove not applied")
	}
	checkAgree(t, cl)
}

// reimport replaces c's group with Import(Export()), as a client that
// loads its state per message does.
func reimport(t *testing.T, c *client) {
	t.Helper()
	state, err := c.g.Export()
	if err != nil {
		t.Fatal(err)
	}
	if c.g, err = Import(state); err != nil {
		t.Fatal(err)
	}
}

// TestLateMessageAcrossImport: the past epochs a group keeps to read late
// application messages survive Export and Import (review finding Medium
// 5): a message encrypted just before a commit, delivered after it, is
// read by a member that re-imports its state between every step; a replay
// after another import is still refused; and past MaxPastEpochs it is not
// readable.
func TestLateMessageAcrossImport(t *testing.T) {
	cl := newTestGroup(t, 1, 3)
	late, err := cl[0].g.Encrypt([]byte("sent before the commit"), nil)
	if err != nil {
		t.Fatal(err)
	}
	later, err := cl[0].g.Encrypt([]byte("also sent before"), nil)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := cl[1].g.SelfUpdate()
	if err != nil {
		t.Fatal(err)
	}
	deliverCommit(t, cl, 1, commit)
	reimport(t, cl[2])
	p, err := cl[2].g.Process(late)
	if err != nil || string(p.Data) != "sent before the commit" || p.Epoch != 1 || p.Sender.Leaf != 0 ||
		!bytes.Equal(p.Sender.Credential, cl[0].id.Credential) {
		t.Fatalf("late message after import: %v %+v", err, p)
	}
	reimport(t, cl[2])
	if _, err := cl[2].g.Process(late); !errors.Is(err, ErrGenerationReused) {
		t.Fatalf("replay of a late message after import: %v, want ErrGenerationReused", err)
	}
	// The state stays bounded: MaxPastEpochs more commits push epoch 1
	// out, of the export too.
	for range MaxPastEpochs {
		commit, _ := cl[1].g.SelfUpdate()
		deliverCommit(t, cl, 1, commit)
		reimport(t, cl[2])
	}
	if _, err := cl[2].g.Process(later); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("message %d epochs late after import: %v, want ErrWrongEpoch", MaxPastEpochs+1, err)
	}
	if n := len(cl[2].g.past); n != MaxPastEpochs {
		t.Fatalf("%d past epochs kept, want %d", n, MaxPastEpochs)
	}
	// The current epoch still works after all this.
	sendMessage(t, cl, 2, "current")
}

// TestImportVersion1: a state exported before past epochs were kept
// (version 1: the same layout without the trailing vector) still imports.
func TestImportVersion1(t *testing.T) {
	cl := newTestGroup(t, 1, 2)
	commit, _ := cl[1].g.SelfUpdate()
	deliverCommit(t, cl, 1, commit)
	state, err := cl[0].g.Export()
	if err != nil {
		t.Fatal(err)
	}
	// Version 2 appends the past epochs as one vector: drop it.
	w := codec.NewWriter(0)
	cl[0].g.marshalPast(w)
	v1 := bytes.Clone(state[:len(state)-len(w.Bytes())])
	v1[0] = stateVersionNoPast
	g, err := Import(v1)
	if err != nil {
		t.Fatalf("Import(version 1): %v", err)
	}
	if g.Epoch() != cl[0].g.Epoch() || len(g.past) != 0 {
		t.Fatalf("imported epoch %d with %d past epochs", g.Epoch(), len(g.past))
	}
	cl[0].g = g
	sendMessage(t, cl, 1, "after a version-1 import")
}
