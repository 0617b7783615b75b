package tree

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/treemath"
)

// testSuite is the suite the unit tests run on; the conformance vectors
// cover every suite.
func testSuite(t testing.TB) *suite.Suite {
	t.Helper()
	cs, err := suite.Get(suite.MLS128DHKEMX25519AES128GCMSHA256Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// member is a client with its key package leaf and private keys.
type member struct {
	leaf *LeafNode
	sig  *suite.SigningKey
	enc  *suite.HPKEKey
}

func newMember(t testing.TB, cs *suite.Suite, name string) member {
	t.Helper()
	sig, err := cs.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := cs.GenerateHPKEKey()
	if err != nil {
		t.Fatal(err)
	}
	l := &LeafNode{
		EncryptionKey: enc.Public(),
		SignatureKey:  sig.Public(),
		Credential:    BasicCredential([]byte(name)),
		Capabilities: Capabilities{
			Versions:     []ProtocolVersion{MLS10},
			CipherSuites: []suite.ID{cs.ID()},
			Credentials:  []CredentialType{CredentialBasic},
		},
		Source:   SourceKeyPackage,
		Lifetime: Lifetime{NotBefore: 0, NotAfter: math.MaxUint64},
	}
	if err := l.Sign(cs, sig, nil, 0); err != nil {
		t.Fatal(err)
	}
	return member{leaf: l, sig: sig, enc: enc}
}

// testGroup drives TreeKEM the way the group layer will: every member
// keeps its own private state, and every commit is processed by all.
type testGroup struct {
	cs      *suite.Suite
	groupID []byte
	epoch   uint64
	tree    *Tree
	privs   map[LeafIndex]*PrivateState
	sigs    map[LeafIndex]*suite.SigningKey
	names   int
}

func newTestGroup(t testing.TB, cs *suite.Suite) *testGroup {
	m := newMember(t, cs, "m0")
	return &testGroup{
		cs:      cs,
		groupID: []byte("group"),
		tree:    New(cs, m.leaf),
		privs:   map[LeafIndex]*PrivateState{0: NewPrivateState(0, m.enc)},
		sigs:    map[LeafIndex]*suite.SigningKey{0: m.sig},
		names:   1,
	}
}

// context stands in for the encoded GroupContext: anything that binds
// the tree hash and epoch will do for TreeKEM.
func (g *testGroup) context(tr *Tree) []byte {
	return binary.BigEndian.AppendUint64(slices.Clone(tr.TreeHash()), g.epoch+1)
}

// commit has sender remove and add members and send an UpdatePath, which
// every other member processes; it checks they all agree.
func (g *testGroup) commit(t testing.TB, sender LeafIndex, adds int, removes ...LeafIndex) {
	t.Helper()
	staged := g.tree.Clone()
	for _, r := range removes {
		if err := staged.RemoveLeaf(r); err != nil {
			t.Fatal(err)
		}
	}
	var added []LeafIndex
	newcomers := map[LeafIndex]member{}
	for range adds {
		m := newMember(t, g.cs, fmt.Sprintf("m%d", g.names))
		g.names++
		i, err := staged.AddLeaf(m.leaf)
		if err != nil {
			t.Fatal(err)
		}
		added = append(added, i)
		newcomers[i] = m
	}
	proposed := staged.Clone() // what receivers start from

	pp, err := staged.GeneratePath(sender, staged.Leaf(sender), g.sigs[sender], g.groupID)
	if err != nil {
		t.Fatal(err)
	}
	ctx := g.context(staged)
	up, err := pp.Encrypt(ctx, added)
	if err != nil {
		t.Fatal(err)
	}
	if err := staged.Validate(&ValidateOptions{GroupID: g.groupID}); err != nil {
		t.Fatalf("committer's tree: %v", err)
	}

	privs := map[LeafIndex]*PrivateState{sender: pp.PrivateState()}
	for i, priv := range g.privs {
		if i == sender || slices.Contains(removes, i) {
			continue
		}
		recv := proposed.Clone()
		if err := recv.MergeUpdatePath(sender, up, added); err != nil {
			t.Fatalf("leaf %d merges: %v", i, err)
		}
		if !bytes.Equal(recv.TreeHash(), staged.TreeHash()) {
			t.Fatalf("leaf %d: tree hash differs from the committer's", i)
		}
		priv.Prune(recv) // drop keys the proposals blanked
		d, err := recv.DecryptPath(priv, sender, up, ctx, added)
		if err != nil {
			t.Fatalf("leaf %d decrypts: %v", i, err)
		}
		if !d.CommitSecret.Equal(pp.CommitSecret()) {
			t.Fatalf("leaf %d: commit secret differs", i)
		}
		if err := d.State.Check(recv); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		privs[i] = d.State
	}
	for _, r := range removes {
		delete(g.sigs, r)
	}
	for i, m := range newcomers {
		priv := NewPrivateState(i, m.enc)
		secret, err := pp.PathSecretFor(i)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := priv.ImportPathSecret(staged, treemath.CommonAncestor(sender.Node(), i.Node()), secret)
		if err != nil {
			t.Fatalf("joiner %d: %v", i, err)
		}
		if !cs.Equal(pp.CommitSecret()) {
			t.Fatalf("joiner %d: commit secret differs", i)
		}
		privs[i] = priv
		g.sigs[i] = m.sig
	}
	g.tree, g.privs = staged, privs
	g.epoch++
}
