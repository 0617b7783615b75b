package tree

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
)

// sketch builds an 8-leaf tree by hand: leaves and parents named by node
// index are non-blank, with the given unmerged leaves on parents.
func sketch(cs *suite.Suite, leaves []NodeIndex, parents map[NodeIndex][]LeafIndex) *Tree {
	t := &Tree{cs: cs, nodes: make([]node, 15), hashes: make([][]byte, 15)}
	for _, x := range leaves {
		t.nodes[x].leaf = &LeafNode{EncryptionKey: []byte{byte(x)}}
	}
	for x, um := range parents {
		t.nodes[x].parent = &ParentNode{EncryptionKey: []byte{byte(x)}, UnmergedLeaves: um}
	}
	return t
}

// TestResolutionExample is the tree of RFC 9420 §4.1.1.
func TestResolutionExample(t *testing.T) {
	tr := sketch(testSuite(t), []NodeIndex{0, 2, 6, 8, 10, 14}, map[NodeIndex][]LeafIndex{3: {1}, 9: nil})
	for x, want := range map[NodeIndex][]NodeIndex{
		3:  {3, 2},
		4:  nil,
		12: nil,
		7:  {3, 2, 9, 14},
	} {
		if got := tr.Resolution(x); !slices.Equal(got, want) {
			t.Errorf("resolution(%d) = %v, want %v", x, got, want)
		}
	}
}

// TestFilteredDirectPathExample is the table of RFC 9420 §4.1.2.
func TestFilteredDirectPathExample(t *testing.T) {
	tr := sketch(testSuite(t), []NodeIndex{0, 2, 8, 10, 12}, map[NodeIndex][]LeafIndex{1: nil, 9: nil, 11: nil, 7: nil})
	for leaf, want := range map[LeafIndex][]NodeIndex{
		0: {1, 7}, 1: {1, 7}, 4: {9, 11, 7}, 5: {9, 11, 7}, 6: {11, 7},
	} {
		if got, _ := tr.FilteredDirectPath(leaf); !slices.Equal(got, want) {
			t.Errorf("filtered direct path of leaf %d = %v, want %v", leaf, got, want)
		}
	}
}

func TestAddRemoveTruncate(t *testing.T) {
	cs := testSuite(t)
	tr := New(cs, newMember(t, cs, "a").leaf)
	var added []LeafIndex
	for range 4 {
		i, err := tr.AddLeaf(newMember(t, cs, "x").leaf)
		if err != nil {
			t.Fatal(err)
		}
		added = append(added, i)
	}
	if !slices.Equal(added, []LeafIndex{1, 2, 3, 4}) || tr.LeafCount() != 8 || tr.MemberCount() != 5 {
		t.Fatalf("added %v, %d leaves, %d members", added, tr.LeafCount(), tr.MemberCount())
	}
	if err := tr.RemoveLeaf(2); err != nil {
		t.Fatal(err)
	}
	if tr.FreeLeaf() != 2 {
		t.Fatalf("free leaf %d, want 2", tr.FreeLeaf())
	}
	if err := tr.RemoveLeaf(2); !errors.Is(err, ErrBlankLeaf) {
		t.Fatalf("removing a blank leaf: %v", err)
	}
	if err := tr.RemoveLeaf(9); !errors.Is(err, ErrLeafOutOfRange) {
		t.Fatalf("removing past the end: %v", err)
	}
	if err := tr.RemoveLeaf(4); err != nil {
		t.Fatal(err)
	}
	if tr.LeafCount() != 4 {
		t.Fatalf("after removing the last of the right half: %d leaves", tr.LeafCount())
	}
	if err := tr.RemoveLeaf(3); err != nil {
		t.Fatal(err)
	}
	if tr.LeafCount() != 2 {
		t.Fatalf("after removing leaves 2-3: %d leaves", tr.LeafCount())
	}
	// An unmerged leaf is recorded, sorted, at every non-blank parent.
	tr.nodes[1].parent = &ParentNode{EncryptionKey: []byte{1}}
	tr.invalidate(1)
	i, _ := tr.AddLeaf(newMember(t, cs, "y").leaf)
	j, _ := tr.AddLeaf(newMember(t, cs, "z").leaf)
	if i != 2 || j != 3 {
		t.Fatalf("added at %d, %d", i, j)
	}
	if p := tr.Parent(1); len(p.UnmergedLeaves) != 0 {
		t.Errorf("parent 1 gained unmerged leaves %v", p.UnmergedLeaves)
	}
	tr.nodes[5].parent = &ParentNode{EncryptionKey: []byte{5}, UnmergedLeaves: []LeafIndex{3}}
	tr.RemoveLeaf(2)
	tr.nodes[5].parent = &ParentNode{EncryptionKey: []byte{5}, UnmergedLeaves: []LeafIndex{3}}
	if i, _ := tr.AddLeaf(newMember(t, cs, "w").leaf); i != 2 {
		t.Fatalf("added at %d", i)
	}
	if got := tr.Parent(5).UnmergedLeaves; !slices.Equal(got, []LeafIndex{2, 3}) {
		t.Errorf("unmerged leaves %v, want [2 3]", got)
	}
}

