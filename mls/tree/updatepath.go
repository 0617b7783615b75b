package tree

import "github.com/parleyhq/parley/mls/codec"

// HPKECiphertext is one HPKE encryption (RFC 9420 §7.6).
type HPKECiphertext struct {
	KEMOutput  []byte
	Ciphertext []byte
}

// MarshalTLS encodes c.
func (c *HPKECiphertext) MarshalTLS(w *codec.Writer) {
	w.Opaque(c.KEMOutput)
	w.Opaque(c.Ciphertext)
}

// UnmarshalTLS decodes c.
func (c *HPKECiphertext) UnmarshalTLS(r *codec.Reader) {
	c.KEMOutput = r.Opaque()
	c.Ciphertext = r.Opaque()
}

// UpdatePathNode is the new public key of one node of the committer's
// filtered direct path and its path secret encrypted to each node of the
// copath child's resolution (RFC 9420 §7.6).
type UpdatePathNode struct {
	EncryptionKey       HPKEPublicKey
	EncryptedPathSecret []HPKECiphertext
}

// MarshalTLS encodes n.
func (n *UpdatePathNode) MarshalTLS(w *codec.Writer) {
	w.Opaque(n.EncryptionKey)
	w.Vector(func(w *codec.Writer) {
		for i := range n.EncryptedPathSecret {
			n.EncryptedPathSecret[i].MarshalTLS(w)
		}
	})
}

// UnmarshalTLS decodes n.
func (n *UpdatePathNode) UnmarshalTLS(r *codec.Reader) {
	n.EncryptionKey = r.Opaque()
	n.EncryptedPathSecret = nil
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			var c HPKECiphertext
			c.UnmarshalTLS(r)
			n.EncryptedPathSecret = append(n.EncryptedPathSecret, c)
		}
	})
}

// UpdatePath carries a committer's new leaf and path (RFC 9420 §7.6).
type UpdatePath struct {
	LeafNode LeafNode
	Nodes    []UpdatePathNode
}

// MarshalTLS encodes p.
func (p *UpdatePath) MarshalTLS(w *codec.Writer) {
	p.LeafNode.MarshalTLS(w)
	w.Vector(func(w *codec.Writer) {
		for i := range p.Nodes {
			p.Nodes[i].MarshalTLS(w)
		}
	})
}

// UnmarshalTLS decodes p.
func (p *UpdatePath) UnmarshalTLS(r *codec.Reader) {
	p.LeafNode.UnmarshalTLS(r)
	p.Nodes = nil
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			var n UpdatePathNode
			n.UnmarshalTLS(r)
			p.Nodes = append(p.Nodes, n)
		}
	})
}
