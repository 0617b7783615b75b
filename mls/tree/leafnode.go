package tree

import (
	"bytes"
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/treemath"
)

// HPKEPublicKey is an HPKE public key in the KEM's serialized form.
type HPKEPublicKey []byte

// SignaturePublicKey is a signature public key in the suite's wire form.
type SignaturePublicKey []byte

// LeafNodeSource says how a leaf node came into the tree, which decides
// whether it carries a lifetime or a parent hash and whether its signature
// binds the group (RFC 9420 §7.2).
type LeafNodeSource uint8

// The leaf node sources.
const (
	SourceKeyPackage LeafNodeSource = 1
	SourceUpdate     LeafNodeSource = 2
	SourceCommit     LeafNodeSource = 3
)

func (s LeafNodeSource) String() string {
	switch s {
	case SourceKeyPackage:
		return "key_package"
	case SourceUpdate:
		return "update"
	case SourceCommit:
		return "commit"
	}
	return fmt.Sprintf("LeafNodeSource(%d)", uint8(s))
}

// leafNodeSignLabel is the SignWithLabel label of LeafNodeTBS.
const leafNodeSignLabel = "LeafNodeTBS"

// LeafNode describes one member (RFC 9420 §7.2). Lifetime is meaningful
// only for SourceKeyPackage and ParentHash only for SourceCommit.
//
// A LeafNode stored in a Tree is shared between clones and must not be
// modified; build a new one and install it instead.
type LeafNode struct {
	EncryptionKey HPKEPublicKey
	SignatureKey  SignaturePublicKey
	Credential    Credential
	Capabilities  Capabilities
	Source        LeafNodeSource
	Lifetime      Lifetime
	ParentHash    []byte
	Extensions    Extensions
	Signature     []byte
}

// marshalContent writes the fields common to LeafNode and LeafNodeTBS.
func (l *LeafNode) marshalContent(w *codec.Writer) {
	w.Opaque(l.EncryptionKey)
	w.Opaque(l.SignatureKey)
	l.Credential.MarshalTLS(w)
	l.Capabilities.MarshalTLS(w)
	w.Uint8(uint8(l.Source))
	switch l.Source {
	case SourceKeyPackage:
		w.Uint64(l.Lifetime.NotBefore)
		w.Uint64(l.Lifetime.NotAfter)
	case SourceUpdate:
	case SourceCommit:
		w.Opaque(l.ParentHash)
	default:
		panic(fmt.Sprintf("tree: cannot encode leaf node source %d", l.Source))
	}
	l.Extensions.MarshalTLS(w)
}

// MarshalTLS encodes l.
func (l *LeafNode) MarshalTLS(w *codec.Writer) {
	l.marshalContent(w)
	w.Opaque(l.Signature)
}

// UnmarshalTLS decodes l.
func (l *LeafNode) UnmarshalTLS(r *codec.Reader) {
	*l = LeafNode{}
	l.EncryptionKey = r.Opaque()
	l.SignatureKey = r.Opaque()
	l.Credential.UnmarshalTLS(r)
	l.Capabilities.UnmarshalTLS(r)
	l.Source = LeafNodeSource(r.Uint8())
	switch l.Source {
	case SourceKeyPackage:
		l.Lifetime.NotBefore = r.Uint64()
		l.Lifetime.NotAfter = r.Uint64()
	case SourceUpdate:
	case SourceCommit:
		l.ParentHash = r.Opaque()
	default:
		r.Fail(ErrInvalidLeafNodeSource)
		return
	}
	l.Extensions.UnmarshalTLS(r)
	l.Signature = r.Opaque()
}

// TBS returns the encoded LeafNodeTBS. groupID and index are bound for
// the update and commit sources and ignored for key_package.
func (l *LeafNode) TBS(groupID []byte, index treemath.LeafIndex) []byte {
	w := codec.NewWriter(256)
	l.marshalContent(w)
	if l.Source == SourceUpdate || l.Source == SourceCommit {
		w.Opaque(groupID)
		w.Uint32(uint32(index))
	}
	return w.Bytes()
}

// Sign sets l.Signature to SignWithLabel(key, "LeafNodeTBS", TBS). The
// caller sets every other field first, SignatureKey matching key.
func (l *LeafNode) Sign(cs *suite.Suite, key *suite.SigningKey, groupID []byte, index treemath.LeafIndex) error {
	sig, err := cs.SignWithLabel(key, leafNodeSignLabel, l.TBS(groupID, index))
	if err != nil {
		return fmt.Errorf("tree: sign leaf node: %w", err)
	}
	l.Signature = sig
	return nil
}

