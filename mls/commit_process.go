package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// findProposal returns the cached proposal with reference ref.
func (st *epochState) findProposal(ref []byte) (*cachedProposal, bool) {
	for i := range st.proposals {
		if bytes.Equal(st.proposals[i].ref, ref) {
			return &st.proposals[i], true
		}
	}
	return nil, false
}

// processCommit applies a received commit, already unprotected and (for
// member senders) signature-checked, to st (RFC 9420 §12.4.2). It returns
// the new epoch without touching st; next is nil when the commit removes
// us, in which case result.removed includes us.
func (g *Group) processCommit(st *epochState, ac *AuthenticatedContent) (next *epochState, result *commitResult, err error) {
	cs := st.cs
	c := ac.Content.Commit
	sender := ac.Content.Sender
	external := sender.Type == SenderNewMemberCommit

	entries := make([]proposalEntry, 0, len(c.Proposals))
	for _, por := range c.Proposals {
		if por.Proposal != nil {
			entries = append(entries, proposalEntry{p: por.Proposal, sender: sender})
			continue
		}
		if external {
			return nil, nil, fmt.Errorf("%w: proposal by reference in an external commit", ErrProposalNotAllowed)
		}
		cp, ok := st.findProposal(por.Reference)
		if !ok {
			return nil, nil, fmt.Errorf("%w: %x", ErrUnknownProposal, por.Reference)
		}
		entries = append(entries, proposalEntry{p: cp.proposal, sender: cp.sender, ref: por.Reference})
	}

	a, err := applyProposals(st, entries, sender, applyOptions{now: g.now(), grace: ReceivedKeyPackageGrace})
	if err != nil {
		return nil, nil, err
	}
	if c.Path == nil && (external || pathRequired(entries)) {
		return nil, nil, ErrPathRequired
	}
	required, _, _ := a.extensions.RequiredCapabilities() // decoded without error by applyProposals

	committer := tree.LeafIndex(sender.Index)
	initSecret := st.keys.Init
	if external {
		committer = a.tree.FreeLeaf()
		if a.extInit == nil {
			return nil, nil, fmt.Errorf("%w: external commit without ExternalInit", ErrProposalNotAllowed)
		}
		ek, err := st.keys.ExternalKeyPair()
		if err != nil {
			return nil, nil, err
		}
		initSecret, err = cs.ExternalInitSecret(ek, a.extInit.KEMOutput)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: external init: %w", ErrDecryptionFailed, err)
		}
	}

	var commitSecret suite.Secret
	priv := st.priv
	if c.Path != nil {
		leaf := &c.Path.LeafNode
		if err := checkLeaf(cs, leaf, &tree.LeafCheck{GroupID: st.ctx.GroupID, Index: committer, Source: tree.SourceCommit, Required: required}, ErrInvalidPath); err != nil {
			return nil, nil, fmt.Errorf("mls: committer's leaf: %w", err)
		}
		if external {
			if err := checkExternalJoiner(st, a, leaf); err != nil {
				return nil, nil, err
			}
			// The joiner signs with the key of the leaf it brings.
			if err := ac.VerifySignature(cs, leaf.SignatureKey, st.ctxBytes); err != nil {
				return nil, nil, err
			}
			if err := leafCompat(a.tree, leaf, nil); err != nil {
				return nil, nil, fmt.Errorf("mls: joiner's leaf: %w", err)
			}
			if i, err := a.tree.AddLeaf(leaf); err != nil || i != committer {
				return nil, nil, fmt.Errorf("%w: joiner's leaf: %v", ErrInvalidPath, err)
			}
		} else {
			if err := leafCompat(a.tree, leaf, &committer); err != nil {
				return nil, nil, fmt.Errorf("mls: committer's leaf: %w", err)
			}
			// A member keeps its identity: a new credential would let a
			// member (or a thief of its signing key) turn into someone
			// else without the others being told (RFC 9420 §5.3.1).
			if old := st.tree.Leaf(committer); old != nil && !leaf.Credential.Equal(&old.Credential) {
				return nil, nil, fmt.Errorf("%w: committer's leaf changes its credential", ErrInvalidPath)
			}
		}
		if err := a.tree.MergeUpdatePath(committer, c.Path, a.addedLeafs); err != nil {
			return nil, nil, pathError(err)
		}
		if !a.removedMe {
			dp, err := a.tree.DecryptPath(st.priv, committer, c.Path, provisionalContext(st, a), a.addedLeafs)
			if err != nil {
				return nil, nil, pathError(err)
			}
			commitSecret, priv = dp.CommitSecret, dp.State
		}
	} else {
		priv = st.priv.Clone()
		priv.Prune(a.tree)
	}

	result = &commitResult{added: a.added, removed: a.removed, updated: a.updated}
	if l := a.tree.Leaf(committer); l != nil {
		result.sender = memberOf(committer, l)
		if c.Path != nil && !external {
			result.updated = append(result.updated, result.sender)
		}
	}
	if a.removedMe {
		return nil, result, nil
	}

	pskSecret, err := g.pskSecret(cs, st.ctx.GroupID, a.psks)
	if err != nil {
		return nil, nil, err
	}
	next, _, err = nextEpoch(st, a, ac, initSecret, commitSecret, pskSecret)
	if err != nil {
		return nil, nil, err
	}
	next.priv = priv
	next.reinit = a.reinit
	return next, result, nil
}

// checkExternalJoiner enforces the rule of RFC 9420 §12.2 for an external
// commit that removes a member (a "resync"): the joiner must present the
// removed member's identity.
func checkExternalJoiner(st *epochState, a *applied, leaf *tree.LeafNode) error {
	for _, r := range a.removed {
		if !bytes.Equal(r.Credential, credentialIdentity(&leaf.Credential)) {
			return fmt.Errorf("%w: external commit removes leaf %d of another identity", ErrProposalNotAllowed, r.Leaf)
		}
	}
	return nil
}

// pathError maps the tree package's UpdatePath errors to ours.
func pathError(err error) error {
	switch {
	case errors.Is(err, tree.ErrParentHash):
		return fmt.Errorf("%w: %w", ErrParentHashMismatch, err)
	case errors.Is(err, tree.ErrDuplicateKey):
		return fmt.Errorf("%w: %w: %w", ErrInvalidPath, ErrDuplicateMember, err)
	}
	return fmt.Errorf("%w: %w", ErrInvalidPath, err)
}
