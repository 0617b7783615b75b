package schedule

import (
	"math"

	"github.com/parleyhq/parley/mls/suite"
)

// Bounds on out-of-order delivery. A receiver derives at most
// MaxForwardRatchet keys ahead of a ratchet's position for one message (so
// a forged generation cannot make it spin through billions of HKDF calls),
// and keeps at most MaxSkippedKeys unused keys per ratchet for messages
// that arrive late; older skipped keys are deleted first.
const (
	MaxForwardRatchet = 1000
	MaxSkippedKeys    = 1000
)

// RatchetType selects one of a leaf's two hash ratchets.
type RatchetType uint8

// The two ratchets of a leaf (RFC 9420 §9).
const (
	Handshake RatchetType = iota
	Application
)

func (t RatchetType) String() string {
	if t == Handshake {
		return "handshake"
	}
	return "application"
}

// KeyNonce is one generation's AEAD key and nonce. It is single use: the
// ratchet forgets it once handed out.
type KeyNonce struct {
	Generation uint32
	Key        suite.Secret
	Nonce      []byte
}

// ratchet is one sender's hash ratchet (RFC 9420 §9.1).
type ratchet struct {
	secret  suite.Secret // ratchet_secret_[next]; zero once exhausted
	next    uint32       // generation of secret
	skipped map[uint32]KeyNonce
	order   []uint32 // skipped generations in insertion (= ascending) order
}

func newRatchet(secret suite.Secret) *ratchet { return &ratchet{secret: secret} }

// derive returns the key and nonce of generation r.next and advances.
func (r *ratchet) derive(s *suite.Suite) (KeyNonce, error) {
	if r.secret.IsZero() {
		return KeyNonce{}, ErrGenerationExhausted
	}
	g := r.next
	x := s.Expander(r.secret)
	kn := KeyNonce{
		Generation: g,
		Key:        x.DeriveTreeSecret("key", g, s.KeySize()),
		Nonce:      x.DeriveTreeSecret("nonce", g, s.NonceSize()).Bytes(),
	}
	old := r.secret
	if g == math.MaxUint32 {
		r.secret = suite.Secret{}
	} else {
		r.secret = x.DeriveTreeSecret("secret", g, s.HashSize())
		r.next = g + 1
	}
	old.Wipe()
	return kn, nil
}

// next hands out the key of the next unused generation, for sending.
func (r *ratchet) nextKey(s *suite.Suite) (KeyNonce, error) { return r.derive(s) }

// get hands out the key of generation g, for receiving: a skipped key if
// g is behind, or derived forward (keeping the keys it skips) if ahead.
// Unless consume is set the key stays available (as a skipped key) until
// consumed, so that a message failing to decrypt does not burn it.
func (r *ratchet) get(s *suite.Suite, g uint32, consume bool) (KeyNonce, error) {
	if g < r.next || r.secret.IsZero() {
		kn, ok := r.skipped[g]
		if !ok {
			return KeyNonce{}, ErrGenerationReused
		}
		if consume {
			delete(r.skipped, g)
		}
		return kn, nil
	}
	if g-r.next > MaxForwardRatchet {
		return KeyNonce{}, ErrGenerationTooFar
	}
	for r.next < g {
		kn, err := r.derive(s)
		if err != nil {
			return KeyNonce{}, err
		}
		r.keep(kn)
	}
	kn, err := r.derive(s)
	if err == nil && !consume {
		r.keep(kn)
	}
	return kn, err
}

// consume forgets the skipped key of generation g, if held.
func (r *ratchet) consume(g uint32) {
	if kn, ok := r.skipped[g]; ok {
		kn.Key.Wipe()
		delete(r.skipped, g)
	}
}

// keep stores a skipped key, evicting the oldest beyond MaxSkippedKeys.
func (r *ratchet) keep(kn KeyNonce) {
	if r.skipped == nil {
		r.skipped = map[uint32]KeyNonce{}
	}
	r.skipped[kn.Generation] = kn
	r.order = append(r.order, kn.Generation)
	for len(r.skipped) > MaxSkippedKeys {
		old := r.order[0]
		r.order = r.order[1:]
		if k, ok := r.skipped[old]; ok {
			k.Key.Wipe()
			delete(r.skipped, old)
		}
	}
	// Drop generations already consumed from the front of the queue so it
	// does not grow without bound when keys are used in order.
	for len(r.order) > 0 {
		if _, ok := r.skipped[r.order[0]]; ok {
			break
		}
		r.order = r.order[1:]
	}
	// An early generation that is never consumed stops the trimming above,
	// and every later key consumed behind it would stay in the queue:
	// compact it once it holds as many dead entries as live ones could be.
	if len(r.order) > maxOrder {
		live := make([]uint32, 0, len(r.skipped))
		for _, g := range r.order {
			if _, ok := r.skipped[g]; ok {
				live = append(live, g)
			}
		}
		r.order = live
	}
}

// maxOrder bounds a ratchet's queue of skipped generations, consumed ones
// included, before it is compacted: amortised O(1) per key kept.
const maxOrder = 2 * MaxSkippedKeys
