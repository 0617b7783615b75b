package suite

import (
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"

	circlhpke "github.com/cloudflare/circl/hpke"
)

// ID is a CipherSuite value from the IANA registry (RFC 9420 §17.1).
type ID uint16

// The ciphersuites of RFC 9420 §17.1.
const (
	MLS128DHKEMX25519AES128GCMSHA256Ed25519        ID = 1
	MLS128DHKEMP256AES128GCMSHA256P256             ID = 2
	MLS128DHKEMX25519ChaCha20Poly1305SHA256Ed25519 ID = 3
	MLS256DHKEMX448AES256GCMSHA512Ed448            ID = 4
	MLS256DHKEMP521AES256GCMSHA512P521             ID = 5
	MLS256DHKEMX448ChaCha20Poly1305SHA512Ed448     ID = 6
	MLS256DHKEMP384AES256GCMSHA384P384             ID = 7
)

func (id ID) String() string {
	switch id {
	case 1:
		return "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"
	case 2:
		return "MLS_128_DHKEMP256_AES128GCM_SHA256_P256"
	case 3:
		return "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519"
	case 4:
		return "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448"
	case 5:
		return "MLS_256_DHKEMP521_AES256GCM_SHA512_P521"
	case 6:
		return "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448"
	case 7:
		return "MLS_256_DHKEMP384_AES256GCM_SHA384_P384"
	}
	return fmt.Sprintf("CipherSuite(0x%04x)", uint16(id))
}

// Errors returned by this package. Test with errors.Is.
var (
	ErrUnsupportedSuite = errors.New("suite: unsupported ciphersuite")
	ErrBadSignature     = errors.New("suite: signature verification failed")
	ErrDecrypt          = errors.New("suite: decryption failed")
	ErrBadKey           = errors.New("suite: malformed key")
	ErrWrongSuite       = errors.New("suite: key belongs to another ciphersuite")
)

type hashKind uint8

const (
	sha256Kind hashKind = iota
	sha384Kind
	sha512Kind
)

type aeadKind uint8

const (
	aes128GCM aeadKind = iota
	aes256GCM
	chacha20Poly1305
)

type sigKind uint8

const (
	sigEd25519 sigKind = iota
	sigP256
	sigP384
	sigP521
	sigEd448
)

// Suite is one ciphersuite. Values are immutable and shared; obtain them
// with Get.
type Suite struct {
	id      ID
	hash    hashKind
	newHash func() hash.Hash
	nh      int
	aead    aeadKind
	nk, nn  int
	sig     sigKind
	kem     kemBackend
}

var suites = map[ID]*Suite{}

func register(s *Suite) { suites[s.id] = s }

func init() {
	register(&Suite{id: 1, hash: sha256Kind, newHash: sha256.New, nh: 32, aead: aes128GCM, nk: 16, nn: 12, sig: sigEd25519, kem: stdKEM(kemX25519, 1)})
	register(&Suite{id: 2, hash: sha256Kind, newHash: sha256.New, nh: 32, aead: aes128GCM, nk: 16, nn: 12, sig: sigP256, kem: stdKEM(kemP256, 1)})
	register(&Suite{id: 3, hash: sha256Kind, newHash: sha256.New, nh: 32, aead: chacha20Poly1305, nk: 32, nn: 12, sig: sigEd25519, kem: stdKEM(kemX25519, 3)})
	register(&Suite{id: 4, hash: sha512Kind, newHash: sha512.New, nh: 64, aead: aes256GCM, nk: 32, nn: 12, sig: sigEd448, kem: x448KEM(circlhpke.AEAD_AES256GCM)})
	register(&Suite{id: 6, hash: sha512Kind, newHash: sha512.New, nh: 64, aead: chacha20Poly1305, nk: 32, nn: 12, sig: sigEd448, kem: x448KEM(circlhpke.AEAD_ChaCha20Poly1305)})
	register(&Suite{id: 5, hash: sha512Kind, newHash: sha512.New, nh: 64, aead: aes256GCM, nk: 32, nn: 12, sig: sigP521, kem: stdKEM(kemP521, 2)})
	register(&Suite{id: 7, hash: sha384Kind, newHash: sha512.New384, nh: 48, aead: aes256GCM, nk: 32, nn: 12, sig: sigP384, kem: stdKEM(kemP384, 2)})
}

// Get returns the suite for id, or ErrUnsupportedSuite.
func Get(id ID) (*Suite, error) {
	s, ok := suites[id]
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedSuite, id)
	}
	return s, nil
}

// Supported lists the implemented suites in ascending order.
func Supported() []ID {
	var ids []ID
	for id := ID(1); id <= 7; id++ {
		if _, ok := suites[id]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// ID returns the suite's identifier.
func (s *Suite) ID() ID { return s.id }

// HashSize returns Nh, the hash output length (also KDF.Nh).
func (s *Suite) HashSize() int { return s.nh }

// KeySize returns Nk, the AEAD key length.
func (s *Suite) KeySize() int { return s.nk }

// NonceSize returns Nn, the AEAD nonce length.
func (s *Suite) NonceSize() int { return s.nn }

// Zero returns Nh zero octets, the default for absent secrets in the key
// schedule (RFC 9420 §8).
func (s *Suite) Zero() Secret { return ZeroSecret(s.nh) }

// Hash returns the suite's hash of data.
func (s *Suite) Hash(data []byte) []byte { return hashWith(s.hash, data) }

func hashWith(k hashKind, data []byte) []byte {
	switch k {
	case sha256Kind:
		h := sha256.Sum256(data)
		return h[:]
	case sha384Kind:
		h := sha512.Sum384(data)
		return h[:]
	default:
		h := sha512.Sum512(data)
		return h[:]
	}
}

// NewHash returns a fresh hash.Hash of the suite, for incremental hashing.
func (s *Suite) NewHash() hash.Hash { return s.newHash() }
