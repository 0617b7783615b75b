package schedule

import (
	"github.com/parleyhq/parley/mls/suite"
)

// Epoch holds the secrets derived from one epoch_secret (RFC 9420 §8,
// table "Epoch-Derived Secrets"), plus init_secret for the next epoch.
// epoch_secret itself is consumed by the derivation and not kept.
type Epoch struct {
	Suite              *suite.Suite
	SenderData         suite.Secret // "sender data"
	Encryption         suite.Secret // "encryption", root of the secret tree
	Exporter           suite.Secret // "exporter"
	External           suite.Secret // "external"
	Confirmation       suite.Secret // "confirm", the confirmation_key
	Membership         suite.Secret // "membership", the membership_key
	Resumption         suite.Secret // "resumption", the resumption_psk
	EpochAuthenticator suite.Secret // "authentication"
	Init               suite.Secret // "init", init_secret for the next epoch

	externalKey *suite.HPKEKey // cached ExternalKeyPair
}

// JoinerSecret is ExpandWithLabel(Extract(init_secret, commit_secret),
// "joiner", GroupContext, Nh). groupContext is the encoded GroupContext of
// the new epoch. A zero commitSecret means the all-zero vector.
func JoinerSecret(s *suite.Suite, initSecret, commitSecret suite.Secret, groupContext []byte) suite.Secret {
	if commitSecret.IsZero() {
		commitSecret = s.Zero()
	}
	prk := s.Extract(initSecret, commitSecret)
	return s.ExpandWithLabel(prk, "joiner", groupContext, s.HashSize())
}

// memberSecret is Extract(joiner_secret, psk_secret), from which both the
// welcome_secret and the epoch_secret derive. A zero pskSecret means the
// all-zero vector.
func memberSecret(s *suite.Suite, joinerSecret, pskSecret suite.Secret) suite.Secret {
	if pskSecret.IsZero() {
		pskSecret = s.Zero()
	}
	return s.Extract(joinerSecret, pskSecret)
}

// WelcomeSecret is DeriveSecret(Extract(joiner_secret, psk_secret),
// "welcome").
func WelcomeSecret(s *suite.Suite, joinerSecret, pskSecret suite.Secret) suite.Secret {
	return s.DeriveSecret(memberSecret(s, joinerSecret, pskSecret), "welcome")
}

// WelcomeKeyNonce derives the key and nonce that encrypt a Welcome's
// GroupInfo (RFC 9420 §12.4.3.1).
func WelcomeKeyNonce(s *suite.Suite, welcomeSecret suite.Secret) (key suite.Secret, nonce []byte) {
	key = s.ExpandWithLabel(welcomeSecret, "key", nil, s.KeySize())
	nonce = s.ExpandWithLabel(welcomeSecret, "nonce", nil, s.NonceSize()).Bytes()
	return key, nonce
}

// NewEpoch derives the epoch's secrets from the joiner_secret, the PSK
// secret (zero value for none) and the encoded GroupContext of the epoch.
func NewEpoch(s *suite.Suite, joinerSecret, pskSecret suite.Secret, groupContext []byte) *Epoch {
	epochSecret := s.ExpandWithLabel(memberSecret(s, joinerSecret, pskSecret), "epoch", groupContext, s.HashSize())
	e := FromEpochSecret(s, epochSecret)
	epochSecret.Wipe()
	return e
}

// FromEpochSecret derives the epoch's secrets from epoch_secret directly.
func FromEpochSecret(s *suite.Suite, epochSecret suite.Secret) *Epoch {
	return &Epoch{
		Suite:              s,
		SenderData:         s.DeriveSecret(epochSecret, "sender data"),
		Encryption:         s.DeriveSecret(epochSecret, "encryption"),
		Exporter:           s.DeriveSecret(epochSecret, "exporter"),
		External:           s.DeriveSecret(epochSecret, "external"),
		Confirmation:       s.DeriveSecret(epochSecret, "confirm"),
		Membership:         s.DeriveSecret(epochSecret, "membership"),
		Resumption:         s.DeriveSecret(epochSecret, "resumption"),
		EpochAuthenticator: s.DeriveSecret(epochSecret, "authentication"),
		Init:               s.DeriveSecret(epochSecret, "init"),
	}
}

// Export is MLS-Exporter(label, context, length) (RFC 9420 §8.5).
func (e *Epoch) Export(label string, context []byte, length int) (suite.Secret, error) {
	s := e.Suite
	if length < 0 || length > s.MaxExpand() {
		return suite.Secret{}, ErrExportLength
	}
	return s.ExpandWithLabel(s.DeriveSecret(e.Exporter, label), "exported", s.Hash(context), length), nil
}

// ExternalKeyPair is KEM.DeriveKeyPair(external_secret), the key pair
// whose public half GroupInfo publishes for external joins. It is derived
// once and cached.
func (e *Epoch) ExternalKeyPair() (*suite.HPKEKey, error) {
	if e.externalKey == nil {
		k, err := e.Suite.DeriveKeyPair(e.External)
		if err != nil {
			return nil, err
		}
		e.externalKey = k
	}
	return e.externalKey, nil
}

// ConfirmationTag is MAC(confirmation_key, confirmed_transcript_hash).
func (e *Epoch) ConfirmationTag(confirmedTranscriptHash []byte) []byte {
	return e.Suite.MAC(e.Confirmation, confirmedTranscriptHash)
}

// VerifyConfirmationTag checks tag in constant time.
func (e *Epoch) VerifyConfirmationTag(confirmedTranscriptHash, tag []byte) bool {
	return e.Suite.VerifyMAC(e.Confirmation, confirmedTranscriptHash, tag)
}

// MembershipTag is MAC(membership_key, AuthenticatedContentTBM), given the
// encoded AuthenticatedContentTBM.
func (e *Epoch) MembershipTag(tbm []byte) []byte {
	return e.Suite.MAC(e.Membership, tbm)
}

// VerifyMembershipTag checks tag in constant time.
func (e *Epoch) VerifyMembershipTag(tbm, tag []byte) bool {
	return e.Suite.VerifyMAC(e.Membership, tbm, tag)
}

// Wipe zeroes every secret of the epoch. Call it when the epoch is
// replaced (after the resumption PSK has been saved, if wanted).
func (e *Epoch) Wipe() {
	for _, s := range []suite.Secret{e.SenderData, e.Encryption, e.Exporter, e.External,
		e.Confirmation, e.Membership, e.Resumption, e.EpochAuthenticator, e.Init} {
		s.Wipe()
	}
	e.externalKey = nil
}

// SecretTree returns a fresh secret tree over the epoch's encryption
// secret for a ratchet tree of nLeaves leaves.
func (e *Epoch) SecretTree(nLeaves uint32) *SecretTree {
	return NewSecretTree(e.Suite, e.Encryption, nLeaves)
}
