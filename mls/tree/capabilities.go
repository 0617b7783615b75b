package tree

import (
	"slices"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
)

// ProtocolVersion is an MLS protocol version (RFC 9420 §6).
type ProtocolVersion uint16

// MLS10 is the only version RFC 9420 defines.
const MLS10 ProtocolVersion = 1

// ProposalType identifies a proposal (IANA "MLS Proposal Types"). It is
// defined here because capabilities list proposal types; the group layer
// uses it for the proposals themselves.
type ProposalType uint16

// The proposal types of RFC 9420 §12.1. They are "default": capabilities
// never list them.
const (
	ProposalAdd                    ProposalType = 1
	ProposalUpdate                 ProposalType = 2
	ProposalRemove                 ProposalType = 3
	ProposalPSK                    ProposalType = 4
	ProposalReInit                 ProposalType = 5
	ProposalExternalInit           ProposalType = 6
	ProposalGroupContextExtensions ProposalType = 7
)

// IsDefault reports whether t is one of the proposal types of RFC 9420
// that capabilities need not list.
func (t ProposalType) IsDefault() bool {
	return t >= ProposalAdd && t <= ProposalGroupContextExtensions
}

// Capabilities lists what a client supports (RFC 9420 §7.2). Unknown
// values are kept and ignored, as extensibility (§13) requires.
type Capabilities struct {
	Versions     []ProtocolVersion
	CipherSuites []suite.ID
	Extensions   []ExtensionType
	Proposals    []ProposalType
	Credentials  []CredentialType
}

// uint16s writes a vector of 16-bit values.
func uint16s[T ~uint16](w *codec.Writer, v []T) {
	w.Vector(func(w *codec.Writer) {
		for _, x := range v {
			w.Uint16(uint16(x))
		}
	})
}

// readUint16s reads a vector of 16-bit values.
func readUint16s[T ~uint16](r *codec.Reader) []T {
	var v []T
	r.Vector(func(r *codec.Reader) {
		if r.Len()%2 != 0 {
			r.Fail(codec.ErrTruncated)
			return
		}
		v = make([]T, 0, r.Len()/2)
		for !r.Empty() {
			v = append(v, T(r.Uint16()))
		}
	})
	return v
}

// MarshalTLS encodes c.
func (c *Capabilities) MarshalTLS(w *codec.Writer) {
	uint16s(w, c.Versions)
	uint16s(w, c.CipherSuites)
	uint16s(w, c.Extensions)
	uint16s(w, c.Proposals)
	uint16s(w, c.Credentials)
}

// UnmarshalTLS decodes c.
func (c *Capabilities) UnmarshalTLS(r *codec.Reader) {
	c.Versions = readUint16s[ProtocolVersion](r)
	c.CipherSuites = readUint16s[suite.ID](r)
	c.Extensions = readUint16s[ExtensionType](r)
	c.Proposals = readUint16s[ProposalType](r)
	c.Credentials = readUint16s[CredentialType](r)
}

// SupportsExtension reports whether t is default or listed.
func (c *Capabilities) SupportsExtension(t ExtensionType) bool {
	return t.IsDefault() || slices.Contains(c.Extensions, t)
}

// SupportsProposal reports whether t is default or listed.
func (c *Capabilities) SupportsProposal(t ProposalType) bool {
	return t.IsDefault() || slices.Contains(c.Proposals, t)
}

// SupportsCredential reports whether t is listed; no credential type is
// implied.
func (c *Capabilities) SupportsCredential(t CredentialType) bool {
	return slices.Contains(c.Credentials, t)
}

// Satisfies reports whether c covers everything rc requires.
func (c *Capabilities) Satisfies(rc *RequiredCapabilities) bool {
	if rc == nil {
		return true
	}
	for _, t := range rc.Extensions {
		if !c.SupportsExtension(t) {
			return false
		}
	}
	for _, t := range rc.Proposals {
		if !c.SupportsProposal(t) {
			return false
		}
	}
	for _, t := range rc.Credentials {
		if !c.SupportsCredential(t) {
			return false
		}
	}
	return true
}

// RequiredCapabilities is the required_capabilities group context
// extension (RFC 9420 §11.1).
type RequiredCapabilities struct {
	Extensions  []ExtensionType
	Proposals   []ProposalType
	Credentials []CredentialType
}

// MarshalTLS encodes rc.
func (rc *RequiredCapabilities) MarshalTLS(w *codec.Writer) {
	uint16s(w, rc.Extensions)
	uint16s(w, rc.Proposals)
	uint16s(w, rc.Credentials)
}

// UnmarshalTLS decodes rc.
func (rc *RequiredCapabilities) UnmarshalTLS(r *codec.Reader) {
	rc.Extensions = readUint16s[ExtensionType](r)
	rc.Proposals = readUint16s[ProposalType](r)
	rc.Credentials = readUint16s[CredentialType](r)
}

// Lifetime bounds the validity of a key_package leaf, in seconds since the
// Unix epoch, both ends inclusive (RFC 9420 §7.2).
type Lifetime struct {
	NotBefore uint64
	NotAfter  uint64
}

// Contains reports whether the Unix time t lies within l.
func (l Lifetime) Contains(t uint64) bool { return l.NotBefore <= t && t <= l.NotAfter }
