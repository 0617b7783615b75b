package mls

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// Key package lifetimes. A key package is valid from NotBefore to NotAfter
// (RFC 9420 §7.2); NotBefore is backdated by MaxClockSkew so that a peer
// whose clock runs slightly behind still accepts it.
const (
	// DefaultKeyPackageLifetime is the lifetime of a key package made
	// without KeyPackageOptions.Lifetime.
	DefaultKeyPackageLifetime = 90 * 24 * time.Hour
	// MaxKeyPackageLifetime is the longest total lifetime ParseKeyPackage
	// and AddMembers accept: RFC 9420 §7.2 asks applications to bound it
	// so a stolen key package cannot be used for years. Last-resort
	// packages are replaced well within it.
	MaxKeyPackageLifetime = 400 * 24 * time.Hour
	// MaxClockSkew is how far apart two clients' clocks may be when
	// judging a lifetime.
	MaxClockSkew = time.Hour
)

// ExtLastResort is the last_resort key package extension (RFC 9420 §17.3
// registry, value 0x000a): the package may be used more than once.
const ExtLastResort tree.ExtensionType = 0x000a

// KeyPackageOptions shape a new key package. The zero value makes a
// one-time package with DefaultKeyPackageLifetime, starting now.
type KeyPackageOptions struct {
	// LastResort adds the last_resort extension.
	LastResort bool
	// Lifetime is the validity period; zero means
	// DefaultKeyPackageLifetime. It may not exceed MaxKeyPackageLifetime.
	Lifetime time.Duration
	// Now is the creation time; zero means time.Now().
	Now time.Time
}

// KeyPackageBundle is a key package with its private keys: the init key
// that opens the Welcome and the leaf's encryption key.
type KeyPackageBundle struct {
	kp      *KeyPackage
	cs      *suite.Suite
	msg     []byte // MLSMessage(KeyPackage)
	ref     []byte
	initKey *suite.HPKEKey
	encKey  *suite.HPKEKey
}

// capabilitiesFor is what Parley clients advertise: mls10, the suite in
// use, basic credentials, and the non-default extension it understands.
func capabilitiesFor(id suite.ID) tree.Capabilities {
	return tree.Capabilities{
		Versions:     []tree.ProtocolVersion{tree.MLS10},
		CipherSuites: []suite.ID{id},
		Extensions:   []tree.ExtensionType{ExtLastResort},
		Credentials:  []tree.CredentialType{tree.CredentialBasic},
	}
}

// checkIdentity returns the identity's suite after checking that its
// signing key belongs to it.
func checkIdentity(id Identity) (*suite.Suite, error) {
	cs, err := suite.Get(id.Suite)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if id.SigningKey == nil || id.SigningKey.Suite() != id.Suite {
		return nil, fmt.Errorf("mls: identity's signing key is not of suite %v", id.Suite)
	}
	return cs, nil
}

