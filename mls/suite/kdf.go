package suite

import (
	"crypto/hmac"
	"fmt"
	"hash"

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
	return s.Expander(prk).expand(info, length)
}

// ExpandWithLabel is RFC 9420 §5.1's
// HKDF-Expand(secret, KDFLabel{length, "MLS 1.0 "+label, context}, length).
func (s *Suite) ExpandWithLabel(secret Secret, label string, context []byte, length int) Secret {
	return s.Expander(secret).ExpandWithLabel(label, context, length)
}

// Expander computes several HKDF-Expand outputs from one secret, keying
// the HMAC once. The ratchets derive a key, a nonce and the next secret
// from each ratchet secret, so this saves work on the message path.
type Expander struct {
	s    *Suite
	mac  hash.Hash
	info []byte // scratch for KDFLabel, reused across calls
}

// Expander returns an Expander keyed with prk.
func (s *Suite) Expander(prk Secret) *Expander {
	return &Expander{s: s, mac: hmac.New(s.newHash, prk.b)}
}

// ExpandWithLabel is Suite.ExpandWithLabel with the Expander's secret.
func (e *Expander) ExpandWithLabel(label string, context []byte, length int) Secret {
	info := append(e.info[:0], byte(length>>8), byte(length))
	info = appendVarint(info, len(labelPrefix)+len(label))
	info = append(info, labelPrefix...)
	info = append(info, label...)
	info = appendVarint(info, len(context))
	info = append(info, context...)
	e.info = info
	return e.expand(info, length)
}

// DeriveTreeSecret is Suite.DeriveTreeSecret with the Expander's secret.
func (e *Expander) DeriveTreeSecret(label string, generation uint32, length int) Secret {
	ctx := [4]byte{byte(generation >> 24), byte(generation >> 16), byte(generation >> 8), byte(generation)}
	return e.ExpandWithLabel(label, ctx[:], length)
}

// expand runs HKDF-Expand's loop: T(i) = HMAC(prk, T(i-1) || info || i).
func (e *Expander) expand(info []byte, length int) Secret {
	nh := e.s.nh
	if length < 0 || length > e.s.MaxExpand() {
		panic(fmt.Sprintf("suite: HKDF-Expand length %d out of range", length))
	}
	out := make([]byte, 0, (length+nh-1)/nh*nh)
	ctr := [1]byte{1}
	var prev []byte
	for ; len(out) < length; ctr[0]++ {
		e.mac.Reset()
		e.mac.Write(prev)
		e.mac.Write(info)
		e.mac.Write(ctr[:])
		out = e.mac.Sum(out)
		prev = out[len(out)-nh:]
	}
	return secretOwn(out[:length:length])
}

// appendVarint appends the minimal MLS variable-length integer n
// (n < 2^30, which every label and context satisfies).
func appendVarint(b []byte, n int) []byte {
	switch codec.VarintSize(n) {
	case 1:
		return append(b, byte(n))
	case 2:
		return append(b, 0x40|byte(n>>8), byte(n))
	default:
		return append(b, 0x80|byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
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
