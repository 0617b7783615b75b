package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/mls/tree"
)

// Process handles one incoming MLSMessage: a PublicMessage (handshake) or
// a PrivateMessage (application data or handshake). It verifies
// everything RFC 9420 requires of a receiver; on any error the group is
// left exactly as it was.
//
// A commit of another member while our own commit is pending is refused
// with ErrPendingCommit: call DiscardPendingCommit first if the delivery
// service chose the other commit. Our own commit coming back is refused
// with ErrOwnCommit; merge it with MergePendingCommit.
func (g *Group) Process(msg []byte) (*Processed, error) {
	if !g.active {
		return nil, ErrInactive
	}
	if g.st == nil {
		return nil, fmt.Errorf("%w: external join not merged yet", ErrPendingCommit)
	}
	m, err := DecodeMLSMessage(msg)
	if err != nil {
		return nil, err
	}
	switch m.WireFormat {
	case WirePublicMessage:
		return g.processPublic(m.Public)
	case WirePrivateMessage:
		return g.processPrivate(m.Private)
	}
	return nil, fmt.Errorf("%w: %v is not a group message", ErrWireFormat, m.WireFormat)
}

// checkHeader checks that a message is for this group and epoch.
func (st *epochState) checkHeader(groupID []byte, epoch uint64) error {
	if !bytes.Equal(groupID, st.ctx.GroupID) {
		return ErrWrongGroup
	}
	if epoch != st.ctx.Epoch {
		return fmt.Errorf("%w: message for epoch %d, group at %d", ErrWrongEpoch, epoch, st.ctx.Epoch)
	}
	return nil
}

// processPublic unprotects and authenticates a PublicMessage (RFC 9420
// §6.2): membership tag for members, then the signature under the key the
// sender type designates (§6.1).
func (g *Group) processPublic(pm *PublicMessage) (*Processed, error) {
	st := g.st
	fc := &pm.Content
	if err := st.checkHeader(fc.GroupID, fc.Epoch); err != nil {
		return nil, err
	}
	ac, err := pm.Unprotect(st.cs, st.keys.Membership, st.ctxBytes)
	if err != nil {
		return nil, err
	}
	switch fc.Sender.Type {
	case SenderMember:
		leaf := st.tree.Leaf(tree.LeafIndex(fc.Sender.Index))
		if leaf == nil {
			return nil, fmt.Errorf("%w: sender leaf %d", ErrNotMember, fc.Sender.Index)
		}
		if fc.ContentType == ContentCommit && tree.LeafIndex(fc.Sender.Index) == st.own {
			return nil, ErrOwnCommit
		}
		if err := ac.VerifySignature(st.cs, leaf.SignatureKey, st.ctxBytes); err != nil {
			return nil, err
		}
	case SenderExternal:
		if fc.ContentType != ContentProposal {
			return nil, fmt.Errorf("%w: %v from an external sender", ErrProposalNotAllowed, fc.ContentType)
		}
		senders, _, err := st.ctx.Extensions.ExternalSenders()
		if err != nil || uint64(fc.Sender.Index) >= uint64(len(senders)) {
			return nil, fmt.Errorf("%w: unknown external sender %d", ErrNotMember, fc.Sender.Index)
		}
		if err := ac.VerifySignature(st.cs, senders[fc.Sender.Index].SignatureKey, nil); err != nil {
			return nil, err
		}
	case SenderNewMemberProposal:
		if fc.ContentType != ContentProposal || fc.Proposal.Type != tree.ProposalAdd {
			return nil, fmt.Errorf("%w: a new member may only propose its own Add", ErrProposalNotAllowed)
		}
		if err := ac.VerifySignature(st.cs, fc.Proposal.Add.KeyPackage.LeafNode.SignatureKey, nil); err != nil {
			return nil, err
		}
	case SenderNewMemberCommit:
		if fc.ContentType != ContentCommit {
			return nil, fmt.Errorf("%w: %v from a new member", ErrProposalNotAllowed, fc.ContentType)
		}
		// The signature key is in the commit's path; processCommit
		// verifies it before using anything the commit carries.
	}
	return g.handleContent(ac, nil)
}

// processPrivate decrypts and authenticates a PrivateMessage (RFC 9420
// §6.3). The ratchet key it used is consumed only once the whole message
// (for a commit: the whole commit) has been accepted, so a forged message
// cannot burn the key of a genuine one.
func (g *Group) processPrivate(pm *PrivateMessage) (*Processed, error) {
	st := g.st
	if err := st.checkHeader(pm.GroupID, pm.Epoch); err != nil {
		// A late application message of a recent epoch is still
		// readable; handshake messages of past epochs are not.
		old := g.pastEpoch(pm.Epoch)
		if !errors.Is(err, ErrWrongEpoch) || pm.ContentType != ContentApplication || old == nil {
			return nil, err
		}
		return g.processPastApplication(old, pm)
	}
	sd, err := pm.DecryptSenderData(st.cs, st.keys.SenderData)
	if err != nil {
		return nil, err
	}
	leaf := st.tree.Leaf(tree.LeafIndex(sd.LeafIndex))
	if leaf == nil {
		return nil, fmt.Errorf("%w: sender leaf %d", ErrNotMember, sd.LeafIndex)
	}
	if pm.ContentType == ContentCommit && tree.LeafIndex(sd.LeafIndex) == st.own {
		return nil, ErrOwnCommit
	}
	ac, err := pm.Unprotect(st.cs, st.secrets, sd)
	if err != nil {
		return nil, err
	}
	if err := ac.VerifySignature(st.cs, leaf.SignatureKey, st.ctxBytes); err != nil {
		return nil, err
	}
	return g.handleContent(ac, func() { pm.ConsumeKey(st.secrets, sd) })
}

