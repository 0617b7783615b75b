package tree

import (
	"bytes"
	"fmt"
	"iter"
	"slices"

	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/treemath"
)

type (
	// LeafIndex is treemath.LeafIndex, re-exported for convenience.
	LeafIndex = treemath.LeafIndex
	// NodeIndex is treemath.NodeIndex, re-exported for convenience.
	NodeIndex = treemath.NodeIndex
)

// MaxLeaves bounds the leaves of a tree this package builds or accepts.
// It is far above any group Parley forms, yet keeps the work and memory an
// adversarial ratchet_tree can demand (hashing, resolutions) bounded.
const MaxLeaves = 1 << 16

// node is one slot of the array: a leaf, a parent, or blank (both nil).
// The pointed-to values are immutable once stored (copy-on-write), which
// is what makes Clone cheap.
type node struct {
	leaf   *LeafNode
	parent *ParentNode
}

func (n node) blank() bool { return n.leaf == nil && n.parent == nil }

// Tree is a ratchet tree in array form (RFC 9420 Appendix C) for one
// ciphersuite. Its leaf count is always a power of two. The zero value is
// not usable; build trees with New or Decode.
type Tree struct {
	cs     *suite.Suite
	nodes  []node
	hashes [][]byte // tree hash per node; nil when not yet computed or stale
}

// New returns a one-leaf tree holding the group creator's leaf.
func New(cs *suite.Suite, creator *LeafNode) *Tree {
	return &Tree{cs: cs, nodes: []node{{leaf: creator}}, hashes: make([][]byte, 1)}
}

// Clone returns an independent copy of t. It copies only the node and
// hash arrays (the nodes themselves are shared and never modified), so a
// clone of a 1024-member tree costs a few tens of kilobytes.
func (t *Tree) Clone() *Tree {
	return &Tree{cs: t.cs, nodes: slices.Clone(t.nodes), hashes: slices.Clone(t.hashes)}
}

// Suite returns the tree's ciphersuite.
func (t *Tree) Suite() *suite.Suite { return t.cs }

// LeafCount returns the number of leaves, blank or not (a power of two).
func (t *Tree) LeafCount() uint32 { return treemath.LeafCount(uint32(len(t.nodes))) }

// Width returns the number of nodes.
func (t *Tree) Width() uint32 { return uint32(len(t.nodes)) }

// Root returns the root's node index.
func (t *Tree) Root() NodeIndex { return treemath.Root(t.LeafCount()) }

// Leaf returns the leaf node at i, or nil when i is blank or outside the
// tree. The result must not be modified.
func (t *Tree) Leaf(i LeafIndex) *LeafNode {
	x := i.Node()
	if uint64(x) >= uint64(len(t.nodes)) {
		return nil
	}
	return t.nodes[x].leaf
}

// Parent returns the parent node at x, or nil when x is blank, a leaf, or
// outside the tree. The result must not be modified.
func (t *Tree) Parent(x NodeIndex) *ParentNode {
	if uint64(x) >= uint64(len(t.nodes)) {
		return nil
	}
	return t.nodes[x].parent
}

// Blank reports whether node x is blank (or outside the tree).
func (t *Tree) Blank(x NodeIndex) bool {
	return uint64(x) >= uint64(len(t.nodes)) || t.nodes[x].blank()
}

// EncryptionKey returns the HPKE public key of node x, or nil if blank.
func (t *Tree) EncryptionKey(x NodeIndex) HPKEPublicKey {
	if t.Blank(x) {
		return nil
	}
	if n := t.nodes[x]; n.leaf != nil {
		return n.leaf.EncryptionKey
	}
	return t.nodes[x].parent.EncryptionKey
}

// Members iterates over the non-blank leaves in index order.
func (t *Tree) Members() iter.Seq2[LeafIndex, *LeafNode] {
	return func(yield func(LeafIndex, *LeafNode) bool) {
		for x := 0; x < len(t.nodes); x += 2 {
			if l := t.nodes[x].leaf; l != nil && !yield(LeafIndex(x/2), l) {
				return
			}
		}
	}
}

