// Package treemath computes relationships between nodes of the array
// representation of an MLS ratchet tree (RFC 9420, Appendix C).
//
// In that representation leaves sit at even node indices (leaf i at node
// 2i) and parents at odd indices, so parents, children, siblings and paths
// follow from bit manipulation alone, without any pointers. RFC 9420 trees
// are always complete: the leaf count is a power of two (the tree doubles
// when it grows and halves when its right half is empty), and every
// function here assumes that. Functions that take a leaf count n expect
// such an n; they never allocate except where they return a slice.
package treemath

import "math/bits"

// LeafIndex numbers the leaves of a tree from left to right, starting at 0.
// It is the index that identifies a member on the wire.
type LeafIndex uint32

// NodeIndex numbers every node of the array representation: leaves at even
// indices, parent nodes at odd ones.
type NodeIndex uint32

// MaxLeaves bounds the leaf count so that every node index fits in a
// uint32 (the width of a tree with 2^31 leaves is 2^32-1).
const MaxLeaves = 1 << 31

// Node returns the node index of leaf l.
func (l LeafIndex) Node() NodeIndex { return NodeIndex(l) * 2 }

// IsLeaf reports whether x is a leaf node.
func (x NodeIndex) IsLeaf() bool { return x&1 == 0 }

// Leaf returns the leaf index of node x and whether x is a leaf at all.
func (x NodeIndex) Leaf() (LeafIndex, bool) {
	return LeafIndex(x >> 1), x&1 == 0
}

// Level is the height of node x above the leaves: 0 for leaves, 1 for their
// parents and so on. It equals the number of trailing one bits of x.
func Level(x NodeIndex) int {
	return bits.TrailingZeros32(^uint32(x))
}

// NodeWidth is the number of nodes in a tree of n leaves.
func NodeWidth(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return 2*(n-1) + 1
}

// LeafCount is the number of leaves of a tree whose array holds w nodes;
// it is the inverse of NodeWidth for odd w.
func LeafCount(w uint32) uint32 {
	if w == 0 {
		return 0
	}
	return (w-1)/2 + 1
}

// Root is the root node of a tree of n leaves.
func Root(n uint32) NodeIndex {
	w := NodeWidth(n)
	if w == 0 {
		return 0
	}
	return NodeIndex(uint32(1)<<(bits.Len32(w)-1) - 1)
}

// Left is the left child of x; ok is false when x is a leaf.
func Left(x NodeIndex) (child NodeIndex, ok bool) {
	k := Level(x)
	if k == 0 {
		return 0, false
	}
	return x ^ (1 << (k - 1)), true
}

// Right is the right child of x; ok is false when x is a leaf.
func Right(x NodeIndex) (child NodeIndex, ok bool) {
	k := Level(x)
	if k == 0 {
		return 0, false
	}
	return x ^ (3 << (k - 1)), true
}

// parent is the parent of x ignoring the tree's size; the caller has
// checked that x is not the root.
func parent(x NodeIndex) NodeIndex {
	k := Level(x)
	b := (x >> (k + 1)) & 1
	return (x | 1<<k) ^ (b << (k + 1))
}

// Parent is the parent of x in a tree of n leaves; ok is false when x is
// the root or lies outside the tree.
func Parent(x NodeIndex, n uint32) (p NodeIndex, ok bool) {
	if !InTree(x, n) || x == Root(n) {
		return 0, false
	}
	return parent(x), true
}

// Sibling is the other child of x's parent in a tree of n leaves; ok is
// false when x is the root or lies outside the tree.
func Sibling(x NodeIndex, n uint32) (s NodeIndex, ok bool) {
	if !InTree(x, n) || x == Root(n) {
		return 0, false
	}
	return x ^ (2 << Level(x)), true
}

// InTree reports whether x is a node of a tree of n leaves.
func InTree(x NodeIndex, n uint32) bool {
	return uint32(x) < NodeWidth(n)
}

// DirectPathLen is the length of x's direct path in a tree of n leaves:
// the number of ancestors strictly above x.
func DirectPathLen(x NodeIndex, n uint32) int {
	if !InTree(x, n) {
		return 0
	}
	return Level(Root(n)) - Level(x)
}

// DirectPath lists the ancestors of x from its parent up to the root, in a
// tree of n leaves. It is empty for the root.
func DirectPath(x NodeIndex, n uint32) []NodeIndex {
	d := make([]NodeIndex, DirectPathLen(x, n))
	for i := range d {
		x = parent(x)
		d[i] = x
	}
	return d
}

// Copath lists, for x and each ancestor below the root, its sibling,
// ordered from leaf to root: Copath(x)[i] is the child of DirectPath(x)[i]
// that is not on x's path.
func Copath(x NodeIndex, n uint32) []NodeIndex {
	d := make([]NodeIndex, DirectPathLen(x, n))
	for i := range d {
		d[i] = x ^ (2 << Level(x))
		x = parent(x)
	}
	return d
}

// InSubtree reports whether x is a or lies below a.
func InSubtree(x, a NodeIndex) bool {
	// The subtree of a node at level k spans the 2^(k+1)-1 indices centred
	// on it.
	span := uint32(1)<<Level(a) - 1
	return uint32(x) >= uint32(a)-span && uint32(x) <= uint32(a)+span
}

// CommonAncestor is the lowest node whose subtree contains both x and y
// (one of them, when it is an ancestor of the other).
func CommonAncestor(x, y NodeIndex) NodeIndex {
	lx, ly := Level(x)+1, Level(y)+1
	if lx <= ly && x>>ly == y>>ly {
		return y
	}
	if ly <= lx && x>>lx == y>>lx {
		return x
	}
	// Strip the bits below the highest bit where x and y differ; the
	// ancestor has those prefix bits followed by 0 then ones.
	k := bits.Len32(uint32(x ^ y))
	return NodeIndex((uint32(x)>>k)<<k | (uint32(1)<<(k-1) - 1))
}
