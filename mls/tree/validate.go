package tree

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/parleyhq/parley/mls/internal/parallel"
	"github.com/parleyhq/parley/mls/treemath"
)

// ValidateOptions is the group context a joiner validates a tree in.
type ValidateOptions struct {
	// GroupID binds the signatures of update and commit leaves.
	GroupID []byte
	// Required is the group's required_capabilities, if any.
	Required *RequiredCapabilities
	// Now, when non-zero, is the current Unix time for lifetime checks.
	Now uint64
}

// Validate checks a tree received from others as RFC 9420 §12.4.3.1
// requires of a joiner, except the comparison of TreeHash with the
// GroupInfo's (the caller's, which holds the GroupInfo) and credential
// validation with the Authentication Service (the application's):
//
//   - every leaf is valid (LeafNode.Check) at its index;
//   - every leaf supports the credential types of all the others;
//   - parents' encryption keys are well-formed, no encryption key appears
//     twice in the tree, no signature key twice among the leaves;
//   - unmerged_leaves are sorted, name non-blank leaves below their node,
//     and appear at every non-blank node in between;
//   - every non-blank parent is parent-hash valid (VerifyParentHashes).
func (t *Tree) Validate(opts *ValidateOptions) error {
	var (
		credTypes []CredentialType
		members   []LeafIndex
	)
	sigKeys := make(map[string]LeafIndex)
	for i := range t.Members() {
		members = append(members, i)
	}
	// Signature checks dominate a join (one per member), so they run on
	// every core.
	err := parallel.Run(len(members), func(k int) error {
		i := members[k]
		err := t.nodes[i.Node()].leaf.Check(t.cs, &LeafCheck{GroupID: opts.GroupID, Index: i, Required: opts.Required, Now: opts.Now})
		if err != nil {
			return nodeErr(i.Node(), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, l := range t.Members() {
		if !slices.Contains(credTypes, l.Credential.Type) {
			credTypes = append(credTypes, l.Credential.Type)
		}
		if j, dup := sigKeys[string(l.SignatureKey)]; dup {
			return nodeErr(i.Node(), fmt.Errorf("%w: signature key of leaf %d", ErrDuplicateKey, j))
		}
		sigKeys[string(l.SignatureKey)] = i
	}
	for i, l := range t.Members() {
		for _, ct := range credTypes {
			if !l.Capabilities.SupportsCredential(ct) {
				return nodeErr(i.Node(), fmt.Errorf("%w: credential type %d used in the group", ErrCapabilities, ct))
			}
		}
	}
	if err := t.checkUniqueEncryptionKeys(); err != nil {
		return err
	}
	if err := t.checkUnmergedLeaves(); err != nil {
		return err
	}
	return t.VerifyParentHashes()
}

// checkUniqueEncryptionKeys fails if two nodes share an HPKE public key or
// a parent's key is malformed.
func (t *Tree) checkUniqueEncryptionKeys() error {
	seen := make(map[string]NodeIndex, len(t.nodes))
	for x := range t.nodes {
		key := t.EncryptionKey(NodeIndex(x))
		if key == nil {
			continue
		}
		if !NodeIndex(x).IsLeaf() { // leaves' keys are checked with the leaf
			if err := t.cs.ValidateHPKEPublicKey(key); err != nil {
				return nodeErr(NodeIndex(x), err)
			}
		}
		if y, dup := seen[string(key)]; dup {
			return nodeErr(NodeIndex(x), fmt.Errorf("%w: encryption key of node %d", ErrDuplicateKey, y))
		}
		seen[string(key)] = NodeIndex(x)
	}
	return nil
}

// checkUnmergedLeaves checks every parent's unmerged_leaves.
func (t *Tree) checkUnmergedLeaves() error {
	n := t.LeafCount()
	for x := 1; x < len(t.nodes); x += 2 {
		p := t.nodes[x].parent
		if p == nil {
			continue
		}
		px := NodeIndex(x)
		for k, l := range p.UnmergedLeaves {
			if k > 0 && l <= p.UnmergedLeaves[k-1] {
				return nodeErr(px, fmt.Errorf("%w: not sorted", ErrUnmergedLeaves))
			}
			if uint32(l) >= n || !treemath.InSubtree(l.Node(), px) {
				return nodeErr(px, fmt.Errorf("%w: leaf %d is not below the node", ErrUnmergedLeaves, l))
			}
			if t.nodes[l.Node()].leaf == nil {
				return nodeErr(px, fmt.Errorf("%w: leaf %d is blank", ErrUnmergedLeaves, l))
			}
			for _, a := range treemath.DirectPath(l.Node(), n) {
				if a == px {
					break
				}
				if q := t.nodes[a].parent; q != nil {
					if _, found := slices.BinarySearch(q.UnmergedLeaves, l); !found {
						return nodeErr(a, fmt.Errorf("%w: leaf %d unmerged at node %d but not here", ErrUnmergedLeaves, l, px))
					}
				}
			}
		}
	}
	return nil
}

// VerifyParentHashes checks that every non-blank parent node is
// parent-hash valid (RFC 9420 §7.9.2), top down: exactly one node D below
// each parent P carries P's parent hash, where D is in the resolution of
// P's child C on its side and the rest of that resolution is exactly P's
// unmerged leaves under C.
func (t *Tree) VerifyParentHashes() error {
	for x := 1; x < len(t.nodes); x += 2 {
		p := t.nodes[x].parent
		if p == nil {
			continue
		}
		px := NodeIndex(x)
		left, _ := treemath.Left(px)
		right, _ := treemath.Right(px)
		matches := t.parentHashLinks(px, p, left, right) + t.parentHashLinks(px, p, right, left)
		if matches != 1 {
			return nodeErr(px, fmt.Errorf("%w: %d nodes below link to it", ErrParentHash, matches))
		}
	}
	return nil
}

// parentHashLinks counts the nodes D in the resolution of child c of
// parent p (at px, with other child s) whose parent hash is valid with
// respect to p.
func (t *Tree) parentHashLinks(px NodeIndex, p *ParentNode, c, s NodeIndex) int {
	res := t.Resolution(c)
	if len(res) == 0 {
		return 0
	}
	want := t.parentHash(p, t.hashWithout(s, p.UnmergedLeaves))
	// P's unmerged leaves below C, as node indices in increasing order.
	var unmerged []NodeIndex
	for _, l := range p.UnmergedLeaves {
		if treemath.InSubtree(l.Node(), c) {
			unmerged = append(unmerged, l.Node())
		}
	}
	count := 0
	for k, d := range res {
		ph, ok := t.storedParentHash(d)
		if !ok || !bytes.Equal(ph, want) {
			continue
		}
		rest := slices.Delete(slices.Clone(res), k, k+1)
		slices.Sort(rest)
		if slices.Equal(rest, unmerged) {
			count++
		}
	}
	return count
}

// storedParentHash returns the parent_hash field of node x, if it has one
// (a parent, or a leaf set by a commit).
func (t *Tree) storedParentHash(x NodeIndex) ([]byte, bool) {
	n := t.nodes[x]
	switch {
	case n.parent != nil:
		return n.parent.ParentHash, true
	case n.leaf != nil && n.leaf.Source == SourceCommit:
		return n.leaf.ParentHash, true
	}
	return nil, false
}

// CheckLeafCompat checks a leaf about to enter the tree against the
// members it joins (RFC 9420 §7.3): its signature and encryption keys are
// new to the tree, its credential type is supported by every member, and
// it supports every member's credential type. replacing names the leaf it
// replaces (an Update or a commit's path), or is nil for an Add; that
// leaf's signature key and credential are not counted, but its encryption
// key is, since a replacement must bring a new one.
func (t *Tree) CheckLeafCompat(l *LeafNode, replacing *LeafIndex) error {
	for i, m := range t.Members() {
		if replacing != nil && i == *replacing {
			continue
		}
		if bytes.Equal(m.SignatureKey, l.SignatureKey) {
			return fmt.Errorf("%w: signature key of leaf %d", ErrDuplicateKey, i)
		}
		if !m.Capabilities.SupportsCredential(l.Credential.Type) {
			return fmt.Errorf("%w: leaf %d does not support credential type %d", ErrCapabilities, i, l.Credential.Type)
		}
		if !l.Capabilities.SupportsCredential(m.Credential.Type) {
			return fmt.Errorf("%w: credential type %d of leaf %d", ErrCapabilities, m.Credential.Type, i)
		}
	}
	// The replaced leaf's own encryption key counts too: an Update or a
	// commit must bring a fresh one.
	for x := range t.nodes {
		if bytes.Equal(t.EncryptionKey(NodeIndex(x)), l.EncryptionKey) {
			return fmt.Errorf("%w: encryption key of node %d", ErrDuplicateKey, x)
		}
	}
	return nil
}
