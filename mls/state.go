package mls

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// stateVersion tags the Export format. Import reads every version up to
// it (version 1 lacks the past epochs, which version 2 appends) and
// refuses others (ErrStateVersion) rather than guessing.
const (
	stateVersion       = 2
	stateVersionNoPast = 1
)

// Export returns the whole group state — our keys, the tree, the epoch's
// secrets and ratchets, cached proposals, any pending commit, and what is
// kept of the last MaxPastEpochs epochs to read late messages — as a
// versioned byte string for Import. It holds secrets in the clear: store
// it encrypted at rest. Export it again after every operation that
// changes the group (Process, Encrypt, commits, merges), since ratchets
// move: restoring an old export would reuse message keys.
func (g *Group) Export() ([]byte, error) {
	st := g.state()
	if st == nil {
		return nil, ErrNotMember
	}
	w := codec.NewWriter(4096)
	w.Uint8(stateVersion)
	w.Uint16(uint16(st.cs.ID()))
	w.Opaque(g.signer.Private().Bytes())
	w.Optional(g.active)
	w.Vector(func(w *codec.Writer) {
		for _, id := range slices.Sorted(maps.Keys(g.psks)) {
			w.Opaque([]byte(id))
			w.Opaque(g.psks[id].Bytes())
		}
	})
	w.Vector(func(w *codec.Writer) {
		for _, r := range g.resumption {
			w.Uint64(r.epoch)
			w.Opaque(r.secret.Bytes())
		}
	})
	w.Optional(g.st != nil)
	if g.st != nil {
		g.st.marshal(w)
	}
	w.Optional(g.pending != nil)
	if p := g.pending; p != nil {
		w.Opaque(p.commit)
		w.Opaque(p.welcome)
		p.next.marshal(w)
		marshalMember(w, p.result.sender)
		for _, ms := range [][]Member{p.result.added, p.result.removed, p.result.updated} {
			w.Vector(func(w *codec.Writer) {
				for _, m := range ms {
					marshalMember(w, m)
				}
			})
		}
	}
	g.marshalPast(w)
	return w.Bytes(), nil
}

func (st *epochState) marshal(w *codec.Writer) {
	st.ctx.MarshalTLS(w)
	w.Opaque(st.tree.Encode())
	w.Uint32(uint32(st.own))
	w.Vector(func(w *codec.Writer) {
		for x, k := range st.priv.Keys() {
			w.Uint32(uint32(x))
			w.Opaque(k.Private().Bytes())
		}
	})
	st.keys.MarshalState(w)
	st.secrets.MarshalState(w)
	w.Opaque(st.interim)
	w.Opaque(st.confTag)
	w.Vector(func(w *codec.Writer) {
		for _, p := range st.proposals {
			w.Opaque(p.ref)
			p.sender.MarshalTLS(w)
			p.proposal.MarshalTLS(w)
		}
	})
	w.Optional(st.reinit != nil)
	if st.reinit != nil {
		st.reinit.MarshalTLS(w)
	}
}

func marshalMember(w *codec.Writer, m Member) {
	w.Uint32(m.Leaf)
	w.Opaque(m.Credential)
	w.Opaque(m.SignatureKey)
}

func unmarshalMember(r *codec.Reader) Member {
	return Member{Leaf: r.Uint32(), Credential: bytes.Clone(r.Opaque()), SignatureKey: bytes.Clone(r.Opaque())}
}