// MemberCount returns the number of non-blank leaves.
func (t *Tree) MemberCount() int {
	n := 0
	for x := 0; x < len(t.nodes); x += 2 {
		if t.nodes[x].leaf != nil {
			n++
		}
	}
	return n
}

// FindBySignatureKey returns the leaf whose signature key is key.
func (t *Tree) FindBySignatureKey(key SignaturePublicKey) (LeafIndex, bool) {
	for i, l := range t.Members() {
		if bytes.Equal(l.SignatureKey, key) {
			return i, true
		}
	}
	return 0, false
}

// FindLeafNode returns the leaf holding a node identical to l, as a joiner
// finds its own leaf (RFC 9420 §12.4.3.1).
func (t *Tree) FindLeafNode(l *LeafNode) (LeafIndex, bool) {
	for i, m := range t.Members() {
		if m == l || (bytes.Equal(m.EncryptionKey, l.EncryptionKey) && m.Equal(l)) {
			return i, true
		}
	}
	return 0, false
}

// invalidate marks the tree hash of x and of all its ancestors stale.
func (t *Tree) invalidate(x NodeIndex) {
	n := t.LeafCount()
	t.hashes[x] = nil
	for _, p := range treemath.DirectPath(x, n) {
		t.hashes[p] = nil
	}
}

// set replaces node x and invalidates the hashes above it.
func (t *Tree) set(x NodeIndex, n node) {
	t.nodes[x] = n
	t.invalidate(x)
}

// blankPath blanks every parent on the direct path of leaf i.
func (t *Tree) blankPath(i LeafIndex) {
	for _, p := range treemath.DirectPath(i.Node(), t.LeafCount()) {
		t.nodes[p] = node{}
		t.hashes[p] = nil
	}
}

// checkLeaf returns an error unless leaf i is a member.
func (t *Tree) checkLeaf(i LeafIndex) error {
	if uint64(i) >= uint64(t.LeafCount()) {
		return fmt.Errorf("%w: %d of %d", ErrLeafOutOfRange, i, t.LeafCount())
	}
	if t.nodes[i.Node()].leaf == nil {
		return fmt.Errorf("%w: leaf %d", ErrBlankLeaf, i)
	}
	return nil
}

// extend doubles the tree: the old tree becomes the left subtree of a new
// blank root, and the new right subtree is blank.
func (t *Tree) extend() error {
	n := t.LeafCount()
	if n == 0 {
		n = 1
	} else {
		n *= 2
	}
	if n > MaxLeaves {
		return ErrTreeTooLarge
	}
	w := int(treemath.NodeWidth(n))
	t.nodes = append(t.nodes, make([]node, w-len(t.nodes))...)
	t.hashes = append(t.hashes, make([][]byte, w-len(t.hashes))...)
	return nil
}

// truncate halves the tree while its right half holds no member
// (RFC 9420 §12.1.3). A tree keeps at least one leaf.
func (t *Tree) truncate() {
	for n := t.LeafCount(); n > 1; n /= 2 {
		for x := n; x < 2*n; x += 2 { // node indices of the right half's leaves
			if t.nodes[x].leaf != nil {
				return
			}
		}
		w := treemath.NodeWidth(n / 2)
		clear(t.nodes[w:])
		clear(t.hashes[w:])
		t.nodes, t.hashes = t.nodes[:w], t.hashes[:w]
	}
}

// FreeLeaf returns the leaf an Add would fill: the leftmost blank leaf,
// or the first leaf past the end when the tree is full.
func (t *Tree) FreeLeaf() LeafIndex {
	for x := 0; x < len(t.nodes); x += 2 {
		if t.nodes[x].leaf == nil {
			return LeafIndex(x / 2)
		}
	}
	return LeafIndex(t.LeafCount())
}

