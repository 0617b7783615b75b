package delivery

import (
	"bytes"
	"slices"

	"github.com/parleyhq/parley/mls"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
)

// commitOverhead bounds what a Commit request carries besides its MLS
// messages (ids, device lists, kind, accounts) and what an Envelope adds
// around a commit or welcome: the MLS bytes of one Commit together stay
// within MaxHandshakeBytes, so the request and every envelope it makes
// fit one frame.
const commitOverhead = 64 << 10

// The check at compile time: a negative constant does not convert.
const _ = uint(proto.MaxFrameBytes - proto.MaxHandshakeBytes - commitOverhead)

// checkCommitSize bounds each MLS message of a Commit and their sum.
func checkCommitSize(c *proto.Commit) error {
	total := 0
	for _, f := range []struct {
		name string
		b    []byte
	}{{"commit", c.Commit}, {"welcome", c.Welcome}, {"group_info", c.GroupInfo}} {
		if len(f.b) > proto.MaxHandshakeBytes {
			return proto.Errorf(proto.Code_TOO_LARGE, "%s is %d bytes; the limit is %d", f.name, len(f.b), proto.MaxHandshakeBytes)
		}
		total += len(f.b)
	}
	if total > proto.MaxHandshakeBytes {
		return proto.Errorf(proto.Code_TOO_LARGE, "commit, welcome and group_info are %d bytes together; the limit is %d (send the commit without group_info)", total, proto.MaxHandshakeBytes)
	}
	return nil
}

// checkCommitContent compares what a Commit request declares with the MLS
// messages it carries, decoding them with package mls (framing only: the
// server holds no group secret and verifies no signature). The members
// verify the commit itself; this keeps the server's view of the group —
// who gets the group's mail — from being set by declarations the commit
// does not back:
//
//   - the commit is an MLSMessage(PublicMessage) carrying a Commit, for the
//     request's group and epoch, with every proposal inline (a proposal by
//     reference could add anyone unseen);
//   - the devices of its Add proposals (their credentials are device ids)
//     are exactly add_devices, and it has a Remove for every
//     remove_devices entry (which leaf is which device is the members' to
//     check; a commit may remove more leaves, of devices the server
//     already dropped, such as revoked ones);
//   - the committer's new leaf, when the commit has a path, is the sending
//     device's;
//   - an external commit (a device rejoining by resync) is the sending
//     device's own, adds and declares nothing and removes at most one leaf
//     (its old one);
//   - welcome is an MLSMessage(Welcome), and group_info an
//     MLSMessage(GroupInfo) of the group's next epoch.
func checkCommitContent(who gateway.Identity, c *proto.Commit) error {
	sum, err := mls.InspectCommit(c.Commit)
	if err != nil {
		return proto.Errorf(proto.Code_BAD_REQUEST, "commit must be an MLS PublicMessage carrying a Commit: %v", err)
	}
	switch {
	case !bytes.Equal(sum.GroupID, c.GroupId) || sum.Epoch != c.Epoch:
		return proto.Errorf(proto.Code_BAD_REQUEST, "the commit is for epoch %d of group %x; the request names epoch %d of group %x", sum.Epoch, sum.GroupID, c.Epoch, c.GroupId)
	case sum.References > 0:
		return proto.Errorf(proto.Code_BAD_REQUEST, "the commit includes %d proposals by reference; the server checks proposals, so commit them inline", sum.References)
	case sum.PathCredential != nil && string(sum.PathCredential) != who.DeviceID:
		return proto.Errorf(proto.Code_BAD_REQUEST, "the commit's new leaf belongs to %q, not to this device", sum.PathCredential)
	}
	if sum.External {
		switch {
		case sum.PathCredential == nil:
			return proto.Errorf(proto.Code_BAD_REQUEST, "an external commit must carry the joining device's leaf")
		case len(c.AddDevices) > 0 || len(c.RemoveDevices) > 0 || len(sum.Added) > 0 || len(sum.Removed) > 1:
			return proto.Errorf(proto.Code_BAD_REQUEST, "an external commit rejoins the sending device: it adds no device and removes at most its old leaf, and declares neither")
		}
	} else {
		added := make([]string, len(sum.Added))
		for i, a := range sum.Added {
			added[i] = string(a)
		}
		declared := slices.Clone(c.AddDevices)
		slices.Sort(added)
		slices.Sort(declared)
		if !slices.Equal(added, declared) {
			return proto.Errorf(proto.Code_BAD_REQUEST, "add_devices %q do not match the devices the commit adds %q", c.AddDevices, added)
		}
		// More Removes than declared devices are leaves of devices the
		// server dropped already (revoked ones leave every group at once);
		// fewer would cut a device off the group's mail while it stays in
		// the group.
		if len(sum.Removed) < len(c.RemoveDevices) {
			return proto.Errorf(proto.Code_BAD_REQUEST, "remove_devices lists %d devices; the commit removes only %d", len(c.RemoveDevices), len(sum.Removed))
		}
	}
	if len(c.Welcome) > 0 && !mls.IsWelcome(c.Welcome) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "welcome must be an MLS Welcome message")
	}
	if len(c.GroupInfo) > 0 {
		gid, epoch, err := mls.InspectGroupInfo(c.GroupInfo)
		if err != nil {
			return proto.Errorf(proto.Code_BAD_REQUEST, "group_info must be an MLS GroupInfo message: %v", err)
		}
		if !bytes.Equal(gid, c.GroupId) || epoch != c.Epoch+1 {
			return proto.Errorf(proto.Code_BAD_REQUEST, "group_info is of epoch %d of group %x; it must be of the epoch the commit starts, %d", epoch, gid, c.Epoch+1)
		}
	}
	return nil
}
