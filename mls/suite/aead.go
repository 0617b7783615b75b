package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// newAEAD instantiates the suite's AEAD with key.
func (s *Suite) newAEAD(key Secret) (cipher.AEAD, error) {
	if key.Len() != s.nk {
		return nil, fmt.Errorf("%w: AEAD key of %d octets, want %d", ErrBadKey, key.Len(), s.nk)
	}
	if s.aead == chacha20Poly1305 {
		return chacha20poly1305.New(key.b)
	}
	block, err := aes.NewCipher(key.b)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext with the suite's AEAD and returns the ciphertext
// with its tag appended.
func (s *Suite) Seal(key Secret, nonce, plaintext, aad []byte) ([]byte, error) {
	a, err := s.newAEAD(key)
	if err != nil {
		return nil, err
	}
	if len(nonce) != s.nn {
		return nil, fmt.Errorf("%w: nonce of %d octets, want %d", ErrBadKey, len(nonce), s.nn)
	}
	return a.Seal(make([]byte, 0, len(plaintext)+a.Overhead()), nonce, plaintext, aad), nil
}

// Open decrypts and authenticates ciphertext; any failure is ErrDecrypt.
func (s *Suite) Open(key Secret, nonce, ciphertext, aad []byte) ([]byte, error) {
	a, err := s.newAEAD(key)
	if err != nil {
		return nil, err
	}
	if len(nonce) != s.nn {
		return nil, fmt.Errorf("%w: nonce of %d octets, want %d", ErrBadKey, len(nonce), s.nn)
	}
	pt, err := a.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Overhead returns the AEAD tag length (16 octets for every MLS suite).
func (s *Suite) Overhead() int { return 16 }
