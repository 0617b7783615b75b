package suite

import (
	"crypto/hmac"
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
)

// labelPrefix is prepended to every label of ExpandWithLabel,
// SignWithLabel and EncryptWithLabel (RFC 9420 §5.1.2, §5.1.3, §5.2).
const labelPrefix = "MLS 1.0 "

// Extract is HKDF-Extract(salt, ikm).
func (s *Suite) Extract(salt, ikm Secret) Secret {
	m := hmac.New(s.newHash, salt.b)
	m.Write(ikm.b)
	return secretOwn(m.Sum(make([]byte, 0, s.nh)))
}

// MaxExpand is the longest output Expand can give for this suite: HKDF
// allows 255 blocks, and KDFLabel's length field is a uint16.
func (s *Suite) MaxExpand() int { return min(255*s.nh, 0xffff) }

// Expand is HKDF-Expand(prk, info, length). It panics if length exceeds
// MaxExpand: every MLS caller passes a suite constant, and the one that
// takes an application's length (the exporter) checks it first.
func (s *Suite) Expand(prk Secret, info []byte, length int) Secret {
	if length < 0 || length > s.MaxExpand() {
		panic(fmt.Sprintf("suite: HKDF-Expand length %d out of range", length))
	}
	m := hmac.New(s.newHash, prk.b)
	out := make([]byte, 0, (length+s.nh-1)/s.nh*s.nh)
	var prev []byte
	for ctr := byte(1); len(out) < length; ctr++ {
		m.Reset()
		m.Write(prev)
		m.Write(info)
		m.Write([]byte{ctr})
		out = m.Sum(out)
		prev = out[len(out)-s.nh:]
	}
	return secretOwn(out[:length:length])
}

// ExpandWithLabel is RFC 9420 §5.1's
// HKDF-Expand(secret, KDFLabel{length, "MLS 1.0 "+label, context}, length).
func (s *Suite) ExpandWithLabel(secret Secret, label string, context []byte, length int) Secret {
	w := codec.NewWriter(2 + 1 + len(labelPrefix) + len(label) + 4 + len(context))
	w.Uint16(uint16(length))
	w.Varint(len(labelPrefix) + len(label))
	w.Raw([]byte(labelPrefix))
	w.Raw([]byte(label))
	w.Opaque(context)
	return s.Expand(secret, w.Bytes(), length)
}

// DeriveSecret is ExpandWithLabel(secret, label, "", Nh).
func (s *Suite) DeriveSecret(secret Secret, label string) Secret {
	return s.ExpandWithLabel(secret, label, nil, s.nh)
}

// DeriveTreeSecret is ExpandWithLabel(secret, label, uint32 generation,
// length), used by the secret tree's ratchets (RFC 9420 §9.1).
func (s *Suite) DeriveTreeSecret(secret Secret, label string, generation uint32, length int) Secret {
	ctx := [4]byte{byte(generation >> 24), byte(generation >> 16), byte(generation >> 8), byte(generation)}
	return s.ExpandWithLabel(secret, label, ctx[:], length)
}

// RefHash is Hash(RefHashInput{label, value}) (RFC 9420 §5.2). Unlike the
// other labelled functions the label is used as given, without prefix.
func (s *Suite) RefHash(label string, value []byte) []byte {
	w := codec.NewWriter(len(label) + len(value) + 8)
	w.Opaque([]byte(label))
	w.Opaque(value)
	return s.Hash(w.Bytes())
}

// MAC returns HMAC(key, data) with the suite's hash.
func (s *Suite) MAC(key Secret, data []byte) []byte {
	m := hmac.New(s.newHash, key.b)
	m.Write(data)
	return m.Sum(nil)
}

// VerifyMAC reports, in constant time, whether tag is MAC(key, data).
func (s *Suite) VerifyMAC(key Secret, data, tag []byte) bool {
	return hmac.Equal(s.MAC(key, data), tag)
}
