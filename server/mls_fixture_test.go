package server

import (
	"crypto/ed25519"
	"testing"

	"github.com/parleyhq/parley/identity"
	"github.com/parleyhq/parley/mls"
	"github.com/parleyhq/parley/mls/suite"
)

// creationCommit is a real MLS commit by the device of key creating group
// gid and adding device add (a stand-in key package with its id as the
// credential), with its Welcome. The delivery service reads a commit's
// framing and proposals, so placeholder bytes no longer do; the commit
// need not be one the added device could process.
func creationCommit(tb testing.TB, key ed25519.PrivateKey, gid []byte, add string) (commit, welcome []byte) {
	tb.Helper()
	identityOf := func(k ed25519.PrivateKey, credential string) mls.Identity {
		cs, err := suite.Get(1) // Parley's suite: Ed25519, the device key signs
		if err != nil {
			tb.Fatal(err)
		}
		sk, err := cs.ParseSigningKey(k.Seed())
		if err != nil {
			tb.Fatal(err)
		}
		return mls.Identity{Suite: 1, SigningKey: sk, Credential: []byte(credential)}
	}
	g, err := mls.CreateGroup(gid, identityOf(key, identity.DeviceID(key.Public().(ed25519.PublicKey))))
	if err != nil {
		tb.Fatal(err)
	}
	_, standIn, err := ed25519.GenerateKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	kp, err := mls.NewKeyPackage(identityOf(standIn, add), mls.KeyPackageOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	commit, welcome, err = g.AddMembers([][]byte{kp.Message()})
	if err != nil {
		tb.Fatal(err)
	}
	return commit, welcome
}
