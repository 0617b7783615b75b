package tree

import (
	"bytes"
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/treemath"
)

// MarshalTLS encodes t as optional<Node> ratchet_tree<V>
// (RFC 9420 §12.4.3.3), leaving out blank nodes after the last non-blank
// one.
func (t *Tree) MarshalTLS(w *codec.Writer) {
	end := len(t.nodes)
	for end > 0 && t.nodes[end-1].blank() {
		end--
	}
	w.Vector(func(w *codec.Writer) {
		for _, n := range t.nodes[:end] {
			w.Optional(!n.blank())
			switch {
			case n.leaf != nil:
				w.Uint8(nodeTypeLeaf)
				n.leaf.MarshalTLS(w)
			case n.parent != nil:
				w.Uint8(nodeTypeParent)
				n.parent.MarshalTLS(w)
			}
		}
	})
}

// Encode returns the ratchet_tree encoding of t.
func (t *Tree) Encode() []byte {
	w := codec.NewWriter(len(t.nodes) * 128)
	t.MarshalTLS(w)
	return w.Bytes()
}

// Extension returns t as a ratchet_tree extension.
func (t *Tree) Extension() Extension {
	return Extension{Type: ExtRatchetTree, Data: t.Encode()}
}

// Decode parses a ratchet_tree (the data of the extension) for suite cs.
// It checks the encoding only: node kinds at their positions, a non-blank
// last node, the size bound. Validate checks the contents. Decode copies
// data, so the caller may reuse it.
func Decode(cs *suite.Suite, data []byte) (*Tree, error) {
	r := codec.NewReader(bytes.Clone(data))
	t := &Tree{cs: cs}
	t.UnmarshalTLS(r)
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("tree: decode ratchet tree: %w", err)
	}
	return t, nil
}

// RatchetTree decodes the ratchet_tree extension, if present.
func (e Extensions) RatchetTree(cs *suite.Suite) (t *Tree, ok bool, err error) {
	data, ok := e.Find(ExtRatchetTree)
	if !ok {
		return nil, false, nil
	}
	t, err = Decode(cs, data)
	return t, true, err
}

// UnmarshalTLS decodes a ratchet_tree into t, whose suite must be set.
// The result aliases r's input.
func (t *Tree) UnmarshalTLS(r *codec.Reader) {
	t.nodes = t.nodes[:0]
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			if len(t.nodes) >= int(treemath.NodeWidth(MaxLeaves)) {
				r.Fail(fmt.Errorf("%w: more than %d leaves", ErrMalformedTree, MaxLeaves))
				return
			}
			var n node
			if r.Optional() {
				typ := r.Uint8()
				even := len(t.nodes)%2 == 0
				switch {
				case typ == nodeTypeLeaf && even:
					n.leaf = new(LeafNode)
					n.leaf.UnmarshalTLS(r)
				case typ == nodeTypeParent && !even:
					n.parent = new(ParentNode)
					n.parent.UnmarshalTLS(r)
				default:
					r.Fail(fmt.Errorf("%w: type %d at node %d", ErrInvalidNodeType, typ, len(t.nodes)))
					return
				}
			}
			t.nodes = append(t.nodes, n)
		}
	})
	if r.Err() != nil {
		return
	}
	if len(t.nodes) == 0 || t.nodes[len(t.nodes)-1].blank() {
		r.Fail(fmt.Errorf("%w: empty or ends in a blank node", ErrMalformedTree))
		return
	}
	// Pad with blanks to the width of the smallest complete tree.
	n := uint32(1)
	for treemath.NodeWidth(n) < uint32(len(t.nodes)) {
		n *= 2
	}
	w := int(treemath.NodeWidth(n))
	t.nodes = append(t.nodes, make([]node, w-len(t.nodes))...)
	t.hashes = make([][]byte, w)
}
