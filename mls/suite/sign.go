package suite

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log/slog"

	"github.com/cloudflare/circl/sign/ed448"
	"github.com/parleyhq/parley/mls/codec"
)

// SigningKey is a signature private key of one suite's signature scheme.
// It does not print its secret part.
type SigningKey struct {
	suite ID
	pub   []byte
	ed    ed25519.PrivateKey
	ec    *ecdsa.PrivateKey
	ed448 ed448.PrivateKey
	raw   Secret // the vectors' private-key format, for storage
	_     [0]func()
}

// Public returns the SignaturePublicKey octets.
func (k *SigningKey) Public() []byte { return k.pub }

// Suite returns the suite the key was made for.
func (k *SigningKey) Suite() ID { return k.suite }

// Private returns the private key in the test vectors' format (raw EdDSA
// seed, big-endian ECDSA scalar), which ParseSigningKey accepts.
func (k *SigningKey) Private() Secret { return k.raw }

func (*SigningKey) String() string             { return "SigningKey" + redacted }
func (*SigningKey) GoString() string           { return "SigningKey" + redacted }
func (*SigningKey) LogValue() slog.Value       { return slog.StringValue(redacted) }
func (*SigningKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("SigningKey" + redacted)) }

func (s *Suite) curve() elliptic.Curve {
	switch s.sig {
	case sigP256:
		return elliptic.P256()
	case sigP384:
		return elliptic.P384()
	case sigP521:
		return elliptic.P521()
	}
	return nil
}

// GenerateSigningKey returns a fresh signature key pair.
func (s *Suite) GenerateSigningKey() (*SigningKey, error) {
	switch s.sig {
	case sigEd25519:
		seed := make([]byte, ed25519.SeedSize)
		rand.Read(seed)
		return s.ParseSigningKey(seed)
	case sigEd448:
		seed := make([]byte, ed448.SeedSize)
		rand.Read(seed)
		return s.ParseSigningKey(seed)
	default:
		k, err := ecdsa.GenerateKey(s.curve(), rand.Reader)
		if err != nil {
			return nil, err
		}
		raw, err := k.Bytes()
		if err != nil {
			return nil, err
		}
		return s.ParseSigningKey(raw)
	}
}

// ParseSigningKey builds a key from its private octets: the EdDSA seed, or
// the ECDSA scalar as a big-endian integer. A scalar shorter than the
// field (as some implementations write P-521 keys, dropping a leading
// zero) is left-padded.
func (s *Suite) ParseSigningKey(priv []byte) (*SigningKey, error) {
	if c := s.curve(); c != nil {
		priv = leftPad(priv, (c.Params().BitSize+7)/8)
	}
	k := &SigningKey{suite: s.id, raw: NewSecret(priv)}
	switch s.sig {
	case sigEd25519:
		if len(priv) != ed25519.SeedSize {
			return nil, fmt.Errorf("%w: Ed25519 seed of %d octets", ErrBadKey, len(priv))
		}
		k.ed = ed25519.NewKeyFromSeed(priv)
		k.pub = []byte(k.ed.Public().(ed25519.PublicKey))
	case sigEd448:
		if len(priv) != ed448.SeedSize {
			return nil, fmt.Errorf("%w: Ed448 seed of %d octets", ErrBadKey, len(priv))
		}
		k.ed448 = ed448.NewKeyFromSeed(priv)
		k.pub = []byte(k.ed448.Public().(ed448.PublicKey))
	default:
		ec, err := ecdsa.ParseRawPrivateKey(s.curve(), priv)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		k.ec = ec
		k.pub, err = ec.PublicKey.Bytes()
		if err != nil {
			return nil, err
		}
	}
	return k, nil
}

// ValidateSignaturePublicKey checks that pub is a well-formed public key of
// the suite's signature scheme.
func (s *Suite) ValidateSignaturePublicKey(pub []byte) error {
	switch s.sig {
	case sigEd25519:
		if len(pub) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: Ed25519 public key of %d octets", ErrBadKey, len(pub))
		}
	case sigEd448:
		if len(pub) != ed448.PublicKeySize {
			return fmt.Errorf("%w: Ed448 public key of %d octets", ErrBadKey, len(pub))
		}
	default:
		if _, err := ecdsa.ParseUncompressedPublicKey(s.curve(), pub); err != nil {
			return fmt.Errorf("%w: %v", ErrBadKey, err)
		}
	}
	return nil
}

// signContent encodes SignContent{"MLS 1.0 "+label, content} (§5.1.2).
func signContent(label string, content []byte) []byte {
	w := codec.NewWriter(len(labelPrefix) + len(label) + len(content) + 8)
	w.Varint(len(labelPrefix) + len(label))
	w.Raw([]byte(labelPrefix))
	w.Raw([]byte(label))
	w.Opaque(content)
	return w.Bytes()
}

// ecdsaDigest hashes msg for ECDSA with the hash the scheme names (SHA-256 for
// P-256, SHA-384 for P-384, SHA-512 for P-521), which is not always the
// suite's hash.
func (s *Suite) ecdsaDigest(msg []byte) []byte {
	switch s.sig {
	case sigP256:
		return hashWith(sha256Kind, msg)
	case sigP384:
		return hashWith(sha384Kind, msg)
	default:
		return hashWith(sha512Kind, msg)
	}
}

// SignWithLabel signs SignContent{label, content} with key.
func (s *Suite) SignWithLabel(key *SigningKey, label string, content []byte) ([]byte, error) {
	if key == nil || key.suite != s.id {
		return nil, ErrWrongSuite
	}
	msg := signContent(label, content)
	switch s.sig {
	case sigEd25519:
		return ed25519.Sign(key.ed, msg), nil
	case sigEd448:
		return ed448.Sign(key.ed448, msg, ""), nil
	default:
		return ecdsa.SignASN1(rand.Reader, key.ec, s.ecdsaDigest(msg))
	}
}

// VerifyWithLabel checks sig over SignContent{label, content} under pub;
// any failure, including a malformed key, is ErrBadSignature.
func (s *Suite) VerifyWithLabel(pub []byte, label string, content, sig []byte) error {
	msg := signContent(label, content)
	ok := false
	switch s.sig {
	case sigEd25519:
		ok = len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
	case sigEd448:
		ok = len(pub) == ed448.PublicKeySize && ed448.Verify(pub, msg, sig, "")
	default:
		pk, err := ecdsa.ParseUncompressedPublicKey(s.curve(), pub)
		ok = err == nil && ecdsa.VerifyASN1(pk, s.ecdsaDigest(msg), sig)
	}
	if !ok {
		return ErrBadSignature
	}
	return nil
}

// leftPad returns b left-padded with zeros to n octets (b itself if it is
// not shorter).
func leftPad(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	out := make([]byte, n)
	copy(out[n-len(b):], b)
	return out
}
