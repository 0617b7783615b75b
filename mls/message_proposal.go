package mls

import (
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// AddProposal asks to add the client of KeyPackage (RFC 9420 §12.1.1).
type AddProposal struct{ KeyPackage KeyPackage }

// UpdateProposal replaces the sender's leaf (§12.1.2).
type UpdateProposal struct{ LeafNode tree.LeafNode }

// RemoveProposal removes the member at leaf Removed (§12.1.3).
type RemoveProposal struct{ Removed uint32 }

// PreSharedKeyProposal injects a PSK into the next epoch (§12.1.4).
type PreSharedKeyProposal struct{ PSK schedule.PreSharedKeyID }

// ReInitProposal asks to reinitialise the group (§12.1.5).
type ReInitProposal struct {
	GroupID     []byte
	Version     tree.ProtocolVersion
	CipherSuite suite.ID
	Extensions  tree.Extensions
}

// ExternalInitProposal carries an external joiner's KEM output (§12.1.6).
type ExternalInitProposal struct{ KEMOutput []byte }

// GroupContextExtensionsProposal replaces the GroupContext's extensions
// (§12.1.7).
type GroupContextExtensionsProposal struct{ Extensions tree.Extensions }

func (p *AddProposal) MarshalTLS(w *codec.Writer)    { p.KeyPackage.MarshalTLS(w) }
func (p *AddProposal) UnmarshalTLS(r *codec.Reader)  { p.KeyPackage.UnmarshalTLS(r) }
func (p *UpdateProposal) MarshalTLS(w *codec.Writer) { p.LeafNode.MarshalTLS(w) }
func (p *UpdateProposal) UnmarshalTLS(r *codec.Reader) {
	p.LeafNode.UnmarshalTLS(r)
}
func (p *RemoveProposal) MarshalTLS(w *codec.Writer)   { w.Uint32(p.Removed) }
func (p *RemoveProposal) UnmarshalTLS(r *codec.Reader) { p.Removed = r.Uint32() }
func (p *PreSharedKeyProposal) MarshalTLS(w *codec.Writer) {
	p.PSK.MarshalTLS(w)
}
func (p *PreSharedKeyProposal) UnmarshalTLS(r *codec.Reader) { p.PSK.UnmarshalTLS(r) }
func (p *ExternalInitProposal) MarshalTLS(w *codec.Writer)   { w.Opaque(p.KEMOutput) }
func (p *ExternalInitProposal) UnmarshalTLS(r *codec.Reader) { p.KEMOutput = r.Opaque() }
func (p *GroupContextExtensionsProposal) MarshalTLS(w *codec.Writer) {
	p.Extensions.MarshalTLS(w)
}
func (p *GroupContextExtensionsProposal) UnmarshalTLS(r *codec.Reader) {
	p.Extensions.UnmarshalTLS(r)
}

// MarshalTLS encodes p.
func (p *ReInitProposal) MarshalTLS(w *codec.Writer) {
	w.Opaque(p.GroupID)
	w.Uint16(uint16(p.Version))
	w.Uint16(uint16(p.CipherSuite))
	p.Extensions.MarshalTLS(w)
}

// UnmarshalTLS decodes p. The version is not required to be mls10: a
// ReInit may name a later version.
func (p *ReInitProposal) UnmarshalTLS(r *codec.Reader) {
	p.GroupID = r.Opaque()
	p.Version = tree.ProtocolVersion(r.Uint16())
	p.CipherSuite = suite.ID(r.Uint16())
	p.Extensions.UnmarshalTLS(r)
}

// Proposal is one proposal; exactly the field matching Type is set.
type Proposal struct {
	Type                   tree.ProposalType
	Add                    *AddProposal
	Update                 *UpdateProposal
	Remove                 *RemoveProposal
	PreSharedKey           *PreSharedKeyProposal
	ReInit                 *ReInitProposal
	ExternalInit           *ExternalInitProposal
	GroupContextExtensions *GroupContextExtensionsProposal
}

// body returns the proposal's typed body, or nil when the field matching
// Type is unset.
func (p *Proposal) body() codec.Marshaler {
	switch p.Type {
	case tree.ProposalAdd:
		if p.Add != nil {
			return p.Add
		}
	case tree.ProposalUpdate:
		if p.Update != nil {
			return p.Update
		}
	case tree.ProposalRemove:
		if p.Remove != nil {
			return p.Remove
		}
	case tree.ProposalPSK:
		if p.PreSharedKey != nil {
			return p.PreSharedKey
		}
	case tree.ProposalReInit:
		if p.ReInit != nil {
			return p.ReInit
		}
	case tree.ProposalExternalInit:
		if p.ExternalInit != nil {
			return p.ExternalInit
		}
	case tree.ProposalGroupContextExtensions:
		if p.GroupContextExtensions != nil {
			return p.GroupContextExtensions
		}
	}
	return nil
}

// MarshalTLS encodes p. It panics if the body matching p.Type is missing,
// a programming error in the caller.
func (p *Proposal) MarshalTLS(w *codec.Writer) {
	b := p.body()
	if b == nil {
		panic(fmt.Sprintf("mls: proposal of type %d without its body", p.Type))
	}
	w.Uint16(uint16(p.Type))
	b.MarshalTLS(w)
}

// UnmarshalTLS decodes p. Proposal types other than those of RFC 9420 are
// rejected: their bodies carry no length, so they cannot be skipped.
func (p *Proposal) UnmarshalTLS(r *codec.Reader) {
	*p = Proposal{Type: tree.ProposalType(r.Uint16())}
	switch p.Type {
	case tree.ProposalAdd:
		p.Add = new(AddProposal)
		p.Add.UnmarshalTLS(r)
	case tree.ProposalUpdate:
		p.Update = new(UpdateProposal)
		p.Update.UnmarshalTLS(r)
	case tree.ProposalRemove:
		p.Remove = new(RemoveProposal)
		p.Remove.UnmarshalTLS(r)
	case tree.ProposalPSK:
		p.PreSharedKey = new(PreSharedKeyProposal)
		p.PreSharedKey.UnmarshalTLS(r)
	case tree.ProposalReInit:
		p.ReInit = new(ReInitProposal)
		p.ReInit.UnmarshalTLS(r)
	case tree.ProposalExternalInit:
		p.ExternalInit = new(ExternalInitProposal)
		p.ExternalInit.UnmarshalTLS(r)
	case tree.ProposalGroupContextExtensions:
		p.GroupContextExtensions = new(GroupContextExtensionsProposal)
		p.GroupContextExtensions.UnmarshalTLS(r)
	default:
		r.Fail(fmt.Errorf("%w: proposal type %d", codec.ErrInvalidValue, p.Type))
	}
}

// ProposalOrRefType distinguishes inline proposals from references.
type ProposalOrRefType uint8

// The ProposalOrRef types.
const (
	ProposalOrRefProposal  ProposalOrRefType = 1
	ProposalOrRefReference ProposalOrRefType = 2
)

// ProposalOrRef is a proposal in a Commit: inline (Proposal set) or by
// reference (Reference holds the ProposalRef).
type ProposalOrRef struct {
	Proposal  *Proposal
	Reference []byte
}

// MarshalTLS encodes p.
func (p *ProposalOrRef) MarshalTLS(w *codec.Writer) {
	if p.Proposal != nil {
		w.Uint8(uint8(ProposalOrRefProposal))
		p.Proposal.MarshalTLS(w)
		return
	}
	w.Uint8(uint8(ProposalOrRefReference))
	w.Opaque(p.Reference)
}

// UnmarshalTLS decodes p.
func (p *ProposalOrRef) UnmarshalTLS(r *codec.Reader) {
	*p = ProposalOrRef{}
	switch t := ProposalOrRefType(r.Uint8()); t {
	case ProposalOrRefProposal:
		p.Proposal = new(Proposal)
		p.Proposal.UnmarshalTLS(r)
	case ProposalOrRefReference:
		p.Reference = r.Opaque()
	default:
		r.Fail(fmt.Errorf("%w: ProposalOrRef type %d", codec.ErrInvalidValue, t))
	}
}

// Commit applies proposals and optionally carries an UpdatePath (§12.4).
type Commit struct {
	Proposals []ProposalOrRef
	Path      *tree.UpdatePath
}

// MarshalTLS encodes c.
func (c *Commit) MarshalTLS(w *codec.Writer) {
	w.Vector(func(w *codec.Writer) {
		for i := range c.Proposals {
			c.Proposals[i].MarshalTLS(w)
		}
	})
	w.Optional(c.Path != nil)
	if c.Path != nil {
		c.Path.MarshalTLS(w)
	}
}

// UnmarshalTLS decodes c.
func (c *Commit) UnmarshalTLS(r *codec.Reader) {
	*c = Commit{}
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			var p ProposalOrRef
			p.UnmarshalTLS(r)
			c.Proposals = append(c.Proposals, p)
		}
	})
	if r.Optional() {
		c.Path = new(tree.UpdatePath)
		c.Path.UnmarshalTLS(r)
	}
}

// Reference labels of RFC 9420 §5.2.
const (
	keyPackageRefLabel = "MLS 1.0 KeyPackage Reference"
	proposalRefLabel   = "MLS 1.0 Proposal Reference"
)
