package suite

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha512"
	"fmt"

	circlhpke "github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem"
)

// x448Backend is HPKE with DHKEM(X448, HKDF-SHA512) from circl, which the
// standard library lacks. circl's DeriveKeyPair insists on a 56-octet seed
// while RFC 9180 (and MLS, which feeds it 64-octet secrets) allows any
// length, so derivation is done here per RFC 9180 §7.1.3 and only the
// resulting scalar is handed to circl.
type x448Backend struct {
	scheme kem.Scheme
	suite  circlhpke.Suite
}

func x448KEM(aead circlhpke.AEAD) kemBackend {
	return &x448Backend{
		scheme: circlhpke.KEM_X448_HKDF_SHA512.Scheme(),
		suite:  circlhpke.NewSuite(circlhpke.KEM_X448_HKDF_SHA512, circlhpke.KDF_HKDF_SHA512, aead),
	}
}

// x448SuiteID is "KEM" || I2OSP(0x0021, 2), the KEM's suite_id in its
// labelled HKDF calls.
var x448SuiteID = []byte{'K', 'E', 'M', 0x00, 0x21}

const x448PrivateSize = 56

func (b *x448Backend) wrap(sk kem.PrivateKey) (any, []byte, []byte, error) {
	raw, err := sk.MarshalBinary()
	if err != nil {
		return nil, nil, nil, err
	}
	pub, err := sk.Public().MarshalBinary()
	if err != nil {
		return nil, nil, nil, err
	}
	return sk, raw, pub, nil
}

func (b *x448Backend) generate() (any, []byte, []byte, error) {
	_, sk, err := b.scheme.GenerateKeyPair()
	if err != nil {
		return nil, nil, nil, err
	}
	return b.wrap(sk)
}

func (b *x448Backend) derive(ikm []byte) (any, []byte, []byte, error) {
	// dkp_prk = LabeledExtract("", "dkp_prk", ikm)
	labeledIKM := append(append(append([]byte("HPKE-v1"), x448SuiteID...), "dkp_prk"...), ikm...)
	prk, err := hkdf.Extract(sha512.New, labeledIKM, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	// sk = LabeledExpand(dkp_prk, "sk", "", Nsk)
	info := append(append([]byte{0, x448PrivateSize}, "HPKE-v1"...), x448SuiteID...)
	info = append(info, "sk"...)
	skBytes, err := hkdf.Expand(sha512.New, prk, string(info), x448PrivateSize)
	if err != nil {
		return nil, nil, nil, err
	}
	sk, err := b.scheme.UnmarshalBinaryPrivateKey(skBytes)
	if err != nil {
		return nil, nil, nil, err
	}
	return b.wrap(sk)
}

func (b *x448Backend) parsePrivate(raw []byte) (any, []byte, []byte, error) {
	sk, err := b.scheme.UnmarshalBinaryPrivateKey(raw)
	if err != nil {
		return nil, nil, nil, err
	}
	return b.wrap(sk)
}

func (b *x448Backend) validatePublic(pub []byte) error {
	if len(pub) != b.scheme.PublicKeySize() {
		return fmt.Errorf("X448 public key of %d octets", len(pub))
	}
	_, err := b.scheme.UnmarshalBinaryPublicKey(pub)
	return err
}

func (b *x448Backend) seal(pub, info, pt []byte) ([]byte, []byte, error) {
	pk, err := b.scheme.UnmarshalBinaryPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	sender, err := b.suite.NewSender(pk, info)
	if err != nil {
		return nil, nil, err
	}
	enc, sealer, err := sender.Setup(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	ct, err := sealer.Seal(pt, nil)
	if err != nil {
		return nil, nil, err
	}
	return enc, ct, nil
}

func (b *x448Backend) open(priv any, enc, info, ct []byte) ([]byte, error) {
	sk, ok := priv.(kem.PrivateKey)
	if !ok {
		return nil, ErrWrongSuite
	}
	recv, err := b.suite.NewReceiver(sk, info)
	if err != nil {
		return nil, err
	}
	opener, err := recv.Setup(enc)
	if err != nil {
		return nil, err
	}
	return opener.Open(ct, nil)
}

func (b *x448Backend) exportSend(pub []byte, exporterContext string, length int) ([]byte, []byte, error) {
	pk, err := b.scheme.UnmarshalBinaryPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	sender, err := b.suite.NewSender(pk, nil)
	if err != nil {
		return nil, nil, err
	}
	enc, sealer, err := sender.Setup(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	return enc, sealer.Export([]byte(exporterContext), uint(length)), nil
}

func (b *x448Backend) exportRecv(priv any, enc []byte, exporterContext string, length int) ([]byte, error) {
	sk, ok := priv.(kem.PrivateKey)
	if !ok {
		return nil, ErrWrongSuite
	}
	recv, err := b.suite.NewReceiver(sk, nil)
	if err != nil {
		return nil, err
	}
	opener, err := recv.Setup(enc)
	if err != nil {
		return nil, err
	}
	return opener.Export([]byte(exporterContext), uint(length)), nil
}
