package tree

import (
	"bytes"
	"fmt"
	"iter"
	"maps"
	"slices"

	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/treemath"
)

// PrivateState is one member's private view of the tree: the HPKE private
// keys of its own leaf and of the parents above it whose path secrets it
// received (RFC 9420 §4.2). It is keyed by node index; a key is only ever
// used after checking that it matches the tree's public key at its node,
// so keys made stale by a proposal blanking a node are harmless (and
// Prune drops them).
type PrivateState struct {
	leaf LeafIndex
	keys map[NodeIndex]*suite.HPKEKey
}

// NewPrivateState returns the private state of the member at leaf holding
// leafKey (its leaf's encryption key).
func NewPrivateState(leaf LeafIndex, leafKey *suite.HPKEKey) *PrivateState {
	return &PrivateState{leaf: leaf, keys: map[NodeIndex]*suite.HPKEKey{leaf.Node(): leafKey}}
}

// Leaf returns the member's leaf index.
func (p *PrivateState) Leaf() LeafIndex { return p.leaf }

// Key returns the private key held for node x, or nil.
func (p *PrivateState) Key(x NodeIndex) *suite.HPKEKey { return p.keys[x] }

// SetKey stores key as the private key of node x, for state import.
func (p *PrivateState) SetKey(x NodeIndex, key *suite.HPKEKey) { p.keys[x] = key }

// Keys iterates over the held keys in node order, for state export.
func (p *PrivateState) Keys() iter.Seq2[NodeIndex, *suite.HPKEKey] {
	return func(yield func(NodeIndex, *suite.HPKEKey) bool) {
		for _, x := range slices.Sorted(maps.Keys(p.keys)) {
			if !yield(x, p.keys[x]) {
				return
			}
		}
	}
}

// Clone returns a copy of p that can be changed independently. The keys
// themselves are immutable and shared.
func (p *PrivateState) Clone() *PrivateState {
	return &PrivateState{leaf: p.leaf, keys: maps.Clone(p.keys)}
}

// matches reports whether key is the private key of node x in t.
func matches(t *Tree, x NodeIndex, key *suite.HPKEKey) bool {
	pub := t.EncryptionKey(x)
	return pub != nil && bytes.Equal(pub, key.Public())
}

// Prune drops every key that no longer matches t: nodes blanked or
// replaced by proposals and commits, and nodes truncated away.
func (p *PrivateState) Prune(t *Tree) {
	for x, k := range p.keys {
		if !matches(t, x, k) {
			delete(p.keys, x)
		}
	}
}

// Check verifies that p is consistent with t: every key sits on the
// member's leaf or its direct path and matches the public key there.
func (p *PrivateState) Check(t *Tree) error {
	for x, k := range p.keys {
		if x != p.leaf.Node() && !treemath.InSubtree(p.leaf.Node(), x) {
			return nodeErr(x, fmt.Errorf("%w: key for a node not above leaf %d", ErrPublicKeyMismatch, p.leaf))
		}
		if !matches(t, x, k) {
			return nodeErr(x, ErrPublicKeyMismatch)
		}
	}
	return nil
}

// nodeKey derives the key pair of a node from its path secret
// (RFC 9420 §7.4): node_secret = DeriveSecret(path_secret, "node").
func nodeKey(cs *suite.Suite, pathSecret suite.Secret) (*suite.HPKEKey, error) {
	return cs.DeriveKeyPair(cs.DeriveSecret(pathSecret, "node"))
}

// nextPathSecret is path_secret[n+1] = DeriveSecret(path_secret[n], "path").
func nextPathSecret(cs *suite.Suite, pathSecret suite.Secret) suite.Secret {
	return cs.DeriveSecret(pathSecret, "path")
}

// SetPathSecret derives the key of node x alone from its path secret,
// checks it against t, and stores it.
func (p *PrivateState) SetPathSecret(t *Tree, x NodeIndex, pathSecret suite.Secret) error {
	key, err := nodeKey(t.cs, pathSecret)
	if err != nil {
		return err
	}
	if !matches(t, x, key) {
		return nodeErr(x, ErrPublicKeyMismatch)
	}
	p.keys[x] = key
	return nil
}

// ImportPathSecret sets the key of node x from pathSecret, then derives
// the path secrets and keys of every non-blank ancestor of x, checking
// each against t, and returns the commit secret that follows the last
// one. A joiner calls it with the path_secret of its Welcome and x the
// common ancestor of its leaf and the committer's (RFC 9420 §12.4.3.1);
// after a commit the non-blank ancestors of x are exactly the rest of the
// committer's filtered direct path.
func (p *PrivateState) ImportPathSecret(t *Tree, x NodeIndex, pathSecret suite.Secret) (commitSecret suite.Secret, err error) {
	nodes := append([]NodeIndex{x}, treemath.DirectPath(x, t.LeafCount())...)
	keys := make(map[NodeIndex]*suite.HPKEKey, len(nodes))
	secret := pathSecret
	for k, y := range nodes {
		if k > 0 {
			if t.Blank(y) {
				continue
			}
			secret = nextPathSecret(t.cs, secret)
		}
		key, err := nodeKey(t.cs, secret)
		if err != nil {
			return suite.Secret{}, err
		}
		if !matches(t, y, key) {
			return suite.Secret{}, nodeErr(y, ErrPublicKeyMismatch)
		}
		keys[y] = key
	}
	maps.Copy(p.keys, keys)
	return nextPathSecret(t.cs, secret), nil
}
