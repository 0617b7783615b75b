package schedule

import (
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
)

// State encodings let the group layer persist an epoch between sessions.
// They hold secrets in the clear: the caller stores them encrypted at
// rest. The layout is internal to this package (the group layer versions
// its own state blob) and decoding is as strict as for wire messages.

// Clone returns a deep copy of t. Secrets are copied, not shared, because
// advancing a ratchet wipes the secret it leaves behind: a staged copy of
// a group state must not zero the original's keys.
func (t *SecretTree) Clone() *SecretTree {
	c := &SecretTree{s: t.s, nLeaves: t.nLeaves, nodes: make([]suite.Secret, len(t.nodes)), leaves: make([]*leafRatchets, len(t.leaves))}
	for i, n := range t.nodes {
		if !n.IsZero() {
			c.nodes[i] = suite.NewSecret(n.Bytes())
		}
	}
	for i, lr := range t.leaves {
		if lr != nil {
			c.leaves[i] = &leafRatchets{handshake: lr.handshake.clone(), application: lr.application.clone()}
		}
	}
	return c
}

func (r *ratchet) clone() *ratchet {
	c := &ratchet{next: r.next, order: append([]uint32(nil), r.order...)}
	if !r.secret.IsZero() {
		c.secret = suite.NewSecret(r.secret.Bytes())
	}
	if len(r.skipped) > 0 {
		c.skipped = make(map[uint32]KeyNonce, len(r.skipped))
		for g, kn := range r.skipped {
			c.skipped[g] = KeyNonce{Generation: g, Key: suite.NewSecret(kn.Key.Bytes()), Nonce: append([]byte(nil), kn.Nonce...)}
		}
	}
	return c
}

// MarshalState encodes t for persistence.
func (t *SecretTree) MarshalState(w *codec.Writer) {
	w.Uint32(t.nLeaves)
	w.Vector(func(w *codec.Writer) {
		for i, n := range t.nodes {
			if !n.IsZero() {
				w.Uint32(uint32(i))
				w.Opaque(n.Bytes())
			}
		}
	})
	w.Vector(func(w *codec.Writer) {
		for i, lr := range t.leaves {
			if lr != nil {
				w.Uint32(uint32(i))
				lr.handshake.marshal(w)
				lr.application.marshal(w)
			}
		}
	})
}

func (r *ratchet) marshal(w *codec.Writer) {
	w.Optional(!r.secret.IsZero())
	if !r.secret.IsZero() {
		w.Opaque(r.secret.Bytes())
	}
	w.Uint32(r.next)
	w.Vector(func(w *codec.Writer) {
		for _, g := range r.order {
			if kn, ok := r.skipped[g]; ok {
				w.Uint32(g)
				w.Opaque(kn.Key.Bytes())
				w.Opaque(kn.Nonce)
			}
		}
	})
}

// UnmarshalSecretTree decodes a tree written by MarshalState for suite s.
func UnmarshalSecretTree(s *suite.Suite, r *codec.Reader) (*SecretTree, error) {
	n := r.Uint32()
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadState, r.Err())
	}
	if n == 0 || n > MaxLeaves {
		return nil, fmt.Errorf("%w: %d leaves", ErrBadState, n)
	}
	t := &SecretTree{s: s, nLeaves: n, nodes: make([]suite.Secret, nodeWidth(n)), leaves: make([]*leafRatchets, n)}
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			i, sec := r.Uint32(), r.Opaque()
			if r.Err() != nil {
				return
			}
			if int(i) >= len(t.nodes) || len(sec) != s.HashSize() || !t.nodes[i].IsZero() {
				r.Fail(ErrBadState)
				return
			}
			t.nodes[i] = suite.NewSecret(sec)
		}
	})
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			i := r.Uint32()
			if r.Err() != nil {
				return
			}
			if i >= n || t.leaves[i] != nil {
				r.Fail(ErrBadState)
				return
			}
			lr := &leafRatchets{handshake: unmarshalRatchet(s, r), application: unmarshalRatchet(s, r)}
			if r.Err() == nil {
				t.leaves[i] = lr
			}
		}
	})
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadState, err)
	}
	return t, nil
}

func unmarshalRatchet(s *suite.Suite, r *codec.Reader) *ratchet {
	rt := &ratchet{}
	if r.Optional() {
		sec := r.Opaque()
		if r.Err() == nil && len(sec) != s.HashSize() {
			r.Fail(ErrBadState)
		}
		rt.secret = suite.NewSecret(sec)
	}
	rt.next = r.Uint32()
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			g, key, nonce := r.Uint32(), r.Opaque(), r.Opaque()
			if r.Err() != nil {
				return
			}
			if len(key) != s.KeySize() || len(nonce) != s.NonceSize() || g >= rt.next ||
				(len(rt.order) > 0 && g <= rt.order[len(rt.order)-1]) || len(rt.order) >= MaxSkippedKeys {
				r.Fail(ErrBadState)
				return
			}
			if rt.skipped == nil {
				rt.skipped = map[uint32]KeyNonce{}
			}
			rt.skipped[g] = KeyNonce{Generation: g, Key: suite.NewSecret(key), Nonce: append([]byte(nil), nonce...)}
			rt.order = append(rt.order, g)
		}
	})
	return rt
}

// epochSecrets lists the epoch's secrets in their state order.
func (e *Epoch) secrets() []*suite.Secret {
	return []*suite.Secret{&e.SenderData, &e.Encryption, &e.Exporter, &e.External,
		&e.Confirmation, &e.Membership, &e.Resumption, &e.EpochAuthenticator, &e.Init}
}

// MarshalState encodes the epoch's secrets for persistence.
func (e *Epoch) MarshalState(w *codec.Writer) {
	w.Uint16(uint16(e.Suite.ID()))
	for _, s := range e.secrets() {
		w.Opaque(s.Bytes())
	}
}

// UnmarshalEpoch decodes an epoch written by MarshalState.
func UnmarshalEpoch(r *codec.Reader) (*Epoch, error) {
	id := suite.ID(r.Uint16())
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadState, r.Err())
	}
	s, err := suite.Get(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadState, err)
	}
	e := &Epoch{Suite: s}
	for _, p := range e.secrets() {
		b := r.Opaque()
		if r.Err() == nil && len(b) != s.HashSize() {
			r.Fail(ErrBadState)
		}
		*p = suite.NewSecret(b)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadState, err)
	}
	return e, nil
}
