package profile

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"

	"github.com/parleyhq/parley/identity"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/proto"
)

// DeviceKey is a device's Ed25519 key. Its private half never leaves this
// type as bytes: the key signs (Sign, SignDeviceList) and becomes the
// device's MLS signing key (MLSSigningKey), and it prints as redacted.
type DeviceKey struct{ priv ed25519.PrivateKey }

// NewDeviceKey generates a key that belongs to no profile (a throwaway
// identity, for probes and tests).
func NewDeviceKey() DeviceKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(fmt.Sprintf("profile: generate device key: %v", err)) // crypto/rand never fails
	}
	return DeviceKey{priv: priv}
}

// Public is the key's public half (whose identity.DeviceID is the device id).
func (k DeviceKey) Public() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// Sign signs msg (the connection challenge, see identity.AuthMessage).
func (k DeviceKey) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// SignDeviceList signs an account's device list as its primary device.
func (k DeviceKey) SignDeviceList(l *proto.DeviceList) (*proto.SignedDeviceList, error) {
	return identity.SignDeviceList(k.priv, l)
}

// MLSSigningKey is the key as the signing key of an Ed25519 MLS suite: a
// device signs its MLS messages with its device key, so members check
// them against the key its account's device list holds.
func (k DeviceKey) MLSSigningKey(s *suite.Suite) (*suite.SigningKey, error) {
	return s.ParseSigningKey(k.priv.Seed())
}

// Equal reports whether two keys are the same (in constant time).
func (k DeviceKey) Equal(o DeviceKey) bool { return k.priv.Equal(o.priv) }

const redacted = "DeviceKey(redacted)"

func (DeviceKey) String() string             { return redacted }
func (DeviceKey) GoString() string           { return redacted }
func (DeviceKey) LogValue() slog.Value       { return slog.StringValue(redacted) }
func (DeviceKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }
