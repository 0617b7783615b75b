package tree

import (
	"errors"
	"slices"
	"testing"
)

// validGroup returns a group whose tree has non-blank parents, a commit
// leaf chain and unmerged leaves (members added after the last commit).
func validGroup(t *testing.T) *testGroup {
	g := newTestGroup(t, testSuite(t))
	g.commit(t, 0, 5)
	g.commit(t, 4, 0)
	g.commit(t, 1, 1, 3)
	for range 2 {
		if _, err := g.tree.AddLeaf(newMember(t, g.cs, "late").leaf); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.tree.Validate(&ValidateOptions{GroupID: g.groupID}); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, g *testGroup, tr *Tree)
		want   error
	}{
		{"leaf signature", func(t *testing.T, g *testGroup, tr *Tree) {
			l := *tr.Leaf(2)
			l.Signature = slices.Clone(l.Signature)
			l.Signature[0] ^= 1
			tr.set(2*2, node{leaf: &l})
		}, ErrInvalidSignature},
		{"parent hash", func(t *testing.T, g *testGroup, tr *Tree) {
			p := *tr.Parent(3)
			p.ParentHash = []byte("forged")
			tr.set(3, node{parent: &p})
		}, ErrParentHash},
		{"parent key", func(t *testing.T, g *testGroup, tr *Tree) {
			p := *tr.Parent(1)
			p.EncryptionKey = newMember(t, g.cs, "k").leaf.EncryptionKey
			tr.set(1, node{parent: &p})
		}, ErrParentHash},
		{"unsorted unmerged leaves", func(t *testing.T, g *testGroup, tr *Tree) {
			p := *tr.Parent(tr.Root())
			p.UnmergedLeaves = append([]LeafIndex{7}, p.UnmergedLeaves...)
			tr.set(tr.Root(), node{parent: &p})
		}, ErrUnmergedLeaves},
		{"unmerged leaf not below", func(t *testing.T, g *testGroup, tr *Tree) {
			p := *tr.Parent(1)
			p.UnmergedLeaves = []LeafIndex{2}
			tr.set(1, node{parent: &p})
		}, ErrUnmergedLeaves},
		{"unmerged leaf missing in between", func(t *testing.T, g *testGroup, tr *Tree) {
			x := LeafIndex(0).Node()
			tr.set(x, node{}) // remove leaf 0 without blanking its path
			p := *tr.Parent(1)
			p.UnmergedLeaves = nil
			tr.set(1, node{parent: &p})
			q := *tr.Parent(tr.Root())
			q.UnmergedLeaves = append([]LeafIndex{0}, q.UnmergedLeaves...)
			tr.set(tr.Root(), node{parent: &q})
		}, ErrUnmergedLeaves},
		{"duplicate encryption key", func(t *testing.T, g *testGroup, tr *Tree) {
			p := *tr.Parent(1)
			p.EncryptionKey = tr.Leaf(5).EncryptionKey
			tr.set(1, node{parent: &p})
		}, ErrDuplicateKey},
		{"duplicate signature key", func(t *testing.T, g *testGroup, tr *Tree) {
			m := newMember(t, g.cs, "twin")
			m.leaf.SignatureKey = tr.Leaf(0).SignatureKey
			if err := m.leaf.Sign(g.cs, g.sigs[0], nil, 0); err != nil {
				t.Fatal(err)
			}
			tr.AddLeaf(m.leaf)
		}, ErrDuplicateKey},
		{"credential type others lack", func(t *testing.T, g *testGroup, tr *Tree) {
			m := newMember(t, g.cs, "x509")
			m.leaf.Credential = Credential{Type: CredentialX509, Certificates: [][]byte{{1}}}
			m.leaf.Capabilities.Credentials = []CredentialType{CredentialBasic, CredentialX509}
			if err := m.leaf.Sign(g.cs, m.sig, nil, 0); err != nil {
				t.Fatal(err)
			}
			tr.AddLeaf(m.leaf)
		}, ErrCapabilities},
		{"expired key package leaf", func(t *testing.T, g *testGroup, tr *Tree) {
			m := newMember(t, g.cs, "old")
			m.leaf.Lifetime = Lifetime{NotBefore: 1, NotAfter: 10}
			if err := m.leaf.Sign(g.cs, m.sig, nil, 0); err != nil {
				t.Fatal(err)
			}
			tr.AddLeaf(m.leaf)
		}, ErrLifetime},
	}
	g := validGroup(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := g.tree.Clone()
			c.change(t, g, tr)
			err := tr.Validate(&ValidateOptions{GroupID: g.groupID, Now: 100})
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			var ne *NodeError
			if !errors.As(err, &ne) {
				t.Errorf("%v does not name a node", err)
			}
		})
	}
	if err := g.tree.Validate(&ValidateOptions{GroupID: []byte("other group")}); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("wrong group id: %v", err)
	}
	rc := &RequiredCapabilities{Extensions: []ExtensionType{0xff00}}
	if err := g.tree.Validate(&ValidateOptions{GroupID: g.groupID, Required: rc}); !errors.Is(err, ErrCapabilities) {
		t.Errorf("required capabilities: %v", err)
	}
}

func TestCheckLeafCompat(t *testing.T) {
	g := validGroup(t)
	m := newMember(t, g.cs, "new")
	if err := g.tree.CheckLeafCompat(m.leaf, nil); err != nil {
		t.Fatal(err)
	}
	same := *g.tree.Leaf(2)
	if err := g.tree.CheckLeafCompat(&same, nil); !errors.Is(err, ErrDuplicateKey) {
		t.Errorf("an existing member's leaf as an add: %v", err)
	}
	two := LeafIndex(2)
	if err := g.tree.CheckLeafCompat(&same, &two); !errors.Is(err, ErrDuplicateKey) {
		t.Errorf("an update keeping its encryption key: %v", err)
	}
	fresh := same
	fresh.EncryptionKey = m.leaf.EncryptionKey
	if err := g.tree.CheckLeafCompat(&fresh, &two); err != nil {
		t.Errorf("an update with a new encryption key: %v", err)
	}
	if i, ok := g.tree.FindBySignatureKey(same.SignatureKey); !ok || i != 2 {
		t.Errorf("FindBySignatureKey = %d, %v", i, ok)
	}
	if i, ok := g.tree.FindLeafNode(&same); !ok || i != 2 {
		t.Errorf("FindLeafNode = %d, %v", i, ok)
	}
}