// AddLeaf places l at the leftmost blank leaf, extending the tree when
// there is none, and records it as unmerged at every non-blank parent
// above it (RFC 9420 §12.1.1). It returns the new member's leaf index.
func (t *Tree) AddLeaf(l *LeafNode) (LeafIndex, error) {
	i := t.FreeLeaf()
	if uint32(i) == t.LeafCount() {
		if err := t.extend(); err != nil {
			return 0, err
		}
	}
	t.set(i.Node(), node{leaf: l})
	for _, p := range treemath.DirectPath(i.Node(), t.LeafCount()) {
		old := t.nodes[p].parent
		if old == nil {
			continue
		}
		np := *old
		at, _ := slices.BinarySearch(old.UnmergedLeaves, i)
		np.UnmergedLeaves = slices.Insert(slices.Clip(old.UnmergedLeaves), at, i)
		t.nodes[p].parent = &np
	}
	return i, nil
}

// UpdateLeaf replaces member i's leaf node with l and blanks the parents
// above it, as an Update proposal does (RFC 9420 §12.1.2).
func (t *Tree) UpdateLeaf(i LeafIndex, l *LeafNode) error {
	if err := t.checkLeaf(i); err != nil {
		return err
	}
	t.set(i.Node(), node{leaf: l})
	t.blankPath(i)
	return nil
}

// RemoveLeaf blanks member i and the parents above it, then truncates the
// tree while its right half is empty (RFC 9420 §12.1.3).
func (t *Tree) RemoveLeaf(i LeafIndex) error {
	if err := t.checkLeaf(i); err != nil {
		return err
	}
	t.set(i.Node(), node{})
	t.blankPath(i)
	t.truncate()
	return nil
}

// Resolution returns the resolution of x (RFC 9420 §4.1.1): the nearest
// non-blank nodes covering its subtree, each non-blank parent followed by
// its unmerged leaves, left to right.
func (t *Tree) Resolution(x NodeIndex) []NodeIndex {
	return t.resolve(x, nil, nil)
}

// resolve appends the resolution of x to out, leaving out the leaves for
// which skip (if non-nil) is true.
func (t *Tree) resolve(x NodeIndex, skip []bool, out []NodeIndex) []NodeIndex {
	n := t.nodes[x]
	switch {
	case n.leaf != nil:
		if l, _ := x.Leaf(); skip == nil || !skip[l] {
			out = append(out, x)
		}
	case n.parent != nil:
		out = append(out, x)
		for _, l := range n.parent.UnmergedLeaves {
			if skip == nil || int(l) >= len(skip) || !skip[l] {
				out = append(out, l.Node())
			}
		}
	case !x.IsLeaf():
		left, _ := treemath.Left(x)
		right, _ := treemath.Right(x)
		out = t.resolve(left, skip, out)
		out = t.resolve(right, skip, out)
	}
	return out
}

// resolutionEmpty reports whether the subtree under x is entirely blank,
// i.e. its resolution is empty. It stops at the first non-blank node.
func (t *Tree) resolutionEmpty(x NodeIndex) bool {
	if !t.nodes[x].blank() {
		return false
	}
	if x.IsLeaf() {
		return true
	}
	left, _ := treemath.Left(x)
	right, _ := treemath.Right(x)
	return t.resolutionEmpty(left) && t.resolutionEmpty(right)
}

// FilteredDirectPath returns the filtered direct path of leaf i
// (RFC 9420 §4.1.2) and, alongside it, the copath child of each of its
// nodes.
func (t *Tree) FilteredDirectPath(i LeafIndex) (path, copath []NodeIndex) {
	n := t.LeafCount()
	dp := treemath.DirectPath(i.Node(), n)
	cp := treemath.Copath(i.Node(), n)
	path, copath = dp[:0], cp[:0] // filter in place
	for k := range dp {
		if !t.resolutionEmpty(cp[k]) {
			path = append(path, dp[k])
			copath = append(copath, cp[k])
		}
	}
	return path, copath
}
