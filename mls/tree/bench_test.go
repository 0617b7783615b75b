package tree

import (
	"fmt"
	"testing"

	"github.com/parleyhq/parley/mls/treemath"
)

// benchMembers is the group size of the project's performance targets.
const benchMembers = 1024

// bigGroup returns a group of n members created by one commit of the
// creator adding everyone, as in AddAll, without the per-member
// processing testGroup.commit does.
func bigGroup(b *testing.B, n int) (*testGroup, []member) {
	g := newTestGroup(b, testSuite(b))
	ms := make([]member, n-1)
	for k := range ms {
		ms[k] = newMember(b, g.cs, fmt.Sprint(k))
	}
	var added []LeafIndex
	for k := range ms {
		i, err := g.tree.AddLeaf(ms[k].leaf)
		if err != nil {
			b.Fatal(err)
		}
		added = append(added, i)
		g.sigs[i] = ms[k].sig
		g.privs[i] = NewPrivateState(i, ms[k].enc)
	}
	pp, err := g.tree.GeneratePath(0, g.tree.Leaf(0), g.sigs[0], g.groupID)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pp.Encrypt(g.context(g.tree), added); err != nil {
		b.Fatal(err)
	}
	g.privs[0] = pp.PrivateState()
	for _, i := range added {
		s, _ := pp.PathSecretFor(i)
		if _, err := g.privs[i].ImportPathSecret(g.tree, treemath.CommonAncestor(0, i.Node()), s); err != nil {
			b.Fatal(err)
		}
	}
	return g, ms
}

// BenchmarkAddAll is the tree part of adding 1023 members in one commit:
// adds, path generation, hashing, encryption (to nobody: all are new).
func BenchmarkAddAll(b *testing.B) {
	cs := testSuite(b)
	creator := newMember(b, cs, "c")
	ms := make([]member, benchMembers-1)
	for k := range ms {
		ms[k] = newMember(b, cs, fmt.Sprint(k))
	}
	for b.Loop() {
		tr := New(cs, creator.leaf)
		added := make([]LeafIndex, 0, len(ms))
		for k := range ms {
			i, _ := tr.AddLeaf(ms[k].leaf)
			added = append(added, i)
		}
		pp, err := tr.GeneratePath(0, creator.leaf, creator.sig, []byte("g"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pp.Encrypt(tr.TreeHash(), added); err != nil {
			b.Fatal(err)
		}
		tr.Encode()
	}
}

// BenchmarkCommitPath measures one member's empty commit in the big group
// (generate, hash, encrypt) and one receiver processing it (merge,
// hash, decrypt), right after AddAll (the worst case: the committer's
// copath is all blank, so it encrypts to every leaf) and once every
// member has committed once (the steady state).
func BenchmarkCommitPath(b *testing.B) {
	g, _ := bigGroup(b, benchMembers)
	run := func(b *testing.B, g *testGroup, sender, receiver LeafIndex) {
		var (
			up  *UpdatePath
			ctx []byte
		)
		b.Run("create", func(b *testing.B) {
			for b.Loop() {
				tr := g.tree.Clone()
				pp, err := tr.GeneratePath(sender, tr.Leaf(sender), g.sigs[sender], g.groupID)
				if err != nil {
					b.Fatal(err)
				}
				ctx = g.context(tr)
				if up, err = pp.Encrypt(ctx, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("process", func(b *testing.B) {
			for b.Loop() {
				tr := g.tree.Clone()
				if err := tr.MergeUpdatePath(sender, up, nil); err != nil {
					b.Fatal(err)
				}
				if _, err := tr.DecryptPath(g.privs[receiver], sender, up, g.context(tr), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("after-add-all", func(b *testing.B) { run(b, g, 700, 3) })
	b.Run("steady", func(b *testing.B) {
		// Commits from every 64th member populate the upper tree; the
		// lower levels need each member's own commit.
		for i := LeafIndex(0); i < benchMembers; i += 2 {
			g.commitQuiet(b, i)
		}
		run(b, g, 700, 3)
	})
}

// commitQuiet has sender commit an empty path and updates the private
// states of the members that need it, without the checks of commit.
func (g *testGroup) commitQuiet(b *testing.B, sender LeafIndex) {
	pp, err := g.tree.GeneratePath(sender, g.tree.Leaf(sender), g.sigs[sender], g.groupID)
	if err != nil {
		b.Fatal(err)
	}
	g.privs[sender] = pp.PrivateState()
	for i, priv := range g.privs {
		if i == sender {
			continue
		}
		priv.Prune(g.tree)
		s, err := pp.PathSecretFor(i)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := priv.ImportPathSecret(g.tree, treemath.CommonAncestor(sender.Node(), i.Node()), s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJoin is the tree part of joining a 1024-member group: decode
// the ratchet_tree, validate it, hash it; and the parts alone.
func BenchmarkJoin(b *testing.B) {
	g, _ := bigGroup(b, benchMembers)
	enc := g.tree.Encode()
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			tr, err := Decode(g.cs, enc)
			if err != nil {
				b.Fatal(err)
			}
			if err := tr.Validate(&ValidateOptions{GroupID: g.groupID}); err != nil {
				b.Fatal(err)
			}
			tr.TreeHash()
		}
	})
	b.Run("decode+hash", func(b *testing.B) {
		for b.Loop() {
			tr, _ := Decode(g.cs, enc)
			tr.TreeHash()
		}
	})
	b.Run("parent-hashes", func(b *testing.B) {
		tr, _ := Decode(g.cs, enc)
		for b.Loop() {
			if err := tr.VerifyParentHashes(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("structure", func(b *testing.B) {
		tr, _ := Decode(g.cs, enc)
		for b.Loop() {
			if err := tr.checkUnmergedLeaves(); err != nil {
				b.Fatal(err)
			}
			if err := tr.checkUniqueEncryptionKeys(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
