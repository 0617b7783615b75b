package schedule

import (
	"math/bits"

	"github.com/parleyhq/parley/mls/suite"
)

// MaxLeaves bounds the leaf count of a decoded secret tree state. It
// matches tree.MaxLeaves (the schedule does not import package tree): no
// group's ratchet tree, and so no secret tree, can be larger.
const MaxLeaves = 1 << 16

// SecretTree derives per-sender encryption keys from an epoch's
// encryption_secret (RFC 9420 §9). Node secrets are derived lazily along
// the path to a leaf the first time the leaf is used, and each parent
// secret is deleted once both children are derived from it, per the
// deletion schedule of §9.2.
type SecretTree struct {
	s       *suite.Suite
	nLeaves uint32
	nodes   []suite.Secret // by node index; zero once consumed or not yet derived
	leaves  []*leafRatchets
}

type leafRatchets struct {
	handshake, application *ratchet
}

// NewSecretTree returns the secret tree of a group with nLeaves leaves
// (the ratchet tree's leaf count) rooted at encryptionSecret.
func NewSecretTree(s *suite.Suite, encryptionSecret suite.Secret, nLeaves uint32) *SecretTree {
	width := nodeWidth(nLeaves)
	t := &SecretTree{s: s, nLeaves: nLeaves, nodes: make([]suite.Secret, width), leaves: make([]*leafRatchets, nLeaves)}
	if nLeaves > 0 {
		t.nodes[rootIndex(nLeaves)] = suite.NewSecret(encryptionSecret.Bytes())
	}
	return t
}

// LeafCount returns the number of leaves the tree was built for.
func (t *SecretTree) LeafCount() uint32 { return t.nLeaves }

// nodeWidth is the array size of a complete tree holding n leaves: node
// indices of the left-balanced tree of §C can reach 2*2^ceil(log2 n)-1.
func nodeWidth(n uint32) int {
	if n == 0 {
		return 0
	}
	full := 1 << bits.Len32(n-1)
	return 2*full - 1
}

// rootIndex is the root of a tree with n leaves (RFC 9420 Appendix C).
func rootIndex(n uint32) uint32 {
	w := 2*uint64(n) - 1
	return uint32(1)<<(bits.Len64(w)-1) - 1
}

// level is the number of trailing one bits of x: leaves are level 0.
func level(x uint32) int { return bits.TrailingZeros32(^x) }

// ratchets returns leaf's ratchets, deriving them (and the node secrets on
// the way) if this is the leaf's first use.
func (t *SecretTree) ratchets(leaf uint32) (*leafRatchets, error) {
	if leaf >= t.nLeaves {
		return nil, ErrLeafOutOfRange
	}
	if lr := t.leaves[leaf]; lr != nil {
		return lr, nil
	}
	target := 2 * leaf
	x := rootIndex(t.nLeaves)
	for x != target {
		k := level(x)
		left, right := x^(1<<(k-1)), x^(3<<(k-1))
		if sec := t.nodes[x]; !sec.IsZero() {
			ex := t.s.Expander(sec)
			t.nodes[left] = ex.ExpandWithLabel("tree", []byte("left"), t.s.HashSize())
			t.nodes[right] = ex.ExpandWithLabel("tree", []byte("right"), t.s.HashSize())
			sec.Wipe()
			t.nodes[x] = suite.Secret{}
		}
		if target < x {
			x = left
		} else {
			x = right
		}
	}
	sec := t.nodes[x]
	if sec.IsZero() {
		// Unreachable: a leaf secret is only consumed when its ratchets
		// are created, and those are never removed.
		return nil, ErrLeafOutOfRange
	}
	ex := t.s.Expander(sec)
	lr := &leafRatchets{
		handshake:   newRatchet(ex.ExpandWithLabel("handshake", nil, t.s.HashSize())),
		application: newRatchet(ex.ExpandWithLabel("application", nil, t.s.HashSize())),
	}
	sec.Wipe()
	t.nodes[x] = suite.Secret{}
	t.leaves[leaf] = lr
	return lr, nil
}

func (lr *leafRatchets) pick(typ RatchetType) *ratchet {
	if typ == Handshake {
		return lr.handshake
	}
	return lr.application
}

// Next returns the key and nonce of leaf's next unused generation of the
// given ratchet, for encrypting a message as that leaf.
func (t *SecretTree) Next(leaf uint32, typ RatchetType) (KeyNonce, error) {
	lr, err := t.ratchets(leaf)
	if err != nil {
		return KeyNonce{}, err
	}
	return lr.pick(typ).nextKey(t.s)
}

// Get returns the key and nonce of the given generation, for decrypting a
// message from leaf, and forgets it. A generation already consumed is
// ErrGenerationReused; one more than MaxForwardRatchet ahead is
// ErrGenerationTooFar.
func (t *SecretTree) Get(leaf uint32, typ RatchetType, generation uint32) (KeyNonce, error) {
	lr, err := t.ratchets(leaf)
	if err != nil {
		return KeyNonce{}, err
	}
	return lr.pick(typ).get(t.s, generation, true)
}

// Peek is Get without consuming the key: a receiver peeks, decrypts, and
// calls Consume only when decryption succeeded (RFC 9420 §9.2 deletes a key
// once it "successfully" decrypted), so a forged message cannot burn the
// key of a genuine one.
func (t *SecretTree) Peek(leaf uint32, typ RatchetType, generation uint32) (KeyNonce, error) {
	lr, err := t.ratchets(leaf)
	if err != nil {
		return KeyNonce{}, err
	}
	return lr.pick(typ).get(t.s, generation, false)
}

// Consume deletes the key of a generation obtained with Peek.
func (t *SecretTree) Consume(leaf uint32, typ RatchetType, generation uint32) {
	if leaf < t.nLeaves && t.leaves[leaf] != nil {
		t.leaves[leaf].pick(typ).consume(generation)
	}
}
