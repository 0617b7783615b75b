package suite

import (
	"fmt"
	"log/slog"

	"github.com/parleyhq/parley/mls/codec"
)

// kemBackend is one HPKE implementation (KEM, KDF and AEAD fixed by the
// suite). priv values are backend-specific parsed private keys.
type kemBackend interface {
	generate() (priv any, privBytes, pub []byte, err error)
	derive(ikm []byte) (priv any, privBytes, pub []byte, err error)
	parsePrivate(b []byte) (priv any, privBytes, pub []byte, err error)
	validatePublic(pub []byte) error
	seal(pub, info, plaintext []byte) (enc, ct []byte, err error)
	open(priv any, enc, info, ct []byte) ([]byte, error)
	// exportSend and exportRecv run SetupBaseS/R with empty info and
	// return context.export(exporterContext, length).
	exportSend(pub []byte, exporterContext string, length int) (enc, secret []byte, err error)
	exportRecv(priv any, enc []byte, exporterContext string, length int) ([]byte, error)
}

// HPKEKey is an HPKE private key with its public key. It does not print its
// secret part.
type HPKEKey struct {
	suite ID
	pub   []byte
	raw   Secret // SerializePrivateKey output
	priv  any
	_     [0]func()
}

// Public returns the HPKEPublicKey octets (SerializePublicKey).
func (k *HPKEKey) Public() []byte { return k.pub }

// Private returns the SerializePrivateKey octets, which ParseHPKEKey
// accepts.
func (k *HPKEKey) Private() Secret { return k.raw }

// Suite returns the suite the key was made for.
func (k *HPKEKey) Suite() ID { return k.suite }

func (*HPKEKey) String() string             { return "HPKEKey" + redacted }
func (*HPKEKey) GoString() string           { return "HPKEKey" + redacted }
func (*HPKEKey) LogValue() slog.Value       { return slog.StringValue(redacted) }
func (*HPKEKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("HPKEKey" + redacted)) }

// GenerateHPKEKey returns a fresh HPKE key pair.
func (s *Suite) GenerateHPKEKey() (*HPKEKey, error) {
	priv, raw, pub, err := s.kem.generate()
	if err != nil {
		return nil, err
	}
	return &HPKEKey{suite: s.id, pub: pub, raw: secretOwn(raw), priv: priv}, nil
}

// DeriveKeyPair is the KEM's DeriveKeyPair(ikm) of RFC 9180 §7.1.3, used
// for tree node keys and the external key pair.
func (s *Suite) DeriveKeyPair(ikm Secret) (*HPKEKey, error) {
	priv, raw, pub, err := s.kem.derive(ikm.b)
	if err != nil {
		return nil, err
	}
	return &HPKEKey{suite: s.id, pub: pub, raw: secretOwn(raw), priv: priv}, nil
}

// ParseHPKEKey builds a key from SerializePrivateKey octets.
func (s *Suite) ParseHPKEKey(priv []byte) (*HPKEKey, error) {
	p, raw, pub, err := s.kem.parsePrivate(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return &HPKEKey{suite: s.id, pub: pub, raw: secretOwn(raw), priv: p}, nil
}

// ValidateHPKEPublicKey checks that pub is a valid HPKEPublicKey (on the
// curve, right length) for the suite.
func (s *Suite) ValidateHPKEPublicKey(pub []byte) error {
	if err := s.kem.validatePublic(pub); err != nil {
		return fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return nil
}

// encryptContext encodes EncryptContext{"MLS 1.0 "+label, context}.
func encryptContext(label string, context []byte) []byte {
	w := codec.NewWriter(len(labelPrefix) + len(label) + len(context) + 8)
	w.Varint(len(labelPrefix) + len(label))
	w.Raw([]byte(labelPrefix))
	w.Raw([]byte(label))
	w.Opaque(context)
	return w.Bytes()
}

// EncryptWithLabel is SealBase(pub, EncryptContext{label, context}, "",
// plaintext) (RFC 9420 §5.1.3). It returns the KEM output and ciphertext
// separately, as HPKECiphertext carries them.
func (s *Suite) EncryptWithLabel(pub []byte, label string, context, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	return s.kem.seal(pub, encryptContext(label, context), plaintext)
}

// DecryptWithLabel is OpenBase(kemOutput, key, EncryptContext{label,
// context}, "", ciphertext). Any failure is ErrDecrypt.
func (s *Suite) DecryptWithLabel(key *HPKEKey, label string, context, kemOutput, ciphertext []byte) ([]byte, error) {
	if key == nil || key.suite != s.id {
		return nil, ErrWrongSuite
	}
	pt, err := s.kem.open(key.priv, kemOutput, encryptContext(label, context), ciphertext)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// externalInitLabel is the HPKE exporter context of RFC 9420 §8.3.
const externalInitLabel = "MLS 1.0 external init secret"

// ExternalInit is the joiner's side of external initialization (RFC 9420
// §8.3): it encapsulates to the group's external_pub and returns the
// kem_output for the ExternalInit proposal and the new init_secret.
func (s *Suite) ExternalInit(externalPub []byte) (kemOutput []byte, initSecret Secret, err error) {
	enc, secret, err := s.kem.exportSend(externalPub, externalInitLabel, s.nh)
	if err != nil {
		return nil, Secret{}, err
	}
	return enc, secretOwn(secret), nil
}

// ExternalInitSecret is the group members' side of ExternalInit: it
// recovers init_secret from kem_output with the external private key.
func (s *Suite) ExternalInitSecret(externalKey *HPKEKey, kemOutput []byte) (Secret, error) {
	if externalKey == nil || externalKey.suite != s.id {
		return Secret{}, ErrWrongSuite
	}
	secret, err := s.kem.exportRecv(externalKey.priv, kemOutput, externalInitLabel, s.nh)
	if err != nil {
		return Secret{}, ErrDecrypt
	}
	return secretOwn(secret), nil
}
