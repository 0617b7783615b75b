package tree

import (
	"bytes"

	"github.com/parleyhq/parley/mls/codec"
)

// ExtensionType identifies an extension (IANA "MLS Extension Types").
type ExtensionType uint16

// The extension types of RFC 9420 §17.3. They are "default": every client
// implements them and capabilities never list them.
const (
	ExtApplicationID        ExtensionType = 1
	ExtRatchetTree          ExtensionType = 2
	ExtRequiredCapabilities ExtensionType = 3
	ExtExternalPub          ExtensionType = 4
	ExtExternalSenders      ExtensionType = 5
)

// IsDefault reports whether t is one of the extension types of RFC 9420
// that capabilities need not (and must not) list.
func (t ExtensionType) IsDefault() bool { return t >= ExtApplicationID && t <= ExtExternalSenders }

// Extension is one typed, opaque extension (RFC 9420 §7.2).
type Extension struct {
	Type ExtensionType
	Data []byte
}

// Extensions is a list of extensions with at most one of each type; the
// decoder rejects duplicates.
type Extensions []Extension

// MarshalTLS encodes the list as Extension extensions<V>.
func (e Extensions) MarshalTLS(w *codec.Writer) {
	w.Vector(func(w *codec.Writer) {
		for i := range e {
			w.Uint16(uint16(e[i].Type))
			w.Opaque(e[i].Data)
		}
	})
}

// UnmarshalTLS decodes the list and rejects duplicate types.
func (e *Extensions) UnmarshalTLS(r *codec.Reader) {
	*e = nil
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			x := Extension{Type: ExtensionType(r.Uint16()), Data: r.Opaque()}
			if _, dup := e.Find(x.Type); dup {
				r.Fail(ErrDuplicateExtension)
				return
			}
			*e = append(*e, x)
		}
	})
}

// Find returns the data of the extension of type t, if present.
func (e Extensions) Find(t ExtensionType) ([]byte, bool) {
	for i := range e {
		if e[i].Type == t {
			return e[i].Data, true
		}
	}
	return nil, false
}

// Has reports whether an extension of type t is present.
func (e Extensions) Has(t ExtensionType) bool {
	_, ok := e.Find(t)
	return ok
}

// With returns a copy of e in which the extension of type t carries data,
// replacing any earlier one. e itself is not modified, so lists shared
// with a tree stay intact.
func (e Extensions) With(t ExtensionType, data []byte) Extensions {
	out := make(Extensions, 0, len(e)+1)
	replaced := false
	for _, x := range e {
		if x.Type == t {
			x.Data, replaced = data, true
		}
		out = append(out, x)
	}
	if !replaced {
		out = append(out, Extension{Type: t, Data: data})
	}
	return out
}

// Without returns a copy of e with no extension of type t.
func (e Extensions) Without(t ExtensionType) Extensions {
	out := make(Extensions, 0, len(e))
	for _, x := range e {
		if x.Type != t {
			out = append(out, x)
		}
	}
	return out
}

// Equal reports whether e and o hold the same extensions in the same order.
func (e Extensions) Equal(o Extensions) bool {
	if len(e) != len(o) {
		return false
	}
	for i := range e {
		if e[i].Type != o[i].Type || !bytes.Equal(e[i].Data, o[i].Data) {
			return false
		}
	}
	return true
}

// ApplicationID returns the application_id extension's identifier
// (RFC 9420 §5.3.3), which is opaque<V> inside the extension data.
func (e Extensions) ApplicationID() (id []byte, ok bool, err error) {
	data, ok := e.Find(ExtApplicationID)
	if !ok {
		return nil, false, nil
	}
	r := codec.NewReader(data)
	id = r.Opaque()
	return id, true, r.Finish()
}

// ApplicationIDExtension returns an application_id extension for id.
func ApplicationIDExtension(id []byte) Extension {
	var w codec.Writer
	w.Opaque(id)
	return Extension{Type: ExtApplicationID, Data: w.Bytes()}
}

// RequiredCapabilities returns the decoded required_capabilities
// extension (RFC 9420 §11.1), if present.
func (e Extensions) RequiredCapabilities() (rc *RequiredCapabilities, ok bool, err error) {
	data, ok := e.Find(ExtRequiredCapabilities)
	if !ok {
		return nil, false, nil
	}
	rc = new(RequiredCapabilities)
	return rc, true, codec.Unmarshal(data, rc)
}

// Extension returns rc as a required_capabilities extension.
func (rc *RequiredCapabilities) Extension() Extension {
	return Extension{Type: ExtRequiredCapabilities, Data: codec.Marshal(rc)}
}

// ExternalPub returns the external_pub extension's HPKE public key
// (RFC 9420 §12.4.3.2), if present.
func (e Extensions) ExternalPub() (key HPKEPublicKey, ok bool, err error) {
	data, ok := e.Find(ExtExternalPub)
	if !ok {
		return nil, false, nil
	}
	r := codec.NewReader(data)
	key = r.Opaque()
	return key, true, r.Finish()
}

// ExternalPubExtension returns an external_pub extension for key.
func ExternalPubExtension(key HPKEPublicKey) Extension {
	var w codec.Writer
	w.Opaque(key)
	return Extension{Type: ExtExternalPub, Data: w.Bytes()}
}

// ExternalSender is a non-member allowed to send proposals
// (RFC 9420 §12.1.8.1).
type ExternalSender struct {
	SignatureKey SignaturePublicKey
	Credential   Credential
}

// ExternalSenders returns the decoded external_senders extension, if
// present.
func (e Extensions) ExternalSenders() (senders []ExternalSender, ok bool, err error) {
	data, ok := e.Find(ExtExternalSenders)
	if !ok {
		return nil, false, nil
	}
	r := codec.NewReader(data)
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			var s ExternalSender
			s.SignatureKey = r.Opaque()
			s.Credential.UnmarshalTLS(r)
			senders = append(senders, s)
		}
	})
	return senders, true, r.Finish()
}

// ExternalSendersExtension returns an external_senders extension.
func ExternalSendersExtension(senders []ExternalSender) Extension {
	var w codec.Writer
	w.Vector(func(w *codec.Writer) {
		for i := range senders {
			w.Opaque(senders[i].SignatureKey)
			senders[i].Credential.MarshalTLS(w)
		}
	})
	return Extension{Type: ExtExternalSenders, Data: w.Bytes()}
}
