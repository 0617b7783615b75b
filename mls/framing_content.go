package mls

import (
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// framedContentSignLabel is the SignWithLabel label of FramedContentTBS.
const framedContentSignLabel = "FramedContentTBS"

// FramedContent is the content of a handshake or application message and
// its routing data (RFC 9420 §6). Exactly one of ApplicationData,
// Proposal and Commit is meaningful, according to ContentType.
type FramedContent struct {
	GroupID           []byte
	Epoch             uint64
	Sender            Sender
	AuthenticatedData []byte
	ContentType       ContentType
	ApplicationData   []byte
	Proposal          *Proposal
	Commit            *Commit
}

// marshalBody writes the content_type-selected body (shared with
// PrivateMessageContent, which omits the content type itself).
func (fc *FramedContent) marshalBody(w *codec.Writer) {
	switch fc.ContentType {
	case ContentApplication:
		w.Opaque(fc.ApplicationData)
	case ContentProposal:
		fc.Proposal.MarshalTLS(w)
	case ContentCommit:
		fc.Commit.MarshalTLS(w)
	default:
		panic(fmt.Sprintf("mls: cannot encode content type %d", fc.ContentType))
	}
}

// unmarshalBody reads the body selected by fc.ContentType.
func (fc *FramedContent) unmarshalBody(r *codec.Reader) {
	switch fc.ContentType {
	case ContentApplication:
		fc.ApplicationData = r.Opaque()
	case ContentProposal:
		fc.Proposal = new(Proposal)
		fc.Proposal.UnmarshalTLS(r)
	case ContentCommit:
		fc.Commit = new(Commit)
		fc.Commit.UnmarshalTLS(r)
	default:
		r.Fail(fmt.Errorf("%w: content type %d", codec.ErrInvalidValue, fc.ContentType))
	}
}

// MarshalTLS encodes fc.
func (fc *FramedContent) MarshalTLS(w *codec.Writer) {
	w.Opaque(fc.GroupID)
	w.Uint64(fc.Epoch)
	fc.Sender.MarshalTLS(w)
	w.Opaque(fc.AuthenticatedData)
	w.Uint8(uint8(fc.ContentType))
	fc.marshalBody(w)
}

// UnmarshalTLS decodes fc.
func (fc *FramedContent) UnmarshalTLS(r *codec.Reader) {
	*fc = FramedContent{}
	fc.GroupID = r.Opaque()
	fc.Epoch = r.Uint64()
	fc.Sender.UnmarshalTLS(r)
	fc.AuthenticatedData = r.Opaque()
	fc.ContentType = ContentType(r.Uint8())
	fc.unmarshalBody(r)
}

// FramedContentAuthData authenticates a FramedContent: the sender's
// signature and, for commits, the confirmation tag.
type FramedContentAuthData struct {
	Signature       []byte
	ConfirmationTag []byte // commits only
}

func (a *FramedContentAuthData) marshal(w *codec.Writer, ct ContentType) {
	w.Opaque(a.Signature)
	if ct == ContentCommit {
		w.Opaque(a.ConfirmationTag)
	}
}

func (a *FramedContentAuthData) unmarshal(r *codec.Reader, ct ContentType) {
	*a = FramedContentAuthData{Signature: r.Opaque()}
	if ct == ContentCommit {
		a.ConfirmationTag = r.Opaque()
	}
}

// AuthenticatedContent is a FramedContent with its authentication and the
// wire format it is (to be) sent in. It is what the group layer processes,
// whatever the wire protection.
type AuthenticatedContent struct {
	WireFormat WireFormat
	Content    FramedContent
	Auth       FramedContentAuthData
}

// MarshalTLS encodes ac.
func (ac *AuthenticatedContent) MarshalTLS(w *codec.Writer) {
	w.Uint16(uint16(ac.WireFormat))
	ac.Content.MarshalTLS(w)
	ac.Auth.marshal(w, ac.Content.ContentType)
}

// UnmarshalTLS decodes ac. Only the public and private message wire
// formats can carry content.
func (ac *AuthenticatedContent) UnmarshalTLS(r *codec.Reader) {
	*ac = AuthenticatedContent{}
	ac.WireFormat = WireFormat(r.Uint16())
	if ac.WireFormat != WirePublicMessage && ac.WireFormat != WirePrivateMessage {
		r.Fail(fmt.Errorf("%w: wire format %d for framed content", codec.ErrInvalidValue, ac.WireFormat))
		return
	}
	ac.Content.UnmarshalTLS(r)
	ac.Auth.unmarshal(r, ac.Content.ContentType)
}

// marshalTBS writes FramedContentTBS; groupContext is the encoded
// GroupContext, included for member and new_member_commit senders.
func (ac *AuthenticatedContent) marshalTBS(w *codec.Writer, groupContext []byte) {
	w.Uint16(uint16(tree.MLS10))
	w.Uint16(uint16(ac.WireFormat))
	ac.Content.MarshalTLS(w)
	if ac.Content.Sender.signsWithContext() {
		w.Raw(groupContext)
	}
}

// TBS returns the encoded FramedContentTBS.
func (ac *AuthenticatedContent) TBS(groupContext []byte) []byte {
	w := codec.NewWriter(256 + len(ac.Content.ApplicationData) + len(groupContext))
	ac.marshalTBS(w, groupContext)
	return w.Bytes()
}

// Sign sets ac.Auth.Signature over FramedContentTBS. groupContext is the
// encoded GroupContext of the epoch the content is sent in.
func (ac *AuthenticatedContent) Sign(s *suite.Suite, key *suite.SigningKey, groupContext []byte) error {
	sig, err := s.SignWithLabel(key, framedContentSignLabel, ac.TBS(groupContext))
	if err != nil {
		return fmt.Errorf("mls: sign framed content: %w", err)
	}
	ac.Auth.Signature = sig
	return nil
}

// VerifySignature checks ac.Auth.Signature under the sender's signature
// key pub; failure wraps ErrBadSignature.
func (ac *AuthenticatedContent) VerifySignature(s *suite.Suite, pub []byte, groupContext []byte) error {
	if err := s.VerifyWithLabel(pub, framedContentSignLabel, ac.TBS(groupContext), ac.Auth.Signature); err != nil {
		return fmt.Errorf("%w: framed content: %w", ErrBadSignature, err)
	}
	return nil
}

// ConfirmedTranscriptHashInput returns the encoded (wire_format, content,
// signature) of a commit, the input to the confirmed transcript hash.
func (ac *AuthenticatedContent) ConfirmedTranscriptHashInput() []byte {
	w := codec.NewWriter(512)
	w.Uint16(uint16(ac.WireFormat))
	ac.Content.MarshalTLS(w)
	w.Opaque(ac.Auth.Signature)
	return w.Bytes()
}

// TranscriptHashes returns the confirmed and interim transcript hashes
// after the commit ac, given the interim hash before it (RFC 9420 §8.2).
func (ac *AuthenticatedContent) TranscriptHashes(s *suite.Suite, interimBefore []byte) (confirmed, interim []byte) {
	confirmed = schedule.ConfirmedTranscriptHash(s, interimBefore, ac.ConfirmedTranscriptHashInput())
	interim = schedule.InterimTranscriptHash(s, confirmed, ac.Auth.ConfirmationTag)
	return confirmed, interim
}

// ProposalRef returns the ProposalRef of a proposal sent in ac,
// RefHash("MLS 1.0 Proposal Reference", AuthenticatedContent).
func (ac *AuthenticatedContent) ProposalRef(s *suite.Suite) []byte {
	return s.RefHash(proposalRefLabel, codec.Marshal(ac))
}
