package mls

import (
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/tree"
)

// MLSMessage is the outer wrapper of everything MLS sends (RFC 9420 §6):
// exactly the field matching WireFormat is set. Version is always mls10.
type MLSMessage struct {
	Version    tree.ProtocolVersion
	WireFormat WireFormat
	Public     *PublicMessage
	Private    *PrivateMessage
	Welcome    *Welcome
	GroupInfo  *GroupInfo
	KeyPackage *KeyPackage
}

// body returns the message matching WireFormat, or nil.
func (m *MLSMessage) body() codec.Marshaler {
	switch m.WireFormat {
	case WirePublicMessage:
		if m.Public != nil {
			return m.Public
		}
	case WirePrivateMessage:
		if m.Private != nil {
			return m.Private
		}
	case WireWelcome:
		if m.Welcome != nil {
			return m.Welcome
		}
	case WireGroupInfo:
		if m.GroupInfo != nil {
			return m.GroupInfo
		}
	case WireKeyPackage:
		if m.KeyPackage != nil {
			return m.KeyPackage
		}
	}
	return nil
}

// MarshalTLS encodes m. It panics if the body matching WireFormat is
// missing, a programming error.
func (m *MLSMessage) MarshalTLS(w *codec.Writer) {
	b := m.body()
	if b == nil {
		panic(fmt.Sprintf("mls: MLSMessage of wire format %d without its body", m.WireFormat))
	}
	w.Uint16(uint16(tree.MLS10))
	w.Uint16(uint16(m.WireFormat))
	b.MarshalTLS(w)
}

// UnmarshalTLS decodes m, rejecting versions other than mls10 and unknown
// wire formats.
func (m *MLSMessage) UnmarshalTLS(r *codec.Reader) {
	*m = MLSMessage{}
	m.Version = readVersion(r)
	m.WireFormat = WireFormat(r.Uint16())
	switch m.WireFormat {
	case WirePublicMessage:
		m.Public = new(PublicMessage)
		m.Public.UnmarshalTLS(r)
	case WirePrivateMessage:
		m.Private = new(PrivateMessage)
		m.Private.UnmarshalTLS(r)
	case WireWelcome:
		m.Welcome = new(Welcome)
		m.Welcome.UnmarshalTLS(r)
	case WireGroupInfo:
		m.GroupInfo = new(GroupInfo)
		m.GroupInfo.UnmarshalTLS(r)
	case WireKeyPackage:
		m.KeyPackage = new(KeyPackage)
		m.KeyPackage.UnmarshalTLS(r)
	default:
		r.Fail(fmt.Errorf("%w: wire format %d", codec.ErrInvalidValue, m.WireFormat))
	}
}

// Encode returns the encoding of m.
func (m *MLSMessage) Encode() []byte { return codec.Marshal(m) }

// DecodeMLSMessage decodes a complete MLSMessage; trailing bytes and
// every malformation wrap ErrMalformed.
func DecodeMLSMessage(b []byte) (*MLSMessage, error) {
	var m MLSMessage
	if err := codec.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return &m, nil
}

// NewPublicMLSMessage wraps pm.
func NewPublicMLSMessage(pm *PublicMessage) *MLSMessage {
	return &MLSMessage{Version: tree.MLS10, WireFormat: WirePublicMessage, Public: pm}
}

// NewPrivateMLSMessage wraps pm.
func NewPrivateMLSMessage(pm *PrivateMessage) *MLSMessage {
	return &MLSMessage{Version: tree.MLS10, WireFormat: WirePrivateMessage, Private: pm}
}

// NewWelcomeMLSMessage wraps wm.
func NewWelcomeMLSMessage(wm *Welcome) *MLSMessage {
	return &MLSMessage{Version: tree.MLS10, WireFormat: WireWelcome, Welcome: wm}
}

// NewGroupInfoMLSMessage wraps gi.
func NewGroupInfoMLSMessage(gi *GroupInfo) *MLSMessage {
	return &MLSMessage{Version: tree.MLS10, WireFormat: WireGroupInfo, GroupInfo: gi}
}

// NewKeyPackageMLSMessage wraps kp.
func NewKeyPackageMLSMessage(kp *KeyPackage) *MLSMessage {
	return &MLSMessage{Version: tree.MLS10, WireFormat: WireKeyPackage, KeyPackage: kp}
}
