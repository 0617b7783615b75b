package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/mls"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/proto"
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

// mlsCommit is a real MLS commit, its Welcome (nil without adds) and the
// GroupInfo of the epoch it starts.
type mlsCommit struct {
	commit, welcome, info []byte
}

// commitMsg builds a real MLS commit by c for group gid, made in epoch,
// adding the devices add (by id) and removing nRemove members. The group
// behind it is a throwaway one of c's (plus stand-ins for the removed
// members), and the added key packages are stand-ins with the devices'
// ids as credentials: the server reads only a commit's framing and
// proposals, never its crypto, so the commit need not be one the other
// members could process.
func (c *client) commitMsg(gid []byte, epoch uint64, add []string, nRemove int) mlsCommit {
	c.t.Helper()
	g, err := mls.CreateGroup(gid, c.mlsIdentity())
	if err != nil {
		c.t.Fatal(err)
	}
	merge := func() {
		c.t.Helper()
		if err := g.MergePendingCommit(); err != nil {
			c.t.Fatal(err)
		}
	}
	var removes []uint32
	if nRemove > 0 {
		var kps [][]byte
		for i := range nRemove {
			kps = append(kps, standInKeyPackage(c.t, fmt.Sprintf("stand-in-%d", i)))
			removes = append(removes, uint32(i+1))
		}
		if _, _, err := g.AddMembers(kps); err != nil {
			c.t.Fatal(err)
		}
		merge()
	}
	for g.Epoch() < epoch {
		if _, err := g.SelfUpdate(); err != nil {
			c.t.Fatal(err)
		}
		merge()
	}
	if g.Epoch() != epoch {
		c.t.Fatalf("commitMsg: cannot make a commit of epoch %d with %d removals", epoch, nRemove)
	}
	var kps [][]byte
	for _, id := range add {
		kps = append(kps, standInKeyPackage(c.t, id))
	}
	var m mlsCommit
	if m.commit, m.welcome, err = g.Commit(kps, removes); err != nil {
		c.t.Fatal(err)
	}
	merge()
	if m.info, err = g.GroupInfo(); err != nil {
		c.t.Fatal(err)
	}
	return m
}

// standInKeyPackage is a key package whose credential is deviceID, under
// a fresh signing key.
func standInKeyPackage(t testing.TB, deviceID string) []byte {
	t.Helper()
	stand := &client{t: t}
	stand.newKey()
	id := stand.mlsIdentity()
	id.Credential = []byte(deviceID)
	b, err := mls.NewKeyPackage(id, mls.KeyPackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return b.Message()
}

// commitReq is a Commit request by c in epoch of gid carrying a real
// commit that adds add and removes the devices remove (without a
// group_info: commitMsg's is there for tests that want one).
func (c *client) commitReq(gid []byte, epoch uint64, add []*client, remove ...*client) *proto.Commit {
	c.t.Helper()
	var ids []string
	for _, a := range add {
		ids = append(ids, a.deviceID())
	}
	m := c.commitMsg(gid, epoch, ids, len(remove))
	req := &proto.Commit{GroupId: gid, Epoch: epoch, MessageId: randomID(c.t), Commit: m.commit, Welcome: m.welcome, AddDevices: ids}
	for _, r := range remove {
		req.RemoveDevices = append(req.RemoveDevices, r.deviceID())
	}
	return req
}
