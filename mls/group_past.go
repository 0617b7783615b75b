package mls

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
)

// pastEpoch is what a group keeps of one of its last MaxPastEpochs epochs:
// enough to read an application message sent in it that arrives after the
// commit that ended it (RFC 9420 §14), nothing to send or commit with. The
// delivery service orders a commit before such a message when the message
// was accepted first but written later, so a receiver meets this whenever
// a commit races a send; Export keeps these epochs so that a client which
// imports its state per message still reads them.
type pastEpoch struct {
	cs         *suite.Suite
	ctx        GroupContext
	ctxBytes   []byte // signed over by the epoch's senders
	senderData suite.Secret
	secrets    *schedule.SecretTree
	members    []Member // in leaf order
}

// pastOf keeps from an epoch that is being replaced what pastEpoch needs.
// The rest (tree, private keys, the other secrets of the key schedule) is
// dropped with the epoch.
func pastOf(st *epochState) *pastEpoch {
	p := &pastEpoch{cs: st.cs, ctx: st.ctx, ctxBytes: st.ctxBytes, senderData: st.keys.SenderData, secrets: st.secrets}
	for i, l := range st.tree.Members() {
		p.members = append(p.members, memberOf(i, l))
	}
	return p
}

// member returns the member at leaf in that epoch.
func (p *pastEpoch) member(leaf uint32) (Member, bool) {
	i, ok := slices.BinarySearchFunc(p.members, leaf, func(m Member, leaf uint32) int { return int(m.Leaf) - int(leaf) })
	if !ok {
		return Member{}, false
	}
	return p.members[i], true
}

// rememberPast moves the current epoch into the past, keeping at most
// MaxPastEpochs.
func (g *Group) rememberPast() {
	if g.st == nil {
		return
	}
	g.past = append(g.past, pastOf(g.st))
	if over := len(g.past) - MaxPastEpochs; over > 0 {
		clear(g.past[:over])
		g.past = g.past[over:]
	}
}

// pastEpoch returns the kept state of an earlier epoch.
func (g *Group) pastEpoch(epoch uint64) *pastEpoch {
	for _, p := range g.past {
		if p.ctx.Epoch == epoch {
			return p
		}
	}
	return nil
}

// processPastApplication reads an application message of a past epoch
// with that epoch's keys and members.
func (g *Group) processPastApplication(p *pastEpoch, pm *PrivateMessage) (*Processed, error) {
	sd, err := pm.DecryptSenderData(p.cs, p.senderData)
	if err != nil {
		return nil, err
	}
	m, ok := p.member(sd.LeafIndex)
	if !ok {
		return nil, fmt.Errorf("%w: sender leaf %d", ErrNotMember, sd.LeafIndex)
	}
	ac, err := pm.Unprotect(p.cs, p.secrets, sd)
	if err != nil {
		return nil, err
	}
	if err := ac.VerifySignature(p.cs, m.SignatureKey, p.ctxBytes); err != nil {
		return nil, err
	}
	pm.ConsumeKey(p.secrets, sd)
	return &Processed{
		Kind:   KindApplication,
		Data:   ac.Content.ApplicationData,
		AAD:    ac.Content.AuthenticatedData,
		Sender: m,
		Epoch:  p.ctx.Epoch,
	}, nil
}

// marshalPast encodes the kept past epochs for Export. Their secrets are
// the sender-data secret and the secret tree's remaining ratchets, whose
// used keys are already gone: restoring them reads late messages, never
// one twice.
func (g *Group) marshalPast(w *codec.Writer) {
	w.Vector(func(w *codec.Writer) {
		for _, p := range g.past {
			p.ctx.MarshalTLS(w)
			w.Opaque(p.senderData.Bytes())
			p.secrets.MarshalState(w)
			w.Vector(func(w *codec.Writer) {
				for _, m := range p.members {
					marshalMember(w, m)
				}
			})
		}
	})
}

// unmarshalPast decodes what marshalPast wrote and checks it against the
// group: same group and suite, epochs increasing and older than current,
// at most MaxPastEpochs, members inside the secret tree.
func unmarshalPast(cs *suite.Suite, current *epochState, r *codec.Reader) ([]*pastEpoch, error) {
	bad := func(err error) error { return fmt.Errorf("%w: state: past epoch: %w", ErrMalformed, err) }
	var past []*pastEpoch
	var err error
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() && err == nil {
			if len(past) == MaxPastEpochs {
				err = fmt.Errorf("more than %d", MaxPastEpochs)
				return
			}
			p := &pastEpoch{cs: cs}
			p.ctx.UnmarshalTLS(r)
			p.senderData = suite.NewSecret(bytes.Clone(r.Opaque()))
			if p.secrets, err = schedule.UnmarshalSecretTree(cs, r); err != nil {
				return
			}
			r.Vector(func(r *codec.Reader) {
				for !r.Empty() {
					p.members = append(p.members, unmarshalMember(r))
				}
			})
			past = append(past, p)
		}
	})
	if err != nil {
		return nil, bad(err)
	}
	if err := r.Err(); err != nil {
		return nil, bad(err)
	}
	for i, p := range past {
		switch {
		case p.ctx.CipherSuite != cs.ID() || p.senderData.Len() != cs.HashSize():
			return nil, bad(fmt.Errorf("epoch %d: not of suite %v", p.ctx.Epoch, cs.ID()))
		case current != nil && (!bytes.Equal(p.ctx.GroupID, current.ctx.GroupID) || p.ctx.Epoch >= current.ctx.Epoch):
			return nil, bad(fmt.Errorf("epoch %d does not precede the current one", p.ctx.Epoch))
		case i > 0 && p.ctx.Epoch <= past[i-1].ctx.Epoch:
			return nil, bad(fmt.Errorf("epochs out of order"))
		}
		for j, m := range p.members {
			if m.Leaf >= p.secrets.LeafCount() || (j > 0 && m.Leaf <= p.members[j-1].Leaf) {
				return nil, bad(fmt.Errorf("epoch %d: member leaf %d out of range or order", p.ctx.Epoch, m.Leaf))
			}
		}
		p.ctxBytes = p.ctx.Encode()
	}
	return past, nil
}
