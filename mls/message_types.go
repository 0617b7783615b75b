package mls

import (
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// WireFormat says how an MLSMessage is protected (RFC 9420 §6, IANA "MLS
// Wire Formats").
type WireFormat uint16

// The wire formats of RFC 9420.
const (
	WirePublicMessage  WireFormat = 1
	WirePrivateMessage WireFormat = 2
	WireWelcome        WireFormat = 3
	WireGroupInfo      WireFormat = 4
	WireKeyPackage     WireFormat = 5
)

func (w WireFormat) String() string {
	switch w {
	case WirePublicMessage:
		return "mls_public_message"
	case WirePrivateMessage:
		return "mls_private_message"
	case WireWelcome:
		return "mls_welcome"
	case WireGroupInfo:
		return "mls_group_info"
	case WireKeyPackage:
		return "mls_key_package"
	}
	return fmt.Sprintf("WireFormat(%d)", uint16(w))
}

// ContentType is what a FramedContent carries.
type ContentType uint8

// The content types.
const (
	ContentApplication ContentType = 1
	ContentProposal    ContentType = 2
	ContentCommit      ContentType = 3
)

func (c ContentType) String() string {
	switch c {
	case ContentApplication:
		return "application"
	case ContentProposal:
		return "proposal"
	case ContentCommit:
		return "commit"
	}
	return fmt.Sprintf("ContentType(%d)", uint8(c))
}

func (c ContentType) valid() bool { return c >= ContentApplication && c <= ContentCommit }

// SenderType is the kind of sender of a FramedContent.
type SenderType uint8

// The sender types.
const (
	SenderMember            SenderType = 1
	SenderExternal          SenderType = 2
	SenderNewMemberProposal SenderType = 3
	SenderNewMemberCommit   SenderType = 4
)

// Sender identifies who sent a FramedContent. Index is the leaf_index of
// a member or the sender_index (into the external_senders extension) of an
// external sender; it is zero and unused for new members.
type Sender struct {
	Type  SenderType
	Index uint32
}

// MemberSender returns the Sender of the member at leaf.
func MemberSender(leaf uint32) Sender { return Sender{Type: SenderMember, Index: leaf} }

// MarshalTLS encodes s.
func (s *Sender) MarshalTLS(w *codec.Writer) {
	w.Uint8(uint8(s.Type))
	if s.Type == SenderMember || s.Type == SenderExternal {
		w.Uint32(s.Index)
	}
}

// UnmarshalTLS decodes s, rejecting unknown sender types.
func (s *Sender) UnmarshalTLS(r *codec.Reader) {
	*s = Sender{Type: SenderType(r.Uint8())}
	switch s.Type {
	case SenderMember, SenderExternal:
		s.Index = r.Uint32()
	case SenderNewMemberProposal, SenderNewMemberCommit:
	default:
		r.Fail(fmt.Errorf("%w: sender type %d", codec.ErrInvalidValue, s.Type))
	}
}

// signsWithContext reports whether the FramedContentTBS of this sender
// includes the GroupContext (RFC 9420 §6.1).
func (s Sender) signsWithContext() bool {
	return s.Type == SenderMember || s.Type == SenderNewMemberCommit
}

// readVersion reads a ProtocolVersion and requires mls10, the only version
// this implementation speaks.
func readVersion(r *codec.Reader) tree.ProtocolVersion {
	v := tree.ProtocolVersion(r.Uint16())
	if r.Err() == nil && v != tree.MLS10 {
		r.Fail(fmt.Errorf("%w: protocol version %d", codec.ErrInvalidValue, v))
	}
	return v
}

// GroupContext summarises the state of a group in one epoch (RFC 9420
// §8.1). It lives in package mls because its extensions are tree's and
// both framing and the group layer need it; the key schedule takes its
// encoding (Encode).
type GroupContext struct {
	Version                 tree.ProtocolVersion
	CipherSuite             suite.ID
	GroupID                 []byte
	Epoch                   uint64
	TreeHash                []byte
	ConfirmedTranscriptHash []byte
	Extensions              tree.Extensions
}

// MarshalTLS encodes gc.
func (gc *GroupContext) MarshalTLS(w *codec.Writer) {
	w.Uint16(uint16(gc.Version))
	w.Uint16(uint16(gc.CipherSuite))
	w.Opaque(gc.GroupID)
	w.Uint64(gc.Epoch)
	w.Opaque(gc.TreeHash)
	w.Opaque(gc.ConfirmedTranscriptHash)
	gc.Extensions.MarshalTLS(w)
}

// UnmarshalTLS decodes gc. The cipher suite is not checked here: a
// GroupContext of an unsupported suite is still well-formed.
func (gc *GroupContext) UnmarshalTLS(r *codec.Reader) {
	*gc = GroupContext{}
	gc.Version = readVersion(r)
	gc.CipherSuite = suite.ID(r.Uint16())
	gc.GroupID = r.Opaque()
	gc.Epoch = r.Uint64()
	gc.TreeHash = r.Opaque()
	gc.ConfirmedTranscriptHash = r.Opaque()
	gc.Extensions.UnmarshalTLS(r)
}

// Encode returns the TLS encoding of gc, the form the key schedule and
// signatures consume.
func (gc *GroupContext) Encode() []byte {
	w := codec.NewWriter(128 + len(gc.GroupID))
	gc.MarshalTLS(w)
	return w.Bytes()
}
