// Package schedule implements the MLS key schedule (RFC 9420 §8): epoch
// secrets, pre-shared key chaining, the exporter, the external key pair,
// transcript hashes, confirmation and membership tags, the secret tree with
// its per-sender hash ratchets (§9) and sender-data key derivation.
//
// The package is pure cryptography over bytes. Structures it needs in
// encoded form (the GroupContext, the ConfirmedTranscriptHashInput, the
// AuthenticatedContentTBM) are passed as their TLS encodings, which the
// framing layer in package mls produces; this keeps the schedule free of
// message types and lets mls own GroupContext, whose extensions come from
// package tree. PreSharedKeyID lives here because the PSK secret
// derivation encodes it and it depends on nothing else.
//
// Values of this package are not safe for concurrent use; the group layer
// serialises access to a group's state.
package schedule
