package mls

import (
	"bytes"
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/internal/parallel"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// AddMembers commits adding the clients of keyPackages (each an
// MLSMessage(KeyPackage)). The Welcome's GroupInfo carries the
// ratchet_tree extension, so joiners need nothing else. The commit is
// staged: send it, then MergePendingCommit or DiscardPendingCommit.
func (g *Group) AddMembers(keyPackages [][]byte) (commit, welcome []byte, err error) {
	if len(keyPackages) == 0 {
		return nil, nil, fmt.Errorf("mls: AddMembers without key packages")
	}
	return g.Commit(keyPackages, nil)
}

// RemoveMembers commits removing the members at leaves.
func (g *Group) RemoveMembers(leaves []uint32) (commit []byte, err error) {
	if len(leaves) == 0 {
		return nil, fmt.Errorf("mls: RemoveMembers without leaves")
	}
	commit, _, err = g.Commit(nil, leaves)
	return commit, err
}

// SelfUpdate commits a fresh leaf key and path for this member (an
// "empty" commit giving post-compromise security).
func (g *Group) SelfUpdate() (commit []byte, err error) {
	commit, _, err = g.Commit(nil, nil)
	return commit, err
}

// Commit creates one commit that adds and removes members, together with
// the valid proposals received in this epoch, and always refreshes our
// path. welcome is nil without adds.
func (g *Group) Commit(adds [][]byte, removes []uint32) (commit, welcome []byte, err error) {
	st, err := g.ready()
	if err != nil {
		return nil, nil, err
	}
	own := MemberSender(uint32(st.own))
	var entries []proposalEntry
	for _, b := range removes {
		if b == uint32(st.own) {
			return nil, nil, ErrCommitterRemoved
		}
		entries = append(entries, proposalEntry{p: &Proposal{Type: tree.ProposalRemove, Remove: &RemoveProposal{Removed: b}}, sender: own})
	}
	for _, msg := range adds {
		m, err := DecodeMLSMessage(msg)
		if err != nil {
			return nil, nil, err
		}
		if m.WireFormat != WireKeyPackage {
			return nil, nil, fmt.Errorf("%w: %v where a key package was expected", ErrWireFormat, m.WireFormat)
		}
		entries = append(entries, proposalEntry{p: &Proposal{Type: tree.ProposalAdd, Add: &AddProposal{KeyPackage: *m.KeyPackage}}, sender: own})
	}
	withCached := g.withCachedProposals(st, entries)
	p, err := g.createCommit(st, withCached)
	if err != nil && len(withCached) != len(entries) {
		// A received proposal made the list invalid; commit ours alone.
		p, err = g.createCommit(st, entries)
	}
	if err != nil {
		return nil, nil, err
	}
	g.pending = p
	return bytes.Clone(p.commit), bytes.Clone(p.welcome), nil
}

// ready returns the current epoch if this member may commit or send.
func (g *Group) ready() (*epochState, error) {
	switch {
	case !g.active:
		return nil, ErrInactive
	case g.pending != nil:
		return nil, ErrPendingCommit
	case g.st == nil:
		return nil, ErrNotMember
	case g.st.reinit != nil:
		return nil, errReInitialized
	}
	return g.st, nil
}

// withCachedProposals appends to entries, by reference, the proposals
// received in this epoch that fit with them (RFC 9420 §12.4: a committer
// SHOULD include all valid proposals). It skips what would make the list
// invalid: a second Update or Remove of one leaf (preferring ours and
// Removes), a Remove of ourselves, a duplicate Add or PSK, a second
// GroupContextExtensions, a PSK we do not hold, and ReInit (which must
// be alone; other proposals are preferred, as §12.2 advises).
func (g *Group) withCachedProposals(st *epochState, entries []proposalEntry) []proposalEntry {
	if len(st.proposals) == 0 {
		return entries
	}
	out := append([]proposalEntry(nil), entries...)
	touched := map[uint32]bool{}
	addKeys := map[string]bool{}
	psks := map[string]bool{}
	gce := false
	for _, e := range entries {
		if e.p.Type == tree.ProposalRemove {
			touched[e.p.Remove.Removed] = true
		}
		if e.p.Type == tree.ProposalAdd {
			addKeys[string(e.p.Add.KeyPackage.LeafNode.SignatureKey)] = true
		}
	}
	// Removes first, so that they win over Updates of the same leaf.
	for pass := 0; pass < 2; pass++ {
		for _, cp := range st.proposals {
			p := cp.proposal
			isRemove := p.Type == tree.ProposalRemove
			if (pass == 0) != isRemove {
				continue
			}
			switch p.Type {
			case tree.ProposalRemove:
				r := p.Remove.Removed
				if r == uint32(st.own) || touched[r] {
					continue
				}
				touched[r] = true
			case tree.ProposalUpdate:
				if cp.sender.Type != SenderMember || cp.sender.Index == uint32(st.own) || touched[cp.sender.Index] {
					continue
				}
				touched[cp.sender.Index] = true
			case tree.ProposalAdd:
				k := string(p.Add.KeyPackage.LeafNode.SignatureKey)
				if addKeys[k] {
					continue
				}
				addKeys[k] = true
			case tree.ProposalPSK:
				k := string(codec.Marshal(&p.PreSharedKey.PSK))
				if psks[k] {
					continue
				}
				if _, err := g.pskSecret(st.cs, st.ctx.GroupID, []schedule.PreSharedKeyID{p.PreSharedKey.PSK}); err != nil {
					continue
				}
				psks[k] = true
			case tree.ProposalGroupContextExtensions:
				if gce {
					continue
				}
				gce = true
			default:
				continue
			}
			out = append(out, proposalEntry{p: p, sender: cp.sender, ref: cp.ref})
		}
	}
	return out
}

// createCommit builds and signs a commit of entries with a fresh path,
// derives the next epoch, and prepares the Welcome for added members. It
// does not modify st or g.
func (g *Group) createCommit(st *epochState, entries []proposalEntry) (*pendingCommit, error) {
	return g.createCommitWith(st, entries, 0)
}

// createCommitWith is createCommit for a commit that may carry one
// resumption PSK of usage resumption (reinit or branch; 0 for none).
func (g *Group) createCommitWith(st *epochState, entries []proposalEntry, resumption schedule.ResumptionUsage) (*pendingCommit, error) {
	cs := st.cs
	own := MemberSender(uint32(st.own))
	a, err := applyProposals(st, entries, own, applyOptions{now: g.now(), resumption: resumption})
	if err != nil {
		return nil, err
	}
	pp, err := a.tree.GeneratePath(st.own, st.tree.Leaf(st.own), g.signer, st.ctx.GroupID)
	if err != nil {
		return nil, fmt.Errorf("mls: generate path: %w", err)
	}
	up, err := pp.Encrypt(provisionalContext(st, a), a.addedLeafs)
	if err != nil {
		return nil, err
	}
	commit := &Commit{Proposals: make([]ProposalOrRef, len(entries)), Path: up}
	for i, e := range entries {
		if e.ref != nil {
			commit.Proposals[i].Reference = e.ref
		} else {
			commit.Proposals[i].Proposal = e.p
		}
	}
	ac := &AuthenticatedContent{
		WireFormat: WirePublicMessage,
		Content: FramedContent{
			GroupID:     st.ctx.GroupID,
			Epoch:       st.ctx.Epoch,
			Sender:      own,
			ContentType: ContentCommit,
			Commit:      commit,
		},
	}
	if err := ac.Sign(cs, g.signer, st.ctxBytes); err != nil {
		return nil, err
	}
	pskSecret, err := g.pskSecret(cs, st.ctx.GroupID, a.psks)
	if err != nil {
		return nil, err
	}
	next, joiner, err := nextEpoch(st, a, ac, st.keys.Init, pp.CommitSecret(), pskSecret)
	if err != nil {
		return nil, err
	}
	next.priv = pp.PrivateState()
	next.reinit = a.reinit
	pm, err := ProtectPublic(cs, ac, st.keys.Membership, st.ctxBytes)
	if err != nil {
		return nil, err
	}
	p := &pendingCommit{
		commit: NewPublicMLSMessage(pm).Encode(),
		next:   next,
		result: &commitResult{sender: memberOf(st.own, a.tree.Leaf(st.own)), added: a.added, removed: a.removed, updated: a.updated},
	}
	if len(a.addedKPs) > 0 {
		p.welcome, err = g.makeWelcome(next, a, joiner, pskSecret, func(l tree.LeafIndex) (*suite.Secret, error) {
			s, err := pp.PathSecretFor(l)
			return &s, err
		})
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// makeWelcome encrypts the new epoch's GroupInfo (signed, with the
// ratchet tree) and each added member's GroupSecrets (RFC 9420
// §12.4.3.1). The HPKE encryptions, one per joiner, run in parallel.
func (g *Group) makeWelcome(next *epochState, a *applied, joiner, pskSecret suite.Secret, pathSecret func(tree.LeafIndex) (*suite.Secret, error)) ([]byte, error) {
	cs := next.cs
	gi := &GroupInfo{
		GroupContext:    next.ctx,
		Extensions:      tree.Extensions{next.tree.Extension()},
		ConfirmationTag: next.confTag,
		Signer:          uint32(next.own),
	}
	if err := gi.Sign(cs, g.signer); err != nil {
		return nil, err
	}
	welcomeSecret := schedule.WelcomeSecret(cs, joiner, pskSecret)
	encGI, err := EncryptGroupInfo(cs, welcomeSecret, gi)
	welcomeSecret.Wipe()
	if err != nil {
		return nil, err
	}
	w := &Welcome{CipherSuite: cs.ID(), Secrets: make([]EncryptedGroupSecrets, len(a.addedKPs)), EncryptedGroupInfo: encGI}
	// One encrypter for all joiners: the context (the encrypted
	// GroupInfo, which holds the tree) is hashed once, not per joiner.
	enc := cs.NewLabelEncrypter(welcomeEncryptLabel, encGI)
	err = parallel.Run(len(a.addedKPs), func(i int) error {
		ps, err := pathSecret(a.addedLeafs[i])
		if err != nil {
			return err
		}
		gs := GroupSecrets{JoinerSecret: joiner, PathSecret: ps, PSKs: a.psks}
		kp := a.addedKPs[i]
		kem, ct, err := enc.Encrypt(kp.InitKey, codec.Marshal(&gs))
		if err != nil {
			return fmt.Errorf("mls: encrypt group secrets: %w", err)
		}
		w.Secrets[i] = EncryptedGroupSecrets{NewMember: kp.Ref(cs), EncryptedGroupSecrets: tree.HPKECiphertext{KEMOutput: kem, Ciphertext: ct}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return NewWelcomeMLSMessage(w).Encode(), nil
}

// ProposeLeave returns a Remove proposal of ourselves (an MLSMessage
// PublicMessage): a member cannot commit its own removal, so it asks the
// others, and the next commit by any member includes it. We keep the
// proposal too, so that we recognise the commit that removes us.
func (g *Group) ProposeLeave() ([]byte, error) {
	st, err := g.ready()
	if err != nil {
		return nil, err
	}
	ac := &AuthenticatedContent{
		WireFormat: WirePublicMessage,
		Content: FramedContent{
			GroupID:     st.ctx.GroupID,
			Epoch:       st.ctx.Epoch,
			Sender:      MemberSender(uint32(st.own)),
			ContentType: ContentProposal,
			Proposal:    &Proposal{Type: tree.ProposalRemove, Remove: &RemoveProposal{Removed: uint32(st.own)}},
		},
	}
	if err := ac.Sign(st.cs, g.signer, st.ctxBytes); err != nil {
		return nil, err
	}
	pm, err := ProtectPublic(st.cs, ac, st.keys.Membership, st.ctxBytes)
	if err != nil {
		return nil, err
	}
	if err := g.cacheProposal(st, ac); err != nil {
		return nil, err
	}
	return NewPublicMLSMessage(pm).Encode(), nil
}

// PendingProposals returns how many proposals received in this epoch
// await a commit. RFC 9420 §12.4 asks a member that has seen proposals to
// commit before sending application data; a client can use this to decide
// to call SelfUpdate (which includes them).
func (g *Group) PendingProposals() int {
	if g.st == nil {
		return 0
	}
	return len(g.st.proposals)
}
