package suite

import (
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// LabelEncrypter is EncryptWithLabel for one label and context to many
// recipients. A Welcome encrypts every new member's GroupSecrets with the
// encrypted GroupInfo — which carries the whole ratchet tree, hundreds of
// kilobytes in a large group — as context, and HPKE hashes that context
// (info_hash) in every key schedule. For the DHKEM suites the encrypter
// runs RFC 9180's base-mode key schedule itself with info_hash computed
// once; its output is ordinary HPKE, opened by DecryptWithLabel. Other
// suites fall back to EncryptWithLabel per call.
//
// A LabelEncrypter is safe for concurrent use.
type LabelEncrypter struct {
	s       *Suite
	label   string
	context []byte
	// Set for the DHKEM suites only.
	curve    ecdh.Curve
	kemID    []byte // "KEM" || kem_id
	hpkeID   []byte // "HPKE" || kem_id || kdf_id || aead_id
	ksc      []byte // key_schedule_context: mode || psk_id_hash || info_hash
	nsecret  int
	nonceLen int
}

// NewLabelEncrypter prepares EncryptWithLabel(·, label, context, ·).
func (s *Suite) NewLabelEncrypter(label string, context []byte) *LabelEncrypter {
	e := &LabelEncrypter{s: s, label: label, context: context}
	b, ok := s.kem.(*stdBackend)
	if !ok {
		return e
	}
	switch b.kem.ID() {
	case 0x0020:
		e.curve = ecdh.X25519()
	case 0x0010:
		e.curve = ecdh.P256()
	case 0x0011:
		e.curve = ecdh.P384()
	case 0x0012:
		e.curve = ecdh.P521()
	default:
		return e
	}
	kem, kdf, aead := b.kem.ID(), b.kdf.ID(), b.aead.ID()
	e.kemID = binary.BigEndian.AppendUint16([]byte("KEM"), kem)
	e.hpkeID = binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16([]byte("HPKE"), kem), kdf), aead)
	// The KEM's KDF and the suite's are the same hash in every DHKEM
	// suite of RFC 9420, so Nsecret is Nh.
	e.nsecret = s.nh
	e.nonceLen = s.nn
	info := encryptContext(label, context)
	e.ksc = append([]byte{0}, e.labeledExtract(e.hpkeID, nil, "psk_id_hash", nil)...)
	e.ksc = append(e.ksc, e.labeledExtract(e.hpkeID, nil, "info_hash", info)...)
	return e
}

// labeledExtract is RFC 9180's LabeledExtract with suite id sid.
func (e *LabelEncrypter) labeledExtract(sid, salt []byte, label string, ikm []byte) []byte {
	m := hmac.New(e.s.newHash, salt)
	m.Write([]byte("HPKE-v1"))
	m.Write(sid)
	m.Write([]byte(label))
	m.Write(ikm)
	return m.Sum(nil)
}

// labeledExpand is RFC 9180's LabeledExpand with suite id sid.
func (e *LabelEncrypter) labeledExpand(sid, prk []byte, label string, info []byte, n int) []byte {
	li := binary.BigEndian.AppendUint16(nil, uint16(n))
	li = append(li, "HPKE-v1"...)
	li = append(li, sid...)
	li = append(li, label...)
	li = append(li, info...)
	return e.s.Expand(secretOwn(prk), li, n).b
}

// Encrypt is EncryptWithLabel(pub, label, context, plaintext).
func (e *LabelEncrypter) Encrypt(pub, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	if e.curve == nil {
		return e.s.EncryptWithLabel(pub, e.label, e.context, plaintext)
	}
	pkR, err := e.curve.NewPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	skE, err := e.curve.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	dh, err := skE.ECDH(pkR)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	enc := skE.PublicKey().Bytes()
	// DHKEM Encap: shared_secret = ExtractAndExpand(dh, enc || pkRm).
	kemContext := append(append([]byte(nil), enc...), pub...)
	eaePRK := e.labeledExtract(e.kemID, nil, "eae_prk", dh)
	shared := e.labeledExpand(e.kemID, eaePRK, "shared_secret", kemContext, e.nsecret)
	// Base-mode key schedule, psk empty.
	secret := e.labeledExtract(e.hpkeID, shared, "secret", nil)
	key := e.labeledExpand(e.hpkeID, secret, "key", e.ksc, e.s.nk)
	nonce := e.labeledExpand(e.hpkeID, secret, "base_nonce", e.ksc, e.nonceLen)
	a, err := e.s.newAEAD(secretOwn(key))
	if err != nil {
		return nil, nil, err
	}
	clear(dh)
	clear(shared)
	clear(secret)
	ct := a.Seal(nil, nonce, plaintext, nil)
	clear(key)
	return enc, ct, nil
}
