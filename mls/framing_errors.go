package mls

import "errors"

// Errors of the framing layer, in addition to the group layer's list in
// errors.go (which framing also returns: ErrBadSignature,
// ErrBadMembershipTag, ErrGenerationReused, ErrGenerationTooFar,
// ErrMalformed, ErrWrongGroup, ErrWrongEpoch).
var (
	// ErrDecryptionFailed is a PrivateMessage, Welcome or group secrets
	// ciphertext that does not decrypt: wrong key, or tampered.
	ErrDecryptionFailed = errors.New("mls: decryption failed")
	// ErrWireFormat is a message in a wire format that is not acceptable
	// where it appears, e.g. application data in a PublicMessage.
	ErrWireFormat = errors.New("mls: wrong wire format")
)
