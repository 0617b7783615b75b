package tree

import (
	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/treemath"
)

// NodeType tags a node in TreeHashInput and in the ratchet_tree
// extension (RFC 9420 §7.8).
const (
	nodeTypeLeaf   = 1
	nodeTypeParent = 2
)

// TreeHash returns the tree hash of the root (RFC 9420 §7.8), the value a
// GroupContext carries. Only nodes changed since the last call are
// rehashed.
func (t *Tree) TreeHash() []byte { return t.NodeHash(t.Root()) }

// NodeHash returns the tree hash of the subtree under x. The result is
// shared with the cache and must not be modified.
func (t *Tree) NodeHash(x NodeIndex) []byte {
	if h := t.hashes[x]; h != nil {
		return h
	}
	var h []byte
	if x.IsLeaf() {
		h = t.leafHash(x, t.nodes[x].leaf)
	} else {
		left, _ := treemath.Left(x)
		right, _ := treemath.Right(x)
		h = t.parentHashInput(t.nodes[x].parent, t.NodeHash(left), t.NodeHash(right))
	}
	t.hashes[x] = h
	return h
}

// leafHash hashes LeafNodeHashInput for leaf node x holding l (nil when
// blank).
func (t *Tree) leafHash(x NodeIndex, l *LeafNode) []byte {
	w := codec.NewWriter(512)
	w.Uint8(nodeTypeLeaf)
	w.Uint32(uint32(x / 2))
	w.Optional(l != nil)
	if l != nil {
		l.MarshalTLS(w)
	}
	return t.cs.Hash(w.Bytes())
}

// parentHashInput hashes ParentNodeHashInput for p (nil when blank) with
// its children's tree hashes.
func (t *Tree) parentHashInput(p *ParentNode, left, right []byte) []byte {
	w := codec.NewWriter(256)
	w.Uint8(nodeTypeParent)
	w.Optional(p != nil)
	if p != nil {
		p.MarshalTLS(w)
	}
	w.Opaque(left)
	w.Opaque(right)
	return t.cs.Hash(w.Bytes())
}

// hashWithout returns the tree hash of x in the tree modified as for an
// original sibling tree hash (RFC 9420 §7.9): each leaf marked in gone is
// blanked and dropped from the unmerged leaves of every parent. Subtrees
// that contain no such leaf reuse the cached hash, so the cost is the
// number of nodes above the removed leaves.
func (t *Tree) hashWithout(x NodeIndex, gone []LeafIndex) []byte {
	if !anyInSubtree(gone, x) {
		return t.NodeHash(x)
	}
	if x.IsLeaf() {
		return t.leafHash(x, nil)
	}
	p := t.nodes[x].parent
	if p != nil {
		kept := make([]LeafIndex, 0, len(p.UnmergedLeaves))
		for _, l := range p.UnmergedLeaves {
			if !contains(gone, l) {
				kept = append(kept, l)
			}
		}
		p = &ParentNode{EncryptionKey: p.EncryptionKey, ParentHash: p.ParentHash, UnmergedLeaves: kept}
	}
	left, _ := treemath.Left(x)
	right, _ := treemath.Right(x)
	return t.parentHashInput(p, t.hashWithout(left, gone), t.hashWithout(right, gone))
}

func anyInSubtree(leaves []LeafIndex, x NodeIndex) bool {
	for _, l := range leaves {
		if treemath.InSubtree(l.Node(), x) {
			return true
		}
	}
	return false
}

func contains(leaves []LeafIndex, l LeafIndex) bool {
	for _, m := range leaves {
		if m == l {
			return true
		}
	}
	return false
}

// parentHash is the parent hash of parent node p with copath child tree
// hash siblingHash: Hash(ParentHashInput) of RFC 9420 §7.9.
func (t *Tree) parentHash(p *ParentNode, siblingHash []byte) []byte {
	w := codec.NewWriter(3 * 70)
	w.Opaque(p.EncryptionKey)
	w.Opaque(p.ParentHash)
	w.Opaque(siblingHash)
	return t.cs.Hash(w.Bytes())
}
