package suite

import (
	"crypto/ecdh"
	"crypto/hpke"
	"errors"
)

type kemKind uint8

const (
	kemX25519 kemKind = iota
	kemP256
	kemP384
	kemP521
)

// stdBackend is HPKE from crypto/hpke: DHKEM over X25519 or a NIST curve.
type stdBackend struct {
	nsk  int // private key length; 0 for X25519, whose keys are not integers
	kem  hpke.KEM
	kdf  hpke.KDF
	aead hpke.AEAD
}

// stdKEM returns the backend for a DHKEM whose KDF matches the curve, and
// AEAD 1 (AES-128-GCM), 2 (AES-256-GCM) or 3 (ChaCha20-Poly1305).
func stdKEM(k kemKind, aeadID uint16) kemBackend {
	b := &stdBackend{}
	switch k {
	case kemX25519:
		b.kem, b.kdf = hpke.DHKEM(ecdh.X25519()), hpke.HKDFSHA256()
	case kemP256:
		b.kem, b.kdf, b.nsk = hpke.DHKEM(ecdh.P256()), hpke.HKDFSHA256(), 32
	case kemP384:
		b.kem, b.kdf, b.nsk = hpke.DHKEM(ecdh.P384()), hpke.HKDFSHA384(), 48
	case kemP521:
		b.kem, b.kdf, b.nsk = hpke.DHKEM(ecdh.P521()), hpke.HKDFSHA512(), 66
	}
	a, err := hpke.NewAEAD(aeadID)
	if err != nil {
		panic(err)
	}
	b.aead = a
	return b
}

func (b *stdBackend) wrap(p hpke.PrivateKey, err error) (any, []byte, []byte, error) {
	if err != nil {
		return nil, nil, nil, err
	}
	raw, err := p.Bytes()
	if err != nil {
		return nil, nil, nil, err
	}
	return p, raw, p.PublicKey().Bytes(), nil
}

func (b *stdBackend) generate() (any, []byte, []byte, error) {
	return b.wrap(b.kem.GenerateKey())
}

func (b *stdBackend) derive(ikm []byte) (any, []byte, []byte, error) {
	return b.wrap(b.kem.DeriveKeyPair(ikm))
}

// parsePrivate accepts a NIST-curve scalar shorter than the field
// (leading zeros dropped) by left-padding it.
func (b *stdBackend) parsePrivate(raw []byte) (any, []byte, []byte, error) {
	return b.wrap(b.kem.NewPrivateKey(leftPad(raw, b.nsk)))
}

func (b *stdBackend) validatePublic(pub []byte) error {
	_, err := b.kem.NewPublicKey(pub)
	return err
}

func (b *stdBackend) seal(pub, info, pt []byte) ([]byte, []byte, error) {
	pk, err := b.kem.NewPublicKey(pub)
	if err != nil {
		return nil, nil, errors.Join(ErrBadKey, err)
	}
	enc, sender, err := hpke.NewSender(pk, b.kdf, b.aead, info)
	if err != nil {
		return nil, nil, err
	}
	ct, err := sender.Seal(nil, pt)
	if err != nil {
		return nil, nil, err
	}
	return enc, ct, nil
}

func (b *stdBackend) open(priv any, enc, info, ct []byte) ([]byte, error) {
	p, ok := priv.(hpke.PrivateKey)
	if !ok {
		return nil, ErrWrongSuite
	}
	r, err := hpke.NewRecipient(enc, p, b.kdf, b.aead, info)
	if err != nil {
		return nil, err
	}
	return r.Open(nil, ct)
}

func (b *stdBackend) exportSend(pub []byte, exporterContext string, length int) ([]byte, []byte, error) {
	pk, err := b.kem.NewPublicKey(pub)
	if err != nil {
		return nil, nil, errors.Join(ErrBadKey, err)
	}
	enc, sender, err := hpke.NewSender(pk, b.kdf, b.aead, nil)
	if err != nil {
		return nil, nil, err
	}
	secret, err := sender.Export(exporterContext, length)
	if err != nil {
		return nil, nil, err
	}
	return enc, secret, nil
}

func (b *stdBackend) exportRecv(priv any, enc []byte, exporterContext string, length int) ([]byte, error) {
	p, ok := priv.(hpke.PrivateKey)
	if !ok {
		return nil, ErrWrongSuite
	}
	r, err := hpke.NewRecipient(enc, p, b.kdf, b.aead, nil)
	if err != nil {
		return nil, err
	}
	return r.Export(exporterContext, length)
}
