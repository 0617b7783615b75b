package mls

import (
	"fmt"
	"math/bits"
	"testing"

	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// The group benchmarks (docs/BENCHMARKS.md) run on suite 1 at N members:
//
//   - AddAll: CreateGroup, then one commit adding N-1 members (key
//     packages made beforehand) with its Welcome, and the merge.
//   - SelfUpdateCommit: a member creates an empty commit with a fresh path.
//   - ProcessCommit: another member processes that commit.
//   - JoinWelcome: a new member joins an N-member group from its Welcome,
//     validating the whole tree.
//   - AppMessage1KB: one member encrypts 1 KiB, another decrypts it.
//
// All but AddAll use a group in steady state: after the adds, members
// commit until every parent node of the tree holds a key, as in a group
// that has lived for a while. Right after a mass add the parents are blank
// and a commit must encrypt to every leaf of its copath separately, which
// is a cost of the first commits only.

// benchFixture is a populated group shared by the sub-benchmarks of one N.
type benchFixture struct {
	a, b      *client // a (leaf 0) commits and sends; b (last leaf) receives
	commit    []byte  // a SelfUpdate commit of a, for ProcessCommit
	welcome   []byte  // the Welcome adding x to the N-1 others
	x         *client
	addAllKPs [][]byte
}

var benchFixtures = map[int]*benchFixture{}

func benchSetup(b *testing.B, n int) *benchFixture {
	if f, ok := benchFixtures[n]; ok {
		return f
	}
	b.Helper()
	cl := make([]*client, n-1)
	for i := range cl {
		cl[i] = newClient(b, 1, fmt.Sprintf("member-%d", i))
	}
	f := &benchFixture{x: newClient(b, 1, "x")}
	for _, c := range cl[1:] {
		f.addAllKPs = append(f.addAllKPs, c.bundle.Message())
	}
	// Members 0..n-2: created by 0, who adds the others.
	g, err := CreateGroup([]byte("bench"), cl[0].id)
	if err != nil {
		b.Fatal(err)
	}
	cl[0].g = g
	_, welcome, err := g.AddMembers(f.addAllKPs)
	if err != nil {
		b.Fatal(err)
	}
	if err := g.MergePendingCommit(); err != nil {
		b.Fatal(err)
	}
	last := cl[len(cl)-1]
	if last.g, err = JoinFromWelcome(welcome, []*KeyPackageBundle{last.bundle}, last.id); err != nil {
		b.Fatal(err)
	}
	fillTree(b, cl, []*client{cl[0], last})

	// x joins, making n members; its Welcome is JoinWelcome's input.
	commit, welcome, err := g.AddMembers([][]byte{f.x.bundle.Message()})
	if err != nil {
		b.Fatal(err)
	}
	if err := g.MergePendingCommit(); err != nil {
		b.Fatal(err)
	}
	if _, err := last.g.Process(commit); err != nil {
		b.Fatal(err)
	}
	f.welcome = welcome
	f.a, f.b = cl[0], last
	if f.commit, err = f.a.g.SelfUpdate(); err != nil {
		b.Fatal(err)
	}
	f.a.g.DiscardPendingCommit()
	benchFixtures[n] = f
	return f
}

// fillTree has members commit empty commits until every parent node of
// the tree is set, as happens over a group's life. Committers act through
// a copy of the first observer's state carrying their own keys (only
// committing, never decrypting); the observers process every commit. The
// odd leaves commit in bit-reversed order, so that each commit lands in
// the largest subtree still blank and the total encryption work stays
// O(n log n).
func fillTree(b *testing.B, cl []*client, observers []*client) {
	b.Helper()
	half := len(cl) / 2
	width := bits.Len(uint(half - 1))
	for k := range half {
		leaf := 2*int(bits.Reverse32(uint32(k))>>(32-width)) + 1
		if width == 0 {
			leaf = 1
		}
		if leaf >= len(cl) || leaf == int(observers[1].g.OwnLeaf()) {
			continue
		}
		c := cl[leaf]
		st := *observers[0].g.st
		st.own = tree.LeafIndex(leaf)
		st.priv = tree.NewPrivateState(st.own, c.bundle.encKey)
		st.proposals = nil
		committer := &Group{st: &st, signer: c.id.SigningKey, active: true, psks: map[string]suite.Secret{}}
		commit, err := committer.SelfUpdate()
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range observers {
			if _, err := o.g.Process(commit); err != nil {
				b.Fatalf("leaf %d's commit: %v", leaf, err)
			}
		}
	}
}

func BenchmarkGroup(b *testing.B) {
	for _, n := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			f := benchSetup(b, n)
			creator := testIdentity(b, 1, "creator")
			kps := append([][]byte{f.x.bundle.Message()}, f.addAllKPs...) // n-1 others
			b.Run("AddAll", func(b *testing.B) {
				for b.Loop() {
					g, err := CreateGroup([]byte("bench"), creator)
					if err != nil {
						b.Fatal(err)
					}
					if _, _, err := g.AddMembers(kps); err != nil {
						b.Fatal(err)
					}
					if err := g.MergePendingCommit(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("SelfUpdateCommit", func(b *testing.B) {
				for b.Loop() {
					if _, err := f.a.g.SelfUpdate(); err != nil {
						b.Fatal(err)
					}
					f.a.g.DiscardPendingCommit()
				}
			})
			b.Run("ProcessCommit", func(b *testing.B) {
				for b.Loop() {
					g := *f.b.g // processing replaces the copy's epoch only
					if _, err := g.Process(f.commit); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("JoinWelcome", func(b *testing.B) {
				for b.Loop() {
					if _, err := JoinFromWelcome(f.welcome, []*KeyPackageBundle{f.x.bundle}, f.x.id); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("AppMessage1KB", func(b *testing.B) {
				msg := make([]byte, 1024)
				b.SetBytes(int64(len(msg)))
				for b.Loop() {
					ct, err := f.a.g.Encrypt(msg, nil)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := f.b.g.Process(ct); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
