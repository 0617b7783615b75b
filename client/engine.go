//go:build !parley_mls

package client

import "crypto/ed25519"

// newEngine returns the MLS engine for a device. Until the MLS group
// layer is wired in, there is none, and the send path refuses to work
// rather than send plaintext.
func newEngine(key ed25519.PrivateKey, deviceID string) groupEngine { return noEngine{} }