// NewKeyPackage makes a key package for id with fresh init and
// encryption keys.
func NewKeyPackage(id Identity, opts KeyPackageOptions) (*KeyPackageBundle, error) {
	cs, err := checkIdentity(id)
	if err != nil {
		return nil, err
	}
	lifetime := opts.Lifetime
	if lifetime == 0 {
		lifetime = DefaultKeyPackageLifetime
	}
	if lifetime < 0 || lifetime > MaxKeyPackageLifetime {
		return nil, fmt.Errorf("mls: key package lifetime %v outside (0, %v]", lifetime, MaxKeyPackageLifetime)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	initKey, err := cs.GenerateHPKEKey()
	if err != nil {
		return nil, err
	}
	encKey, err := cs.GenerateHPKEKey()
	if err != nil {
		return nil, err
	}
	kp := &KeyPackage{
		Version:     tree.MLS10,
		CipherSuite: id.Suite,
		InitKey:     initKey.Public(),
		LeafNode: tree.LeafNode{
			EncryptionKey: encKey.Public(),
			SignatureKey:  id.SigningKey.Public(),
			Credential:    tree.BasicCredential(bytes.Clone(id.Credential)),
			Capabilities:  capabilitiesFor(id.Suite),
			Source:        tree.SourceKeyPackage,
			Lifetime: tree.Lifetime{
				NotBefore: uint64(now.Add(-MaxClockSkew).Unix()),
				NotAfter:  uint64(now.Add(lifetime - MaxClockSkew).Unix()),
			},
		},
	}
	if opts.LastResort {
		kp.Extensions = tree.Extensions{{Type: ExtLastResort, Data: []byte{}}}
	}
	if err := kp.LeafNode.Sign(cs, id.SigningKey, nil, 0); err != nil {
		return nil, err
	}
	if err := kp.Sign(cs, id.SigningKey); err != nil {
		return nil, err
	}
	return newBundle(cs, kp, initKey, encKey), nil
}

func newBundle(cs *suite.Suite, kp *KeyPackage, initKey, encKey *suite.HPKEKey) *KeyPackageBundle {
	return &KeyPackageBundle{
		kp:      kp,
		cs:      cs,
		msg:     NewKeyPackageMLSMessage(kp).Encode(),
		ref:     kp.Ref(cs),
		initKey: initKey,
		encKey:  encKey,
	}
}

// NewKeyPackageBundle assembles a bundle from a key package made
// elsewhere (an MLSMessage(KeyPackage)) and its private keys, checking
// that they match. The conformance tests use it with the vectors' keys.
func NewKeyPackageBundle(keyPackage []byte, initKey, encryptionKey *suite.HPKEKey) (*KeyPackageBundle, error) {
	m, err := DecodeMLSMessage(keyPackage)
	if err != nil {
		return nil, err
	}
	if m.WireFormat != WireKeyPackage {
		return nil, fmt.Errorf("%w: %v where a key package was expected", ErrWireFormat, m.WireFormat)
	}
	kp := m.KeyPackage
	cs, err := suite.Get(kp.CipherSuite)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if initKey == nil || encryptionKey == nil ||
		!bytes.Equal(initKey.Public(), kp.InitKey) || !bytes.Equal(encryptionKey.Public(), kp.LeafNode.EncryptionKey) {
		return nil, fmt.Errorf("%w: private keys do not match the key package", ErrInvalidKeyPackage)
	}
	return newBundle(cs, kp, initKey, encryptionKey), nil
}

// Message returns the MLSMessage(KeyPackage) to upload.
func (b *KeyPackageBundle) Message() []byte { return bytes.Clone(b.msg) }

// Ref returns the KeyPackageRef, by which a Welcome addresses the package.
func (b *KeyPackageBundle) Ref() []byte { return bytes.Clone(b.ref) }

// LastResort reports whether the package carries the last_resort
// extension (and so may be kept after use).
func (b *KeyPackageBundle) LastResort() bool { return b.kp.Extensions.Has(ExtLastResort) }

// bundleVersion tags the persisted form of a bundle.
const bundleVersion = 1

// Marshal returns the bundle, private keys included, for local storage.
func (b *KeyPackageBundle) Marshal() []byte {
	w := codec.NewWriter(len(b.msg) + 128)
	w.Uint8(bundleVersion)
	w.Opaque(b.msg)
	w.Opaque(b.initKey.Private().Bytes())
	w.Opaque(b.encKey.Private().Bytes())
	return w.Bytes()
}

// UnmarshalKeyPackageBundle restores a bundle written by Marshal.
func UnmarshalKeyPackageBundle(data []byte) (*KeyPackageBundle, error) {
	r := codec.NewReader(data)
	v := r.Uint8()
	msg, initPriv, encPriv := r.Opaque(), r.Opaque(), r.Opaque()
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: key package bundle: %w", ErrMalformed, err)
	}
	if v != bundleVersion {
		return nil, fmt.Errorf("%w: key package bundle version %d", ErrStateVersion, v)
	}
	m, err := DecodeMLSMessage(msg)
	if err != nil {
		return nil, err
	}
	if m.WireFormat != WireKeyPackage {
		return nil, fmt.Errorf("%w: key package bundle holds a %v", ErrMalformed, m.WireFormat)
	}
	cs, err := suite.Get(m.KeyPackage.CipherSuite)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	initKey, err := cs.ParseHPKEKey(initPriv)
	if err != nil {
		return nil, fmt.Errorf("%w: key package bundle: %w", ErrMalformed, err)
	}
	encKey, err := cs.ParseHPKEKey(encPriv)
	if err != nil {
		return nil, fmt.Errorf("%w: key package bundle: %w", ErrMalformed, err)
	}
	return NewKeyPackageBundle(msg, initKey, encKey)
}

