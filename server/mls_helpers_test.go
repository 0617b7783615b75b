package server_test

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/mls"
	"github.com/parleyhq/parley/mls/suite"
)

// parleySuite is the suite Parley clients use: Ed25519, so a device's MLS
// signature key is its device key.
const parleySuite suite.ID = 1

// mlsIdentity is the client's MLS identity, as the SDK builds it.
func (c *client) mlsIdentity() mls.Identity {
	c.t.Helper()
	cs, err := suite.Get(parleySuite)
	if err != nil {
		c.t.Fatal(err)
	}
	sk, err := cs.ParseSigningKey(c.priv.Seed())
	if err != nil {
		c.t.Fatal(err)
	}
	return mls.Identity{Suite: parleySuite, SigningKey: sk, Credential: []byte(c.deviceID())}
}

// keyPackage makes one of the client's key packages, valid from now for
// lifetime (0: the default).
func (c *client) keyPackage(lastResort bool, now time.Time, lifetime time.Duration) *mls.KeyPackageBundle {
	c.t.Helper()
	b, err := mls.NewKeyPackage(c.mlsIdentity(), mls.KeyPackageOptions{LastResort: lastResort, Now: now, Lifetime: lifetime})
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// keyPackageMsg is keyPackage's MLSMessage, made at the wall-clock time.
func (c *client) keyPackageMsg(t testing.TB, lastResort bool) []byte {
	t.Helper()
	return c.keyPackage(lastResort, time.Now(), 0).Message()
}
