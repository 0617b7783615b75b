package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// keyPackageSignLabel is the SignWithLabel label of KeyPackageTBS.
const keyPackageSignLabel = "KeyPackageTBS"

// KeyPackage advertises a client that can be added to groups (RFC 9420
// §10). InitKey receives the Welcome's group secrets.
type KeyPackage struct {
	Version     tree.ProtocolVersion
	CipherSuite suite.ID
	InitKey     tree.HPKEPublicKey
	LeafNode    tree.LeafNode
	Extensions  tree.Extensions
	Signature   []byte
}

func (kp *KeyPackage) marshalTBS(w *codec.Writer) {
	w.Uint16(uint16(kp.Version))
	w.Uint16(uint16(kp.CipherSuite))
	w.Opaque(kp.InitKey)
	kp.LeafNode.MarshalTLS(w)
	kp.Extensions.MarshalTLS(w)
}

// MarshalTLS encodes kp.
func (kp *KeyPackage) MarshalTLS(w *codec.Writer) {
	kp.marshalTBS(w)
	w.Opaque(kp.Signature)
}

// UnmarshalTLS decodes kp. Only mls10 is accepted.
func (kp *KeyPackage) UnmarshalTLS(r *codec.Reader) {
	*kp = KeyPackage{}
	kp.Version = readVersion(r)
	kp.CipherSuite = suite.ID(r.Uint16())
	kp.InitKey = r.Opaque()
	kp.LeafNode.UnmarshalTLS(r)
	kp.Extensions.UnmarshalTLS(r)
	kp.Signature = r.Opaque()
}

// TBS returns the encoded KeyPackageTBS.
func (kp *KeyPackage) TBS() []byte {
	w := codec.NewWriter(512)
	kp.marshalTBS(w)
	return w.Bytes()
}

// Sign sets kp.Signature with the leaf's signature key. The leaf node
// must already be signed.
func (kp *KeyPackage) Sign(s *suite.Suite, key *suite.SigningKey) error {
	sig, err := s.SignWithLabel(key, keyPackageSignLabel, kp.TBS())
	if err != nil {
		return fmt.Errorf("mls: sign key package: %w", err)
	}
	kp.Signature = sig
	return nil
}

// Ref returns the KeyPackageRef, RefHash("MLS 1.0 KeyPackage Reference",
// KeyPackage), which Welcome messages use to address new members.
func (kp *KeyPackage) Ref(s *suite.Suite) []byte {
	return s.RefHash(keyPackageRefLabel, codec.Marshal(kp))
}

// KeyPackageCheck is the context of a KeyPackage validation.
type KeyPackageCheck struct {
	// Suite is the group's cipher suite; the key package must match it.
	Suite *suite.Suite
	// Now is the current Unix time in seconds; the key package's
	// lifetime must contain it. Zero skips the lifetime check.
	Now uint64
	// Required is the group's required_capabilities, if any.
	Required *tree.RequiredCapabilities
}

// Validate checks kp as RFC 9420 §10.1 requires: version and suite match
// the group, the leaf node is a valid key_package leaf (signature,
// lifetime, capabilities), the KeyPackage signature verifies, and the
// init key is a valid HPKE key different from the leaf's encryption key.
// Failures wrap ErrInvalidKeyPackage, ErrKeyPackageExpired or
// ErrBadSignature.
func (kp *KeyPackage) Validate(c *KeyPackageCheck) error {
	s := c.Suite
	if kp.Version != tree.MLS10 {
		return fmt.Errorf("%w: version %d", ErrInvalidKeyPackage, kp.Version)
	}
	if kp.CipherSuite != s.ID() {
		return fmt.Errorf("%w: suite %v in a group of %v", ErrInvalidKeyPackage, kp.CipherSuite, s.ID())
	}
	if err := kp.LeafNode.Check(s, &tree.LeafCheck{Source: tree.SourceKeyPackage, Required: c.Required, Now: c.Now}); err != nil {
		switch {
		case errors.Is(err, tree.ErrLifetime):
			return fmt.Errorf("%w: %w", ErrKeyPackageExpired, err)
		case errors.Is(err, tree.ErrInvalidSignature):
			return fmt.Errorf("%w: leaf node: %w", ErrBadSignature, err)
		}
		return fmt.Errorf("%w: leaf node: %w", ErrInvalidKeyPackage, err)
	}
	if err := s.VerifyWithLabel(kp.LeafNode.SignatureKey, keyPackageSignLabel, kp.TBS(), kp.Signature); err != nil {
		return fmt.Errorf("%w: key package: %w", ErrBadSignature, err)
	}
	if err := s.ValidateHPKEPublicKey(kp.InitKey); err != nil {
		return fmt.Errorf("%w: init key: %w", ErrInvalidKeyPackage, err)
	}
	if bytes.Equal(kp.InitKey, kp.LeafNode.EncryptionKey) {
		return fmt.Errorf("%w: init key equals the leaf's encryption key", ErrInvalidKeyPackage)
	}
	for _, x := range kp.Extensions {
		if !kp.LeafNode.Capabilities.SupportsExtension(x.Type) {
			return fmt.Errorf("%w: extension %d not in the leaf's capabilities", ErrInvalidKeyPackage, x.Type)
		}
	}
	return nil
}