// ParseKeyPackage decodes and validates a peer's MLSMessage(KeyPackage)
// as a member about to add it would (RFC 9420 §10.1): a supported suite,
// signatures, capabilities, a lifetime that contains now and is not longer
// than MaxKeyPackageLifetime, and an init key distinct from the leaf's
// encryption key.
func ParseKeyPackage(msg []byte, now time.Time) (*KeyPackage, error) {
	m, err := DecodeMLSMessage(msg)
	if err != nil {
		return nil, err
	}
	if m.WireFormat != WireKeyPackage {
		return nil, fmt.Errorf("%w: %v where a key package was expected", ErrWireFormat, m.WireFormat)
	}
	cs, err := suite.Get(m.KeyPackage.CipherSuite)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %w", ErrInvalidKeyPackage, ErrUnsupported, err)
	}
	if err := validateKeyPackage(cs, m.KeyPackage, now, nil); err != nil {
		return nil, err
	}
	return m.KeyPackage, nil
}

// validateKeyPackage is the check of a key package this client is about
// to use: KeyPackage.Validate with a strict lifetime, plus the bound on the
// total lifetime.
func validateKeyPackage(cs *suite.Suite, kp *KeyPackage, now time.Time, required *tree.RequiredCapabilities) error {
	lt := kp.LeafNode.Lifetime
	if lt.NotAfter < lt.NotBefore || lt.NotAfter-lt.NotBefore > uint64(MaxKeyPackageLifetime/time.Second) {
		return fmt.Errorf("%w: lifetime of %d seconds exceeds the maximum", ErrInvalidKeyPackage, lt.NotAfter-lt.NotBefore)
	}
	t := unixSeconds(now)
	// Allow for the peer's clock being ahead of ours at the start, and
	// ours ahead of theirs at the end.
	switch {
	case t+uint64(MaxClockSkew/time.Second) < lt.NotBefore:
		return fmt.Errorf("%w: not valid before %d", ErrKeyPackageExpired, lt.NotBefore)
	case t > lt.NotAfter && t-lt.NotAfter > uint64(MaxClockSkew/time.Second):
		return fmt.Errorf("%w: expired at %d", ErrKeyPackageExpired, lt.NotAfter)
	}
	return kp.Validate(&KeyPackageCheck{Suite: cs, Required: required})
}

func unixSeconds(t time.Time) uint64 {
	if t.Unix() < 0 {
		return 0
	}
	return uint64(t.Unix())
}

// Credential returns the basic credential identity of the key package's
// client (nil for other credential types).
func (kp *KeyPackage) Credential() []byte { return credentialIdentity(&kp.LeafNode.Credential) }

// NotAfter returns the end of the key package's lifetime: the last
// second it is valid (RFC 9420 §7.2). A delivery service keeps it with
// the package so it never hands out one nobody can add any more.
func (kp *KeyPackage) NotAfter() time.Time {
	return time.Unix(int64(min(kp.LeafNode.Lifetime.NotAfter, math.MaxInt64)), 0).UTC()
}

// SignatureKey returns the client's signature public key.
func (kp *KeyPackage) SignatureKey() []byte { return bytes.Clone(kp.LeafNode.SignatureKey) }

func credentialIdentity(c *tree.Credential) []byte {
	if c.Type != tree.CredentialBasic {
		return nil
	}
	return bytes.Clone(c.Identity)
}
