package identity

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
)

// deviceIDEncoding is lower-case base32 without padding: ids are typed by
// people (`parley devices revoke ID`), so no ambiguous case.
var deviceIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// DeviceID derives a device's id from its Ed25519 public key: "d" followed
// by 16 base32 characters (80 bits of SHA-256). Deriving it lets the primary
// sign a device list naming devices the server has not yet seen, and lets
// anyone check that an id belongs to a key.
func DeviceID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "d" + deviceIDEncoding.EncodeToString(sum[:10])
}

// AccountID is the id of an account whose first primary device has key
// pub: "a" and the 16 characters of that device's id after its "d".
// Deriving it lets the device sign its first device list before it has
// heard from the server, and ties the account to its primary key.
func AccountID(pub ed25519.PublicKey) string {
	return "a" + DeviceID(pub)[1:]
}

// authContext separates authentication signatures from every other
// signature a device key makes.
const authContext = "parley-auth-v1\x00"

// AuthMessage is what a device signs with its Ed25519 key to prove
// possession on connect: a context string, the server's challenge and the
// device id, so a signature for one server challenge or device cannot be
// replayed for another.
func AuthMessage(challenge []byte, deviceID string) []byte {
	m := make([]byte, 0, len(authContext)+1+len(challenge)+len(deviceID))
	m = append(m, authContext...)
	m = append(m, byte(len(challenge)))
	m = append(m, challenge...)
	return append(m, deviceID...)
}

// VerifyAuth checks a device's authentication signature.
func VerifyAuth(pub ed25519.PublicKey, challenge []byte, deviceID string, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || DeviceID(pub) != deviceID {
		return false
	}
	return ed25519.Verify(pub, AuthMessage(challenge, deviceID), sig)
}
