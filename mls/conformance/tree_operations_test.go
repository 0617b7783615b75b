package conformance

import (
	"bytes"
	"testing"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

type treeOperationsVector struct {
	CipherSuite    uint16   `json:"cipher_suite"`
	TreeBefore     hexBytes `json:"tree_before"`
	Proposal       hexBytes `json:"proposal"`
	ProposalSender uint32   `json:"proposal_sender"`
	TreeHashBefore hexBytes `json:"tree_hash_before"`
	TreeAfter      hexBytes `json:"tree_after"`
	TreeHashAfter  hexBytes `json:"tree_hash_after"`
}

// treeProposal is the part of a Proposal that acts on the tree, decoded
// here so that the tree package is tested without the group layer.
type treeProposal struct {
	typ     tree.ProposalType
	leaf    tree.LeafNode // add (the KeyPackage's leaf) and update
	removed tree.LeafIndex
}

func (p *treeProposal) UnmarshalTLS(r *codec.Reader) {
	p.typ = tree.ProposalType(r.Uint16())
	switch p.typ {
	case tree.ProposalAdd: // KeyPackage
		r.Uint16() // version
		r.Uint16() // cipher_suite
		r.Opaque() // init_key
		p.leaf.UnmarshalTLS(r)
		var ext tree.Extensions
		ext.UnmarshalTLS(r)
		r.Opaque() // signature
	case tree.ProposalUpdate:
		p.leaf.UnmarshalTLS(r)
	case tree.ProposalRemove:
		p.removed = tree.LeafIndex(r.Uint32())
	default:
		r.Fail(codec.ErrInvalidValue)
	}
}

func TestTreeOperations(t *testing.T) {
	var vs []treeOperationsVector
	load(t, "tree-operations.json", &vs)
	for n, v := range vs {
		cs, err := suite.Get(suite.ID(v.CipherSuite))
		if err != nil {
			unsupported("tree-operations.json", v.CipherSuite)
			continue
		}
		tr, err := tree.Decode(cs, v.TreeBefore)
		if err != nil {
			t.Errorf("vector %d: decode tree_before: %v", n, err)
			continue
		}
		if !bytes.Equal(tr.Encode(), v.TreeBefore) {
			t.Errorf("vector %d: tree_before does not re-encode", n)
			continue
		}
		if got := tr.TreeHash(); !bytes.Equal(got, v.TreeHashBefore) {
			t.Errorf("vector %d: tree hash before %x, want %x", n, got, v.TreeHashBefore)
			continue
		}
		var p treeProposal
		if err := codec.Unmarshal(v.Proposal, &p); err != nil {
			t.Errorf("vector %d: decode proposal: %v", n, err)
			continue
		}
		switch p.typ {
		case tree.ProposalAdd:
			_, err = tr.AddLeaf(&p.leaf)
		case tree.ProposalUpdate:
			err = tr.UpdateLeaf(tree.LeafIndex(v.ProposalSender), &p.leaf)
		case tree.ProposalRemove:
			err = tr.RemoveLeaf(p.removed)
		}
		if err != nil {
			t.Errorf("vector %d: apply proposal %d: %v", n, p.typ, err)
			continue
		}
		if got := tr.Encode(); !bytes.Equal(got, v.TreeAfter) {
			t.Errorf("vector %d (proposal %d): tree after differs", n, p.typ)
			continue
		}
		if got := tr.TreeHash(); !bytes.Equal(got, v.TreeHashAfter) {
			t.Errorf("vector %d: tree hash after %x, want %x", n, got, v.TreeHashAfter)
			continue
		}
		// The cached hashes must agree with a fresh computation.
		fresh, err := tree.Decode(cs, v.TreeAfter)
		if err != nil || !bytes.Equal(fresh.TreeHash(), v.TreeHashAfter) {
			t.Errorf("vector %d: fresh decode of tree_after: %v", n, err)
			continue
		}
		verified("tree-operations.json")
	}
}