// VerifySignature checks l.Signature under l.SignatureKey.
func (l *LeafNode) VerifySignature(cs *suite.Suite, groupID []byte, index treemath.LeafIndex) error {
	if err := cs.VerifyWithLabel(l.SignatureKey, leafNodeSignLabel, l.TBS(groupID, index), l.Signature); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSignature, err)
	}
	return nil
}

// LeafCheck is the context in which a leaf node is validated.
type LeafCheck struct {
	// GroupID and Index are bound by the signature of update and commit
	// leaves.
	GroupID []byte
	Index   treemath.LeafIndex
	// Source, when non-zero, is the source the leaf must have where it
	// appears (key_package in a KeyPackage, update in an Update, commit
	// in an UpdatePath).
	Source LeafNodeSource
	// Required is the group's required_capabilities, if any.
	Required *RequiredCapabilities
	// Now, when non-zero, is the current Unix time; a key_package leaf
	// must then lie within its lifetime. Zero skips the check, which
	// RFC 9420 §7.3 allows for leaves received from others.
	Now uint64
}

// Check validates l on its own, as RFC 9420 §7.3 requires: well-formed
// keys, signature, source, lifetime, and capabilities covering its own
// credential and extensions and the group's required capabilities. The
// checks that need the rest of the group (unique keys, credential types
// supported by all) are Tree.CheckLeafCompat; credential validation with
// the Authentication Service is the application's.
func (l *LeafNode) Check(cs *suite.Suite, c *LeafCheck) error {
	if c.Source != 0 && l.Source != c.Source {
		return fmt.Errorf("%w: %v where %v is required", ErrInvalidLeafNodeSource, l.Source, c.Source)
	}
	if err := cs.ValidateHPKEPublicKey(l.EncryptionKey); err != nil {
		return fmt.Errorf("tree: leaf encryption key: %w", err)
	}
	if err := cs.ValidateSignaturePublicKey(l.SignatureKey); err != nil {
		return fmt.Errorf("tree: leaf signature key: %w", err)
	}
	if err := l.VerifySignature(cs, c.GroupID, c.Index); err != nil {
		return err
	}
	if c.Now != 0 && l.Source == SourceKeyPackage && !l.Lifetime.Contains(c.Now) {
		return ErrLifetime
	}
	if !l.Capabilities.SupportsCredential(l.Credential.Type) {
		return fmt.Errorf("%w: own credential type %d not listed", ErrCapabilities, l.Credential.Type)
	}
	for _, x := range l.Extensions {
		if !l.Capabilities.SupportsExtension(x.Type) {
			return fmt.Errorf("%w: own extension %d not listed", ErrCapabilities, x.Type)
		}
	}
	if !l.Capabilities.Satisfies(c.Required) {
		return fmt.Errorf("%w: group's required capabilities not met", ErrCapabilities)
	}
	return nil
}

// ParentNode is a non-blank parent of the ratchet tree (RFC 9420 §7.1).
// UnmergedLeaves is sorted in increasing order. Like LeafNode, a
// ParentNode stored in a Tree must not be modified.
type ParentNode struct {
	EncryptionKey  HPKEPublicKey
	ParentHash     []byte
	UnmergedLeaves []treemath.LeafIndex
}

// MarshalTLS encodes p.
func (p *ParentNode) MarshalTLS(w *codec.Writer) {
	w.Opaque(p.EncryptionKey)
	w.Opaque(p.ParentHash)
	w.Vector(func(w *codec.Writer) {
		for _, l := range p.UnmergedLeaves {
			w.Uint32(uint32(l))
		}
	})
}

// UnmarshalTLS decodes p. Sortedness is checked by tree validation, which
// can say which node is at fault.
func (p *ParentNode) UnmarshalTLS(r *codec.Reader) {
	*p = ParentNode{}
	p.EncryptionKey = r.Opaque()
	p.ParentHash = r.Opaque()
	r.Vector(func(r *codec.Reader) {
		if r.Len()%4 != 0 {
			r.Fail(codec.ErrTruncated)
			return
		}
		if r.Len() > 0 {
			p.UnmergedLeaves = make([]treemath.LeafIndex, 0, r.Len()/4)
		}
		for !r.Empty() {
			p.UnmergedLeaves = append(p.UnmergedLeaves, treemath.LeafIndex(r.Uint32()))
		}
	})
}

// Equal reports whether l and o encode identically.
func (l *LeafNode) Equal(o *LeafNode) bool {
	return bytes.Equal(codec.Marshal(l), codec.Marshal(o))
}
