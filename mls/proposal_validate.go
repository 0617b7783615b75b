package mls

import (
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/tree"
)

// proposalEntry is one proposal of a commit, resolved: inline proposals
// have the committer as sender and no ref.
type proposalEntry struct {
	p      *Proposal
	sender Sender
	ref    []byte
}

// externalSenderTypes are the proposal types a sender of type external
// may send (RFC 9420 §12.1.8).
var externalSenderTypes = map[tree.ProposalType]bool{
	tree.ProposalAdd:                    true,
	tree.ProposalRemove:                 true,
	tree.ProposalPSK:                    true,
	tree.ProposalReInit:                 true,
	tree.ProposalGroupContextExtensions: true,
}

// checkProposalSender enforces who may send which proposal in a Proposal
// message (RFC 9420 §6, §12.1.8): members anything but ExternalInit
// (which only travels inline in an external commit), external senders the
// types of externalSenderTypes, and a new member only an Add of itself.
func checkProposalSender(p *Proposal, s Sender) error {
	switch s.Type {
	case SenderMember:
		if p.Type == tree.ProposalExternalInit {
			return fmt.Errorf("%w: ExternalInit outside an external commit", ErrProposalNotAllowed)
		}
	case SenderExternal:
		if !externalSenderTypes[p.Type] {
			return fmt.Errorf("%w: proposal type %d from an external sender", ErrProposalNotAllowed, p.Type)
		}
	case SenderNewMemberProposal:
		if p.Type != tree.ProposalAdd {
			return fmt.Errorf("%w: proposal type %d from a new member", ErrProposalNotAllowed, p.Type)
		}
	default:
		return fmt.Errorf("%w: proposal from sender type %d", ErrProposalNotAllowed, s.Type)
	}
	return nil
}

// pathRequired reports whether a commit covering entries must carry an
// UpdatePath (RFC 9420 §12.4): when empty, or when any proposal is of a
// type other than add, psk and reinit.
func pathRequired(entries []proposalEntry) bool {
	if len(entries) == 0 {
		return true
	}
	for _, e := range entries {
		switch e.p.Type {
		case tree.ProposalAdd, tree.ProposalPSK, tree.ProposalReInit:
		default:
			return true
		}
	}
	return false
}

// validateProposalList checks the rules of RFC 9420 §12.2 that concern
// the list as a whole; the rules for each proposal are checked as it is
// applied (applyProposals). committer is the commit's sender; for a member
// commit its leaf is committer.Index.
//
// resumption is the usage (reinit or branch) of the one resumption PSK
// the commit that starts a group from another carries; 0 otherwise.
func validateProposalList(st *epochState, entries []proposalEntry, committer Sender, resumption schedule.ResumptionUsage) error {
	if committer.Type == SenderNewMemberCommit {
		return validateExternalList(entries)
	}
	var (
		touched = map[uint32]bool{} // leaves updated or removed
		psks    = map[string]bool{}
		addKeys = map[string]bool{}
		gce     int
		reinit  bool
		linked  bool // the resumption PSK of usage resumption is present
	)
	for _, e := range entries {
		p := e.p
		switch p.Type {
		case tree.ProposalUpdate:
			if e.sender.Type != SenderMember {
				return fmt.Errorf("%w: Update from sender type %d", ErrProposalNotAllowed, e.sender.Type)
			}
			if e.sender.Index == committer.Index {
				return fmt.Errorf("%w: Update by the committer", ErrProposalNotAllowed)
			}
			if touched[e.sender.Index] {
				return fmt.Errorf("%w: two Updates or Removes for leaf %d", ErrProposalNotAllowed, e.sender.Index)
			}
			touched[e.sender.Index] = true
		case tree.ProposalRemove:
			r := p.Remove.Removed
			if r == committer.Index {
				return ErrCommitterRemoved
			}
			if touched[r] {
				return fmt.Errorf("%w: two Updates or Removes for leaf %d", ErrProposalNotAllowed, r)
			}
			touched[r] = true
		case tree.ProposalAdd:
			k := string(p.Add.KeyPackage.LeafNode.SignatureKey)
			if addKeys[k] {
				return fmt.Errorf("%w: two Adds of one client", ErrDuplicateMember)
			}
			addKeys[k] = true
		case tree.ProposalPSK:
			id := &p.PreSharedKey.PSK
			if resumption != 0 && id.Type == schedule.PSKResumption && id.Usage == resumption && e.ref == nil {
				if len(id.Nonce) != st.cs.HashSize() || linked {
					return fmt.Errorf("%w: resumption PSK of usage %d", ErrProposalNotAllowed, id.Usage)
				}
				linked = true
			} else if err := checkPSKProposal(st, id); err != nil {
				return err
			}
			k := string(codec.Marshal(&p.PreSharedKey.PSK))
			if psks[k] {
				return fmt.Errorf("%w: the same PSK twice", ErrProposalNotAllowed)
			}
			psks[k] = true
		case tree.ProposalGroupContextExtensions:
			if gce++; gce > 1 {
				return fmt.Errorf("%w: two GroupContextExtensions proposals", ErrProposalNotAllowed)
			}
		case tree.ProposalReInit:
			if p.ReInit.Version < st.ctx.Version {
				return fmt.Errorf("%w: ReInit to an older version", ErrProposalNotAllowed)
			}
			reinit = true
		case tree.ProposalExternalInit:
			return fmt.Errorf("%w: ExternalInit in a member's commit", ErrProposalNotAllowed)
		default:
			return fmt.Errorf("%w: proposal type %d", ErrProposalNotAllowed, p.Type)
		}
	}
	if reinit && len(entries) > 1 {
		return fmt.Errorf("%w: ReInit with other proposals", ErrProposalNotAllowed)
	}
	return nil
}

// validateExternalList checks an external commit's proposals
// (RFC 9420 §12.2): exactly one ExternalInit, at most one Remove, any
// number of PreSharedKey, nothing else, all inline.
func validateExternalList(entries []proposalEntry) error {
	var inits, removes int
	for _, e := range entries {
		if e.ref != nil {
			return fmt.Errorf("%w: proposal by reference in an external commit", ErrProposalNotAllowed)
		}
		switch e.p.Type {
		case tree.ProposalExternalInit:
			inits++
		case tree.ProposalRemove:
			removes++
		case tree.ProposalPSK:
		default:
			return fmt.Errorf("%w: proposal type %d in an external commit", ErrProposalNotAllowed, e.p.Type)
		}
	}
	if inits != 1 || removes > 1 {
		return fmt.Errorf("%w: external commit with %d ExternalInit and %d Remove proposals", ErrProposalNotAllowed, inits, removes)
	}
	return nil
}

// checkPSKProposal enforces RFC 9420 §12.1.4: a nonce of Nh octets, and
// no resumption PSK of usage reinit or branch outside those protocols.
func checkPSKProposal(st *epochState, id *schedule.PreSharedKeyID) error {
	if len(id.Nonce) != st.cs.HashSize() {
		return fmt.Errorf("%w: PSK nonce of %d octets", ErrProposalNotAllowed, len(id.Nonce))
	}
	if id.Type == schedule.PSKResumption && id.Usage != schedule.ResumptionApplication {
		return fmt.Errorf("%w: resumption PSK of usage %d in a proposal", ErrProposalNotAllowed, id.Usage)
	}
	return nil
}
