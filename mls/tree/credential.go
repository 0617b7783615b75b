package tree

import (
	"bytes"
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
)

// CredentialType identifies the kind of a Credential (IANA "MLS
// Credential Types").
type CredentialType uint16

// The credential types of RFC 9420 §5.3.
const (
	CredentialBasic CredentialType = 1
	CredentialX509  CredentialType = 2
)

// Credential binds identities to a signature key (RFC 9420 §5.3). A basic
// credential carries Identity; an x509 credential carries a DER chain in
// Certificates, end-entity first. Other types have no body this package
// knows how to read, so they fail to decode.
type Credential struct {
	Type         CredentialType
	Identity     []byte   // basic
	Certificates [][]byte // x509
}

// BasicCredential returns a basic credential for identity.
func BasicCredential(identity []byte) Credential {
	return Credential{Type: CredentialBasic, Identity: identity}
}

// MarshalTLS encodes c.
func (c *Credential) MarshalTLS(w *codec.Writer) {
	w.Uint16(uint16(c.Type))
	switch c.Type {
	case CredentialBasic:
		w.Opaque(c.Identity)
	case CredentialX509:
		w.Vector(func(w *codec.Writer) {
			for _, cert := range c.Certificates {
				w.Opaque(cert)
			}
		})
	default:
		// Only decodable types can be constructed from the wire, so this
		// is a programming error rather than input.
		panic(fmt.Sprintf("tree: cannot encode credential type %d", c.Type))
	}
}

// UnmarshalTLS decodes c.
func (c *Credential) UnmarshalTLS(r *codec.Reader) {
	*c = Credential{Type: CredentialType(r.Uint16())}
	switch c.Type {
	case CredentialBasic:
		c.Identity = r.Opaque()
	case CredentialX509:
		r.Vector(func(r *codec.Reader) {
			for !r.Empty() {
				c.Certificates = append(c.Certificates, r.Opaque())
			}
		})
	default:
		r.Fail(ErrUnknownCredentialType)
	}
}

// Equal reports whether c and o are the same credential.
func (c *Credential) Equal(o *Credential) bool {
	if c.Type != o.Type || !bytes.Equal(c.Identity, o.Identity) || len(c.Certificates) != len(o.Certificates) {
		return false
	}
	for i := range c.Certificates {
		if !bytes.Equal(c.Certificates[i], o.Certificates[i]) {
			return false
		}
	}
	return true
}
