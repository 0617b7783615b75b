package schedule

import "github.com/parleyhq/parley/mls/suite"

// SenderDataKeyNonce derives the key and nonce that protect a
// PrivateMessage's SenderData from the first Nh octets of its content
// ciphertext (RFC 9420 §6.3.2).
func SenderDataKeyNonce(s *suite.Suite, senderDataSecret suite.Secret, ciphertext []byte) (key suite.Secret, nonce []byte) {
	sample := ciphertext[:min(len(ciphertext), s.HashSize())]
	x := s.Expander(senderDataSecret)
	key = x.ExpandWithLabel("key", sample, s.KeySize())
	nonce = x.ExpandWithLabel("nonce", sample, s.NonceSize()).Bytes()
	return key, nonce
}