// handleContent acts on authenticated content. consume, if set, is called
// once the content has been accepted.
func (g *Group) handleContent(ac *AuthenticatedContent, consume func()) (*Processed, error) {
	st := g.st
	fc := &ac.Content
	out := &Processed{AAD: fc.AuthenticatedData, Epoch: st.ctx.Epoch}
	if fc.Sender.Type == SenderMember {
		if l := st.tree.Leaf(tree.LeafIndex(fc.Sender.Index)); l != nil {
			out.Sender = memberOf(tree.LeafIndex(fc.Sender.Index), l)
		}
	}
	switch fc.ContentType {
	case ContentApplication:
		out.Kind = KindApplication
		out.Data = fc.ApplicationData
	case ContentProposal:
		if st.reinit != nil {
			return nil, errReInitialized
		}
		if err := g.cacheProposal(st, ac); err != nil {
			return nil, err
		}
		out.Kind = KindProposal
	case ContentCommit:
		if g.pending != nil {
			return nil, ErrPendingCommit
		}
		if st.reinit != nil {
			return nil, errReInitialized
		}
		next, res, err := g.processCommit(st, ac)
		if err != nil {
			return nil, err
		}
		out.Kind = KindCommit
		out.Sender = res.sender
		out.Added, out.Removed, out.Updated = res.added, res.removed, res.updated
		if next == nil {
			g.active = false
		} else {
			g.install(next)
			out.Epoch = next.ctx.Epoch
		}
	default:
		return nil, fmt.Errorf("%w: content type %d", ErrMalformed, fc.ContentType)
	}
	if consume != nil {
		consume()
	}
	return out, nil
}

// cacheProposal checks a received proposal on its own and keeps it for a
// later commit. The checks that depend on the rest of the commit run
// again when a commit refers to it.
func (g *Group) cacheProposal(st *epochState, ac *AuthenticatedContent) error {
	p := ac.Content.Proposal
	s := ac.Content.Sender
	if err := checkProposalSender(p, s); err != nil {
		return err
	}
	if len(st.proposals) >= MaxCachedProposals {
		return fmt.Errorf("%w: more than %d proposals in one epoch", ErrProposalNotAllowed, MaxCachedProposals)
	}
	required, _, err := st.ctx.Extensions.RequiredCapabilities()
	if err != nil {
		return fmt.Errorf("%w: required_capabilities: %w", ErrMalformed, err)
	}
	switch p.Type {
	case tree.ProposalAdd:
		if err := p.Add.KeyPackage.Validate(&KeyPackageCheck{Suite: st.cs}); err != nil {
			return fmt.Errorf("mls: Add proposal: %w", err)
		}
	case tree.ProposalUpdate:
		i := tree.LeafIndex(s.Index)
		if err := checkLeaf(st.cs, &p.Update.LeafNode, &tree.LeafCheck{GroupID: st.ctx.GroupID, Index: i, Source: tree.SourceUpdate, Required: required}, ErrProposalNotAllowed); err != nil {
			return fmt.Errorf("mls: Update proposal: %w", err)
		}
		if err := leafCompat(st.tree, &p.Update.LeafNode, &i); err != nil {
			return fmt.Errorf("mls: Update proposal: %w", err)
		}
		if old := st.tree.Leaf(i); old == nil || !old.Credential.Equal(&p.Update.LeafNode.Credential) {
			return fmt.Errorf("%w: Update changes the sender's credential", ErrProposalNotAllowed)
		}
	case tree.ProposalRemove:
		if st.tree.Leaf(tree.LeafIndex(p.Remove.Removed)) == nil {
			return fmt.Errorf("%w: Remove of blank leaf %d", ErrNotMember, p.Remove.Removed)
		}
	case tree.ProposalPSK:
		if err := checkPSKProposal(st, &p.PreSharedKey.PSK); err != nil {
			return err
		}
	case tree.ProposalGroupContextExtensions:
		if err := checkGroupExtensions(p.GroupContextExtensions.Extensions); err != nil {
			return err
		}
	}
	ref := ac.ProposalRef(st.cs)
	if _, dup := st.findProposal(ref); dup {
		return nil // a replay changes nothing
	}
	st.proposals = append(st.proposals, cachedProposal{ref: ref, proposal: p, sender: s})
	return nil
}