// TestCloneIndependent checks that changing a clone leaves the original,
// including its cached hashes, untouched.
func TestCloneIndependent(t *testing.T) {
	g := newTestGroup(t, testSuite(t))
	g.commit(t, 0, 6)
	before := slices.Clone(g.tree.TreeHash())
	enc := g.tree.Encode()
	c := g.tree.Clone()
	if _, err := c.AddLeaf(newMember(t, g.cs, "n").leaf); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveLeaf(3); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(c.TreeHash(), before) {
		t.Fatal("clone's hash did not change")
	}
	if !bytes.Equal(g.tree.TreeHash(), before) || !bytes.Equal(g.tree.Encode(), enc) {
		t.Fatal("changing the clone changed the original")
	}
	fresh, err := Decode(g.cs, c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh.TreeHash(), c.TreeHash()) {
		t.Fatal("incremental tree hash differs from a fresh one")
	}
}

// encodeNodes encodes a ratchet_tree from hand-written node encodings.
func encodeNodes(nodes ...[]byte) []byte {
	var w codec.Writer
	w.Vector(func(w *codec.Writer) {
		for _, n := range nodes {
			w.Raw(n)
		}
	})
	return w.Bytes()
}

func TestDecodeRejects(t *testing.T) {
	cs := testSuite(t)
	m := newMember(t, cs, "a")
	leaf := append([]byte{1, nodeTypeLeaf}, codec.Marshal(m.leaf)...)
	parent := append([]byte{1, nodeTypeParent}, codec.Marshal(&ParentNode{EncryptionKey: []byte{1}})...)
	if _, err := Decode(cs, encodeNodes(leaf, parent, leaf)); err != nil {
		t.Fatalf("valid tree: %v", err)
	}
	cases := map[string][]byte{
		"empty":             encodeNodes(),
		"trailing blank":    encodeNodes(leaf, []byte{0}),
		"parent at a leaf":  encodeNodes(parent),
		"leaf at a parent":  encodeNodes(leaf, leaf),
		"unknown node type": encodeNodes([]byte{1, 3}),
		"bad optional":      encodeNodes([]byte{2}),
		"trailing bytes":    append(encodeNodes(leaf), 0),
		"truncated":         encodeNodes(leaf)[:10],
	}
	for name, b := range cases {
		if _, err := Decode(cs, b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	bad := *m.leaf
	enc := codec.Marshal(&bad)
	// The leaf_node_source octet follows keys, credential, capabilities.
	var w codec.Writer
	w.Opaque(bad.EncryptionKey)
	w.Opaque(bad.SignatureKey)
	bad.Credential.MarshalTLS(&w)
	bad.Capabilities.MarshalTLS(&w)
	for _, src := range []byte{0, 4} {
		b := slices.Clone(enc)
		b[w.Len()] = src
		var l LeafNode
		if err := codec.Unmarshal(b, &l); !errors.Is(err, ErrInvalidLeafNodeSource) {
			t.Errorf("source %d: %v", src, err)
		}
	}
	var c Credential
	if err := codec.Unmarshal([]byte{0, 9, 0}, &c); !errors.Is(err, ErrUnknownCredentialType) {
		t.Errorf("unknown credential: %v", err)
	}
	var e Extensions
	if err := codec.Unmarshal([]byte{6, 0, 1, 0, 0, 1, 0}, &e); !errors.Is(err, ErrDuplicateExtension) {
		t.Errorf("duplicate extension: %v", err)
	}
}

func TestExtensions(t *testing.T) {
	rc := &RequiredCapabilities{Extensions: []ExtensionType{0xff00}, Credentials: []CredentialType{CredentialBasic}}
	senders := []ExternalSender{{SignatureKey: []byte{1, 2}, Credential: BasicCredential([]byte("ds"))}}
	var e Extensions
	e = e.With(ExtApplicationID, ApplicationIDExtension([]byte("app")).Data)
	e = e.With(rc.Extension().Type, rc.Extension().Data)
	e = e.With(ExtExternalPub, ExternalPubExtension([]byte{9}).Data)
	e = e.With(ExtExternalSenders, ExternalSendersExtension(senders).Data)
	var back Extensions
	if err := codec.Unmarshal(codec.Marshal(e), &back); err != nil || !back.Equal(e) {
		t.Fatalf("round trip: %v", err)
	}
	if id, ok, err := back.ApplicationID(); !ok || err != nil || string(id) != "app" {
		t.Errorf("application id %q %v %v", id, ok, err)
	}
	if got, ok, err := back.RequiredCapabilities(); !ok || err != nil || !slices.Equal(got.Extensions, rc.Extensions) {
		t.Errorf("required capabilities %+v %v %v", got, ok, err)
	}
	if got, ok, err := back.ExternalPub(); !ok || err != nil || !bytes.Equal(got, []byte{9}) {
		t.Errorf("external pub %x %v %v", got, ok, err)
	}
	if got, ok, err := back.ExternalSenders(); !ok || err != nil || len(got) != 1 || !got[0].Credential.Equal(&senders[0].Credential) {
		t.Errorf("external senders %+v %v %v", got, ok, err)
	}
	if back.Without(ExtExternalPub).Has(ExtExternalPub) || len(back.Without(ExtExternalPub)) != 3 {
		t.Error("Without")
	}
	caps := Capabilities{Credentials: []CredentialType{CredentialBasic}}
	if caps.Satisfies(rc) {
		t.Error("capabilities without extension 0xff00 satisfy the requirement")
	}
	caps.Extensions = []ExtensionType{0xff00}
	if !caps.Satisfies(rc) {
		t.Error("capabilities do not satisfy the requirement")
	}
}
