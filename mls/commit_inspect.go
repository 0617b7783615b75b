package mls

import (
	"bytes"
	"fmt"

	"github.com/parleyhq/parley/mls/tree"
)

// CommitSummary is what anyone can read of a commit sent as a
// PublicMessage, without the group's secrets: its framing and the
// proposals it carries inline. A delivery service compares it with what a
// committing client declares (which devices it adds and removes); the
// members verify everything else.
type CommitSummary struct {
	GroupID []byte
	Epoch   uint64 // the epoch the commit was made in
	// External is set for a new member's external commit (JoinExternal,
	// also a device rejoining by resync); Sender is meaningful otherwise.
	External bool
	Sender   uint32 // the committer's leaf
	// PathCredential is the credential identity of the committer's new
	// leaf in the commit's update path (nil without a path): for an
	// external commit, the joiner.
	PathCredential []byte
	// Added are the credential identities of the key packages of the Add
	// proposals, in order; Removed the leaves of the Remove proposals.
	Added   [][]byte
	Removed []uint32
	// Other counts the other inline proposals (Update, PreSharedKey,
	// ExternalInit, GroupContextExtensions, ReInit), References the
	// proposals included by reference, whose content this message does
	// not carry.
	Other, References int
}

// InspectCommit decodes an MLSMessage(PublicMessage) carrying a Commit and
// summarises it. It checks the encoding only: no signature, membership
// tag, confirmation tag or proposal validity, for which the group state is
// needed. The error wraps ErrMalformed or ErrWireFormat.
func InspectCommit(msg []byte) (*CommitSummary, error) {
	m, err := DecodeMLSMessage(msg)
	if err != nil {
		return nil, err
	}
	if m.WireFormat != WirePublicMessage {
		return nil, fmt.Errorf("%w: %v where a PublicMessage commit was expected", ErrWireFormat, m.WireFormat)
	}
	fc := &m.Public.Content
	if fc.ContentType != ContentCommit || fc.Commit == nil {
		return nil, fmt.Errorf("%w: a PublicMessage of %v, not a commit", ErrWireFormat, fc.ContentType)
	}
	s := &CommitSummary{GroupID: bytes.Clone(fc.GroupID), Epoch: fc.Epoch}
	switch fc.Sender.Type {
	case SenderMember:
		s.Sender = fc.Sender.Index
	case SenderNewMemberCommit:
		s.External = true
	default:
		return nil, fmt.Errorf("%w: a commit from sender type %d", ErrMalformed, fc.Sender.Type)
	}
	if p := fc.Commit.Path; p != nil {
		s.PathCredential = credentialIdentity(&p.LeafNode.Credential)
	}
	for _, por := range fc.Commit.Proposals {
		p := por.Proposal
		switch {
		case p == nil:
			s.References++
		case p.Type == tree.ProposalAdd && p.Add != nil:
			s.Added = append(s.Added, credentialIdentity(&p.Add.KeyPackage.LeafNode.Credential))
		case p.Type == tree.ProposalRemove && p.Remove != nil:
			s.Removed = append(s.Removed, p.Remove.Removed)
		default:
			s.Other++
		}
	}
	return s, nil
}

// InspectGroupInfo decodes an MLSMessage(GroupInfo) and returns its group
// id and epoch, checking the encoding only (not the signature).
func InspectGroupInfo(msg []byte) (groupID []byte, epoch uint64, err error) {
	m, err := DecodeMLSMessage(msg)
	if err != nil {
		return nil, 0, err
	}
	if m.WireFormat != WireGroupInfo {
		return nil, 0, fmt.Errorf("%w: %v where a GroupInfo was expected", ErrWireFormat, m.WireFormat)
	}
	return bytes.Clone(m.GroupInfo.GroupContext.GroupID), m.GroupInfo.GroupContext.Epoch, nil
}

// IsWelcome reports whether msg decodes as an MLSMessage(Welcome).
func IsWelcome(msg []byte) bool {
	m, err := DecodeMLSMessage(msg)
	return err == nil && m.WireFormat == WireWelcome
}
