// Package suite implements the MLS ciphersuites of RFC 9420 §5 and every
// cryptographic primitive MLS names: the hash, HKDF Extract/Expand with MLS
// labels, RefHash, MAC, the AEAD, signatures with labels and HPKE with
// labels, plus key generation and derivation.
//
// Secrets travel as Secret values, which never print and compare in
// constant time; private keys are SigningKey and HPKEKey values. Public keys,
// signatures, nonces and ciphertexts are plain byte slices in their MLS wire
// formats (RFC 9420 §5.1.1): raw 32/57-octet EdDSA keys, uncompressed SEC1
// points for ECDSA and NIST-curve HPKE keys, and DER-encoded ECDSA
// signatures.
//
// Suites 1, 2, 3, 5 and 7 use the standard library (crypto/hpke, ECDSA,
// Ed25519); suites 4 and 6 (X448/Ed448) use github.com/cloudflare/circl.
//
// Randomness comes from crypto/rand: since Go 1.26 the standard library's
// key generation ignores caller-supplied readers, so injecting one would
// only pretend to be deterministic.
package suite
