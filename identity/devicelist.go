package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
)

// Errors of device-list and key-log verification.
var (
	ErrBadSignature = errors.New("identity: signature does not verify")
	ErrBadList      = errors.New("identity: malformed device list")
	ErrBrokenChain  = errors.New("identity: key log chain is broken")
	ErrForked       = errors.New("identity: key log differs from the one seen before")
	ErrRollback     = errors.New("identity: key log is older than the one seen before")
)

const deviceListContext = "parley-device-list-v1\x00"

// DeviceListMessage is what the primary signs for a serialized device list.
func DeviceListMessage(list []byte) []byte {
	return append([]byte(deviceListContext), list...)
}

// SignDeviceList serializes l deterministically and signs it with the
// primary device's key.
func SignDeviceList(primary ed25519.PrivateKey, l *proto.DeviceList) (*proto.SignedDeviceList, error) {
	b, err := gproto.MarshalOptions{Deterministic: true}.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("identity: marshal device list: %w", err)
	}
	return &proto.SignedDeviceList{List: b, Signature: ed25519.Sign(primary, DeviceListMessage(b))}, nil
}

// ParseDeviceList decodes a signed list and checks its internal rules
// (exactly one primary, ids derived from keys, no duplicates, at most
// proto.MaxDevicesPerAccount devices) without checking the signature.
func ParseDeviceList(s *proto.SignedDeviceList) (*proto.DeviceList, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: missing", ErrBadList)
	}
	var l proto.DeviceList
	if err := gproto.Unmarshal(s.List, &l); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadList, err)
	}
	if n := len(l.Devices); n == 0 || n > proto.MaxDevicesPerAccount {
		return nil, fmt.Errorf("%w: %d devices, want 1 to %d", ErrBadList, n, proto.MaxDevicesPerAccount)
	}
	primaries := 0
	seen := map[string]bool{}
	for _, d := range l.Devices {
		if len(d.SigningKey) != ed25519.PublicKeySize || DeviceID(d.SigningKey) != d.DeviceId {
			return nil, fmt.Errorf("%w: device %q does not match its key", ErrBadList, d.DeviceId)
		}
		if seen[d.DeviceId] {
			return nil, fmt.Errorf("%w: device %q listed twice", ErrBadList, d.DeviceId)
		}
		seen[d.DeviceId] = true
		if d.Primary {
			primaries++
		}
	}
	if primaries != 1 {
		return nil, fmt.Errorf("%w: %d primary devices, want 1", ErrBadList, primaries)
	}
	return &l, nil
}

// Primary returns the list's primary device.
func Primary(l *proto.DeviceList) *proto.Device {
	for _, d := range l.Devices {
		if d.Primary {
			return d
		}
	}
	return nil
}

// VerifyDeviceList parses s and checks that the given primary key signed
// it and is the list's primary.
func VerifyDeviceList(primaryKey ed25519.PublicKey, s *proto.SignedDeviceList) (*proto.DeviceList, error) {
	l, err := ParseDeviceList(s)
	if err != nil {
		return nil, err
	}
	if p := Primary(l); !bytes.Equal(p.SigningKey, primaryKey) {
		return nil, fmt.Errorf("%w: the list's primary is not the account's primary", ErrBadList)
	}
	if len(primaryKey) != ed25519.PublicKeySize || !ed25519.Verify(primaryKey, DeviceListMessage(s.List), s.Signature) {
		return nil, ErrBadSignature
	}
	return l, nil
}
