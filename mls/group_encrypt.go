package mls

import (
	"github.com/parleyhq/parley/mls/codec"
)

// Encrypt protects an application message as an MLSMessage(PrivateMessage)
// of the current epoch, signed by us and padded so that the encrypted
// content is a multiple of 32 octets. aad travels in clear but
// authenticated.
//
// Encrypt works while a commit of ours is pending: the message belongs to
// the current epoch, which the other members are still in until the
// commit is accepted.
func (g *Group) Encrypt(plaintext, aad []byte) ([]byte, error) {
	if !g.Active() {
		return nil, ErrInactive
	}
	st := g.st
	if st.reinit != nil {
		return nil, errReInitialized
	}
	ac := &AuthenticatedContent{
		WireFormat: WirePrivateMessage,
		Content: FramedContent{
			GroupID:           st.ctx.GroupID,
			Epoch:             st.ctx.Epoch,
			Sender:            MemberSender(uint32(st.own)),
			AuthenticatedData: aad,
			ContentType:       ContentApplication,
			ApplicationData:   plaintext,
		},
	}
	if err := ac.Sign(st.cs, g.signer, st.ctxBytes); err != nil {
		return nil, err
	}
	sig := len(ac.Auth.Signature)
	n := codec.VarintSize(len(plaintext)) + len(plaintext) + codec.VarintSize(sig) + sig
	padding := (paddingBlock - n%paddingBlock) % paddingBlock
	pm, err := ProtectPrivate(st.cs, ac, st.secrets, st.keys.SenderData, padding)
	if err != nil {
		return nil, err
	}
	return NewPrivateMLSMessage(pm).Encode(), nil
}
