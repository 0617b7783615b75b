package tree

import (
	"bytes"
	"errors"
	"testing"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
)

// TestGroupLifecycle runs adds, removes, truncation and commits by
// different members, with every member processing every commit.
func TestGroupLifecycle(t *testing.T) {
	g := newTestGroup(t, testSuite(t))
	g.commit(t, 0, 4) // 5 members, 8 leaves
	if got := g.tree.LeafCount(); got != 8 {
		t.Fatalf("leaf count %d, want 8", got)
	}
	g.commit(t, 3, 0)
	g.commit(t, 1, 2, 2)    // remove 2, refill it, and extend with leaf 5
	g.commit(t, 5, 0, 0, 4) // committer on the right; removes the creator
	g.commit(t, 2, 3)
	g.commit(t, 1, 0, 4, 5, 6)
	g.commit(t, 2, 0)
	if got := g.tree.LeafCount(); got != 4 {
		t.Fatalf("after truncation: leaf count %d, want 4", got)
	}
	if err := g.tree.Validate(&ValidateOptions{GroupID: g.groupID}); err != nil {
		t.Fatal(err)
	}
	// Decode what a Welcome would carry and check it agrees.
	again, err := Decode(g.cs, g.tree.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.TreeHash(), g.tree.TreeHash()) {
		t.Fatal("decoded tree hash differs")
	}
	if err := again.Validate(&ValidateOptions{GroupID: g.groupID}); err != nil {
		t.Fatal(err)
	}
}

// pathFixture is a group of 6 with one pending commit from leaf 1.
func pathFixture(t *testing.T) (g *testGroup, proposed *Tree, up *UpdatePath, ctx []byte) {
	g = newTestGroup(t, testSuite(t))
	g.commit(t, 0, 5)
	proposed = g.tree.Clone()
	staged := g.tree.Clone()
	pp, err := staged.GeneratePath(1, staged.Leaf(1), g.sigs[1], g.groupID)
	if err != nil {
		t.Fatal(err)
	}
	ctx = g.context(staged)
	up, err = pp.Encrypt(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return g, proposed, up, ctx
}

// reencode round-trips p so that tests can alter a private copy.
func reencode(t *testing.T, p *UpdatePath) *UpdatePath {
	var q UpdatePath
	if err := codec.Unmarshal(codec.Marshal(p), &q); err != nil {
		t.Fatal(err)
	}
	return &q
}

func TestMergeRejects(t *testing.T) {
	g, proposed, up, _ := pathFixture(t)
	other, err := g.cs.GenerateHPKEKey()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func(p *UpdatePath)
		want   error
	}{
		{"swapped node key", func(p *UpdatePath) { p.Nodes[0].EncryptionKey = other.Public() }, ErrParentHash},
		{"missing node", func(p *UpdatePath) { p.Nodes = p.Nodes[:len(p.Nodes)-1] }, ErrPathLength},
		{"extra ciphertext", func(p *UpdatePath) {
			p.Nodes[1].EncryptedPathSecret = append(p.Nodes[1].EncryptedPathSecret, p.Nodes[1].EncryptedPathSecret[0])
		}, ErrPathLength},
		{"reused key", func(p *UpdatePath) { p.Nodes[0].EncryptionKey = proposed.EncryptionKey(0) }, ErrDuplicateKey},
		{"wrong source", func(p *UpdatePath) { p.LeafNode.Source = SourceUpdate }, ErrInvalidLeafNodeSource},
		{"wrong parent hash", func(p *UpdatePath) { p.LeafNode.ParentHash = []byte("x") }, ErrParentHash},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := reencode(t, up)
			c.change(p)
			if err := proposed.Clone().MergeUpdatePath(1, p, nil); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if err := proposed.Clone().MergeUpdatePath(3, up, nil); err == nil {
		t.Error("path merged as another sender's")
	}
}

func TestDecryptRejects(t *testing.T) {
	g, proposed, up, ctx := pathFixture(t)
	merged := proposed.Clone()
	if err := merged.MergeUpdatePath(1, up, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := merged.DecryptPath(g.privs[0], 1, up, append(ctx, 0), nil); err == nil {
		t.Error("decrypted under the wrong group context")
	}
	if _, err := merged.DecryptPath(g.privs[1], 1, up, ctx, nil); err == nil {
		t.Error("the committer decrypted its own path")
	}
	// A path secret that decrypts but does not yield the path's keys.
	kem, ct, err := g.cs.EncryptWithLabel(merged.EncryptionKey(0), updatePathLabel, ctx, make([]byte, g.cs.HashSize()))
	if err != nil {
		t.Fatal(err)
	}
	bad := reencode(t, up)
	bad.Nodes[0].EncryptedPathSecret[0] = HPKECiphertext{KEMOutput: kem, Ciphertext: ct}
	if _, err := merged.DecryptPath(g.privs[0], 1, bad, ctx, nil); !errors.Is(err, ErrPublicKeyMismatch) {
		t.Errorf("forged path secret: got %v", err)
	}
	// A member whose keys are gone cannot decrypt.
	stranger := NewPrivateState(0, mustHPKEKey(t, g))
	if _, err := merged.DecryptPath(stranger, 1, up, ctx, nil); !errors.Is(err, ErrNoDecryptionKey) {
		t.Errorf("stranger: got %v", err)
	}
}

func mustHPKEKey(t *testing.T, g *testGroup) *suite.HPKEKey {
	k, err := g.cs.GenerateHPKEKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestExternalCommit has a non-member join by adding its own leaf and
// sending a path, as an external commit does.
func TestExternalCommit(t *testing.T) {
	g := newTestGroup(t, testSuite(t))
	g.commit(t, 0, 3)
	g.commit(t, 2, 0, 1)
	before := g.tree.Clone()

	joiner := newMember(t, g.cs, "external")
	mine := before.Clone()
	if err := mine.CheckLeafCompat(joiner.leaf, nil); err != nil {
		t.Fatal(err)
	}
	i, err := mine.AddLeaf(joiner.leaf)
	if err != nil {
		t.Fatal(err)
	}
	if i != 1 {
		t.Fatalf("joined at leaf %d, want the blank leaf 1", i)
	}
	pp, err := mine.GeneratePath(i, joiner.leaf, joiner.sig, g.groupID)
	if err != nil {
		t.Fatal(err)
	}
	ctx := g.context(mine)
	up, err := pp.Encrypt(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	up = reencode(t, up)
	for m, priv := range g.privs {
		theirs := before.Clone()
		if err := theirs.CheckLeafCompat(&up.LeafNode, nil); err != nil {
			t.Fatal(err)
		}
		j, err := theirs.AddLeaf(&up.LeafNode)
		if err != nil || j != i {
			t.Fatalf("member %d placed the joiner at %d: %v", m, j, err)
		}
		if err := theirs.MergeUpdatePath(j, up, nil); err != nil {
			t.Fatalf("member %d merges: %v", m, err)
		}
		d, err := theirs.DecryptPath(priv, j, up, ctx, nil)
		if err != nil {
			t.Fatalf("member %d decrypts: %v", m, err)
		}
		if !d.CommitSecret.Equal(pp.CommitSecret()) {
			t.Fatalf("member %d: commit secret differs", m)
		}
	}
	if err := mine.Validate(&ValidateOptions{GroupID: g.groupID}); err != nil {
		t.Fatal(err)
	}
}