// Import restores a group written by Export. The state is checked for
// consistency (tree hash, private keys against the tree) so that a
// corrupted blob fails here rather than later.
func Import(state []byte) (*Group, error) {
	// Decoded slices would alias state; the caller may reuse its buffer.
	r := codec.NewReader(bytes.Clone(state))
	v := r.Uint8()
	if r.Err() == nil && v != stateVersion && v != stateVersionNoPast {
		return nil, fmt.Errorf("%w: %d", ErrStateVersion, v)
	}
	id := suite.ID(r.Uint16())
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: state: %w", ErrMalformed, r.Err())
	}
	cs, err := suite.Get(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	signer, err := cs.ParseSigningKey(r.Opaque())
	if err != nil && r.Err() == nil {
		return nil, fmt.Errorf("%w: state: signing key: %w", ErrMalformed, err)
	}
	g := &Group{signer: signer, psks: map[string]suite.Secret{}}
	g.active = r.Optional()
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			id, s := r.Opaque(), r.Opaque()
			g.psks[string(id)] = suite.NewSecret(s)
		}
	})
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			e, s := r.Uint64(), r.Opaque()
			if len(g.resumption) >= MaxResumptionPSKs {
				r.Fail(codec.ErrInvalidValue)
				return
			}
			g.resumption = append(g.resumption, resumptionPSK{epoch: e, secret: suite.NewSecret(s)})
		}
	})
	if r.Optional() {
		if g.st, err = unmarshalEpochState(cs, r); err != nil {
			return nil, err
		}
	}
	if r.Optional() {
		p := &pendingCommit{commit: bytes.Clone(r.Opaque()), welcome: bytes.Clone(r.Opaque())}
		if len(p.welcome) == 0 {
			p.welcome = nil
		}
		if p.next, err = unmarshalEpochState(cs, r); err != nil {
			return nil, err
		}
		p.result = &commitResult{sender: unmarshalMember(r)}
		for _, ms := range []*[]Member{&p.result.added, &p.result.removed, &p.result.updated} {
			r.Vector(func(r *codec.Reader) {
				for !r.Empty() {
					*ms = append(*ms, unmarshalMember(r))
				}
			})
		}
		g.pending = p
	}
	if v >= stateVersion {
		if g.past, err = unmarshalPast(cs, g.st, r); err != nil {
			return nil, err
		}
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: state: %w", ErrMalformed, err)
	}
	if g.st == nil && g.pending == nil {
		return nil, fmt.Errorf("%w: state holds no epoch", ErrMalformed)
	}
	return g, nil
}

// unmarshalEpochState decodes and cross-checks one epoch.
func unmarshalEpochState(cs *suite.Suite, r *codec.Reader) (*epochState, error) {
	bad := func(what string, err error) error {
		return fmt.Errorf("%w: state: %s: %w", ErrMalformed, what, err)
	}
	st := &epochState{cs: cs}
	st.ctx.UnmarshalTLS(r)
	treeData := r.Opaque()
	st.own = tree.LeafIndex(r.Uint32())
	type nodeKey struct {
		x   tree.NodeIndex
		key []byte
	}
	var keys []nodeKey
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			keys = append(keys, nodeKey{tree.NodeIndex(r.Uint32()), r.Opaque()})
		}
	})
	if err := r.Err(); err != nil {
		return nil, bad("epoch", err)
	}
	if st.ctx.CipherSuite != cs.ID() {
		return nil, bad("epoch", fmt.Errorf("suite %v in a state of %v", st.ctx.CipherSuite, cs.ID()))
	}
	var err error
	if st.tree, err = tree.Decode(cs, treeData); err != nil {
		return nil, bad("tree", err)
	}
	if !bytes.Equal(st.tree.TreeHash(), st.ctx.TreeHash) {
		return nil, bad("tree", ErrTreeHashMismatch)
	}
	for _, k := range keys {
		key, err := cs.ParseHPKEKey(k.key)
		if err != nil {
			return nil, bad("private key", err)
		}
		if k.x == st.own.Node() {
			st.priv = tree.NewPrivateState(st.own, key)
		}
	}
	if st.priv == nil {
		return nil, bad("private key", fmt.Errorf("no key for our leaf"))
	}
	for _, k := range keys {
		if k.x != st.own.Node() {
			key, _ := cs.ParseHPKEKey(k.key) // parsed above
			st.priv.SetKey(k.x, key)
		}
	}
	if err := st.priv.Check(st.tree); err != nil {
		return nil, bad("private key", err)
	}
	if st.keys, err = schedule.UnmarshalEpoch(r); err != nil {
		return nil, bad("key schedule", err)
	}
	if st.keys.Suite.ID() != cs.ID() {
		return nil, bad("key schedule", fmt.Errorf("suite %v", st.keys.Suite.ID()))
	}
	if st.secrets, err = schedule.UnmarshalSecretTree(cs, r); err != nil {
		return nil, bad("secret tree", err)
	}
	if st.secrets.LeafCount() != st.tree.LeafCount() {
		return nil, bad("secret tree", fmt.Errorf("%d leaves for a tree of %d", st.secrets.LeafCount(), st.tree.LeafCount()))
	}
	st.interim = bytes.Clone(r.Opaque())
	st.confTag = bytes.Clone(r.Opaque())
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			var p cachedProposal
			p.ref = r.Opaque()
			p.sender.UnmarshalTLS(r)
			p.proposal = new(Proposal)
			p.proposal.UnmarshalTLS(r)
			st.proposals = append(st.proposals, p)
		}
	})
	if r.Optional() {
		st.reinit = new(ReInitProposal)
		st.reinit.UnmarshalTLS(r)
	}
	if err := r.Err(); err != nil {
		return nil, bad("epoch", err)
	}
	st.ctxBytes = st.ctx.Encode()
	return st, nil
}
