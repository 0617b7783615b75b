package suite

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
)

const redacted = "[redacted]"

// Secret is key material: an HKDF secret, an AEAD key, a serialized private
// key. It never prints its contents (String, GoString, Format, LogValue and
// MarshalText all yield "[redacted]") and Equal runs in constant time. The
// zero value is the absent secret.
type Secret struct {
	b []byte
	_ [0]func() // incomparable: == would not be constant time
}

// NewSecret returns a Secret holding a copy of b.
func NewSecret(b []byte) Secret {
	return Secret{b: append([]byte(nil), b...)}
}

// ZeroSecret returns n zero octets, the "0" default of the key schedule.
func ZeroSecret(n int) Secret { return Secret{b: make([]byte, n)} }

// secretOwn wraps b without copying; b must not be retained elsewhere.
func secretOwn(b []byte) Secret { return Secret{b: b} }

// Bytes returns a copy of the secret's octets. Use it only where raw bytes
// must cross into an encoding (e.g. GroupSecrets) or a test.
func (s Secret) Bytes() []byte { return append([]byte(nil), s.b...) }

// Len returns the secret's length in octets.
func (s Secret) Len() int { return len(s.b) }

// IsZero reports whether s is the zero value (no octets).
func (s Secret) IsZero() bool { return len(s.b) == 0 }

// Equal reports whether s and o hold the same octets, in time that depends
// only on their lengths.
func (s Secret) Equal(o Secret) bool { return subtle.ConstantTimeCompare(s.b, o.b) == 1 }

// Wipe overwrites the secret's octets with zeros. Copies made by Bytes or
// by earlier assignments of the value share the buffer and are wiped too.
func (s Secret) Wipe() { clear(s.b) }

func (Secret) String() string               { return redacted }
func (Secret) GoString() string             { return redacted }
func (Secret) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(redacted)) }
func (Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
