package mls

import (
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
)

// PublicMessage is a signed but unencrypted handshake message (RFC 9420
// §6.2). MembershipTag is present for member senders only.
type PublicMessage struct {
	Content       FramedContent
	Auth          FramedContentAuthData
	MembershipTag []byte
}

// MarshalTLS encodes pm.
func (pm *PublicMessage) MarshalTLS(w *codec.Writer) {
	pm.Content.MarshalTLS(w)
	pm.Auth.marshal(w, pm.Content.ContentType)
	if pm.Content.Sender.Type == SenderMember {
		w.Opaque(pm.MembershipTag)
	}
}

// UnmarshalTLS decodes pm. Application content decodes (it is
// well-formed) but Unprotect rejects it.
func (pm *PublicMessage) UnmarshalTLS(r *codec.Reader) {
	*pm = PublicMessage{}
	pm.Content.UnmarshalTLS(r)
	pm.Auth.unmarshal(r, pm.Content.ContentType)
	if pm.Content.Sender.Type == SenderMember {
		pm.MembershipTag = r.Opaque()
	}
}

// AuthenticatedContent returns the message's content as an
// AuthenticatedContent, sharing its slices.
func (pm *PublicMessage) AuthenticatedContent() *AuthenticatedContent {
	return &AuthenticatedContent{WireFormat: WirePublicMessage, Content: pm.Content, Auth: pm.Auth}
}

// tbm encodes AuthenticatedContentTBM = FramedContentTBS || auth.
func tbm(ac *AuthenticatedContent, groupContext []byte) []byte {
	w := codec.NewWriter(512 + len(groupContext))
	ac.marshalTBS(w, groupContext)
	ac.Auth.marshal(w, ac.Content.ContentType)
	return w.Bytes()
}

// ProtectPublic wraps a signed AuthenticatedContent (with its confirmation
// tag, for a commit) in a PublicMessage, adding the membership tag for a
// member sender. Application data may not be sent this way (ErrWireFormat).
func ProtectPublic(s *suite.Suite, ac *AuthenticatedContent, membershipKey suite.Secret, groupContext []byte) (*PublicMessage, error) {
	if ac.WireFormat != WirePublicMessage {
		return nil, fmt.Errorf("%w: content signed for %v, protected as public", ErrWireFormat, ac.WireFormat)
	}
	if ac.Content.ContentType == ContentApplication {
		return nil, fmt.Errorf("%w: application data must be sent as a PrivateMessage", ErrWireFormat)
	}
	pm := &PublicMessage{Content: ac.Content, Auth: ac.Auth}
	if ac.Content.Sender.Type == SenderMember {
		pm.MembershipTag = s.MAC(membershipKey, tbm(ac, groupContext))
	}
	return pm, nil
}

// Unprotect checks what a PublicMessage's framing can check by itself:
// no application data, and for a member sender the membership tag under
// membershipKey (ErrBadMembershipTag). It returns the AuthenticatedContent,
// whose signature the caller must then verify with VerifySignature under
// the sender's key, which only the group state knows. The caller also
// checks group_id and epoch.
func (pm *PublicMessage) Unprotect(s *suite.Suite, membershipKey suite.Secret, groupContext []byte) (*AuthenticatedContent, error) {
	if pm.Content.ContentType == ContentApplication {
		return nil, fmt.Errorf("%w: application data in a PublicMessage", ErrWireFormat)
	}
	ac := pm.AuthenticatedContent()
	if pm.Content.Sender.Type == SenderMember {
		if !s.VerifyMAC(membershipKey, tbm(ac, groupContext), pm.MembershipTag) {
			return nil, ErrBadMembershipTag
		}
	}
	return ac, nil
}
