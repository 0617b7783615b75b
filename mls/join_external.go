package mls

import (
	"bytes"
	"fmt"

	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// GroupInfo returns a signed MLSMessage(GroupInfo) of the current epoch
// carrying the ratchet tree and the external public key, from which a
// client can join with JoinExternal. It is valid for one epoch.
func (g *Group) GroupInfo() ([]byte, error) {
	if !g.Active() {
		return nil, ErrInactive
	}
	st := g.st
	if st.reinit != nil {
		return nil, errReInitialized
	}
	ek, err := st.keys.ExternalKeyPair()
	if err != nil {
		return nil, err
	}
	gi := &GroupInfo{
		GroupContext:    st.ctx,
		Extensions:      tree.Extensions{st.tree.Extension(), tree.ExternalPubExtension(ek.Public())},
		ConfirmationTag: st.confTag,
		Signer:          uint32(st.own),
	}
	if err := gi.Sign(st.cs, g.signer); err != nil {
		return nil, err
	}
	return NewGroupInfoMLSMessage(gi).Encode(), nil
}

// JoinExternal joins a group by an external commit (RFC 9420 §12.4.3.2)
// from a GroupInfo with the ratchet_tree and external_pub extensions. If
// the tree already holds a member with id's credential (a device that
// lost its state), the commit removes that old appearance. The commit is
// pending like any other: send it, then MergePendingCommit (after which
// the group is usable) or DiscardPendingCommit.
func JoinExternal(groupInfo []byte, id Identity) (*Group, []byte, error) {
	cs, err := checkIdentity(id)
	if err != nil {
		return nil, nil, err
	}
	m, err := DecodeMLSMessage(groupInfo)
	if err != nil {
		return nil, nil, err
	}
	if m.WireFormat != WireGroupInfo {
		return nil, nil, fmt.Errorf("%w: %v where a GroupInfo was expected", ErrWireFormat, m.WireFormat)
	}
	gi := m.GroupInfo
	if gi.GroupContext.CipherSuite != id.Suite || gi.GroupContext.Version != tree.MLS10 {
		return nil, nil, fmt.Errorf("%w: group of suite %v", ErrUnsupported, gi.GroupContext.CipherSuite)
	}
	t, err := groupInfoTree(cs, gi, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := verifyGroupInfo(cs, gi, t); err != nil {
		return nil, nil, err
	}
	extPub, ok, err := gi.Extensions.ExternalPub()
	if err != nil || !ok {
		return nil, nil, fmt.Errorf("%w: GroupInfo without a usable external_pub", ErrMalformed)
	}

	// The current epoch as far as an outsider knows it: enough to build
	// the commit, not to read or authenticate the group's messages.
	st := &epochState{cs: cs, ctx: gi.GroupContext, tree: t, confTag: gi.ConfirmationTag}
	st.ctxBytes = st.ctx.Encode()
	st.interim = schedule.InterimTranscriptHash(cs, st.ctx.ConfirmedTranscriptHash, st.confTag)

	kemOutput, initSecret, err := cs.ExternalInit(extPub)
	if err != nil {
		return nil, nil, fmt.Errorf("mls: external init: %w", err)
	}
	sender := Sender{Type: SenderNewMemberCommit}
	entries := []proposalEntry{{p: &Proposal{Type: tree.ProposalExternalInit, ExternalInit: &ExternalInitProposal{KEMOutput: kemOutput}}, sender: sender}}
	for i, l := range t.Members() {
		if bytes.Equal(credentialIdentity(&l.Credential), id.Credential) {
			entries = append(entries, proposalEntry{p: &Proposal{Type: tree.ProposalRemove, Remove: &RemoveProposal{Removed: uint32(i)}}, sender: sender})
			break
		}
	}
	g := &Group{signer: id.SigningKey, psks: map[string]suite.Secret{}}
	a, err := applyProposals(st, entries, sender, applyOptions{})
	if err != nil {
		return nil, nil, err
	}

	// Our leaf goes to the leftmost free slot. GeneratePath replaces this
	// template with the signed leaf carrying the path's parent hash.
	template := &tree.LeafNode{
		SignatureKey: id.SigningKey.Public(),
		Credential:   tree.BasicCredential(bytes.Clone(id.Credential)),
		Capabilities: capabilitiesFor(id.Suite),
		Source:       tree.SourceCommit,
	}
	me, err := a.tree.AddLeaf(template)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidTree, err)
	}
	st.own = me
	pp, err := a.tree.GeneratePath(me, template, id.SigningKey, st.ctx.GroupID)
	if err != nil {
		return nil, nil, fmt.Errorf("mls: generate path: %w", err)
	}
	up, err := pp.Encrypt(provisionalContext(st, a), nil)
	if err != nil {
		return nil, nil, err
	}
	commit := &Commit{Path: up}
	for _, e := range entries {
		commit.Proposals = append(commit.Proposals, ProposalOrRef{Proposal: e.p})
	}
	ac := &AuthenticatedContent{
		WireFormat: WirePublicMessage,
		Content: FramedContent{
			GroupID:     st.ctx.GroupID,
			Epoch:       st.ctx.Epoch,
			Sender:      sender,
			ContentType: ContentCommit,
			Commit:      commit,
		},
	}
	if err := ac.Sign(cs, id.SigningKey, st.ctxBytes); err != nil {
		return nil, nil, err
	}
	next, _, err := nextEpoch(st, a, ac, initSecret, pp.CommitSecret(), suite.Secret{})
	if err != nil {
		return nil, nil, err
	}
	next.priv = pp.PrivateState()
	pm, err := ProtectPublic(cs, ac, suite.Secret{}, st.ctxBytes)
	if err != nil {
		return nil, nil, err
	}
	msg := NewPublicMLSMessage(pm).Encode()
	g.pending = &pendingCommit{
		commit: msg,
		next:   next,
		result: &commitResult{sender: memberOf(me, a.tree.Leaf(me)), removed: a.removed},
	}
	return g, bytes.Clone(msg), nil
}
