package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

const (
	// maxCommitAttempts bounds how often a commit that lost the race for
	// its epoch is rebuilt on the new epoch.
	maxCommitAttempts = 5
	// catchUpWait is how long a losing committer waits for the commits it
	// missed to arrive from its mailbox before it retries.
	catchUpWait = 10 * time.Second
	// groupIDBytes: random group ids, well inside proto.MaxGroupIDBytes.
	groupIDBytes = 16
)

// claimed is a validated key package of one device.
type claimed struct {
	DeviceID string
	Message  []byte
}

// claimKeyPackages claims one key package for each listed device of the
// account (all devices when ids is empty) and keeps those whose
// credential and signature key match the account's verified device list.
func (c *Client) claimKeyPackages(ctx context.Context, acc *account, ids []string) ([]claimed, error) {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ClaimKeyPackages{ClaimKeyPackages: &proto.ClaimKeyPackages{
		AccountId: acc.ID, DeviceIds: ids}}})
	if err != nil {
		return nil, err
	}
	var out []claimed
	for _, kp := range resp.GetClaim().GetKeyPackages() {
		dev, ok := acc.Devices[kp.DeviceId]
		if !ok {
			c.log.Warn("claimed key package of a device not in the verified list", "account", acc.Handle, "device", kp.DeviceId)
			continue
		}
		cred, sigKey, err := c.engine.ParseKeyPackage(kp.KeyPackage, c.clk.Now())
		if err != nil {
			c.log.Warn("invalid key package", "account", acc.Handle, "device", kp.DeviceId, "err", err)
			continue
		}
		if cred != kp.DeviceId || string(sigKey) != string(dev.SigningKey) {
			c.log.Warn("key package does not belong to its device", "account", acc.Handle, "device", kp.DeviceId)
			continue
		}
		out = append(out, claimed{DeviceID: kp.DeviceId, Message: kp.KeyPackage})
	}
	return out, nil
}

// createConversation makes a new MLS group of this device, the peer's
// devices and this account's other devices. It fails with NO_KEY_PACKAGE
// when none of the peer's devices could be added: a conversation nobody
// on the other side can read must never be created (the message would be
// lost while Send reported success).
func (c *Client) createConversation(ctx context.Context, peer *account) (profile.Conversation, error) {
	me, err := c.ownAccount(ctx)
	if err != nil {
		return profile.Conversation{}, err
	}
	adds, err := c.claimKeyPackages(ctx, peer, nil)
	if err != nil {
		return profile.Conversation{}, err
	}
	if len(adds) == 0 {
		return profile.Conversation{}, proto.Errorf(proto.Code_NO_KEY_PACKAGE,
			"none of %s's devices offered a valid key package, so nobody there could read the message; ask %s to open Parley (its devices then upload new ones) and send again",
			peer.Handle, peer.Handle)
	}
	var others []string
	for id := range me.Devices {
		if id != c.deviceID {
			others = append(others, id)
		}
	}
	if len(others) > 0 {
		// This account's other devices join now if they can; any left
		// out are added by reconciliation later.
		own, err := c.claimKeyPackages(ctx, me, others)
		var pe *proto.Error
		if err != nil && !(errors.As(err, &pe) && (pe.Code == proto.Code_NO_KEY_PACKAGE || pe.Code == proto.Code_NOT_FOUND)) {
			return profile.Conversation{}, err
		}
		adds = append(adds, own...)
	}

	if err := c.lockGroups(ctx); err != nil {
		return profile.Conversation{}, err
	}
	defer c.groupMu.Unlock()
	groupID := make([]byte, groupIDBytes)
	rand.Read(groupID)
	g, err := c.engine.CreateGroup(groupID)
	if err != nil {
		return profile.Conversation{}, err
	}
	msgs, devs := splitClaimed(adds)
	commit, welcome, err := g.Commit(msgs, nil)
	if err != nil {
		return profile.Conversation{}, fmt.Errorf("create conversation: %w", err)
	}
	conv := profile.Conversation{GroupID: groupID, Kind: int32(proto.ConversationKind_DIRECT),
		PeerAccount: peer.ID, PeerHandle: peer.Handle, Created: c.clk.Now()}
	conv, _, err = c.sendCommit(ctx, conv, g, &proto.Commit{
		GroupId: groupID, Epoch: 0, MessageId: newMessageID(), Commit: commit, Welcome: welcome,
		AddDevices: devs, Kind: proto.ConversationKind_DIRECT, Accounts: []string{me.ID, peer.ID},
		GroupInfo: c.nextGroupInfo(g),
	})
	if errors.Is(err, profile.ErrNotFound) {
		err = errors.New("the server did not create the conversation")
	}
	return conv, err
}

func splitClaimed(cs []claimed) (msgs [][]byte, devs []string) {
	for _, kp := range cs {
		msgs = append(msgs, kp.Message)
		devs = append(devs, kp.DeviceID)
	}
	return msgs, devs
}

// change is a membership change to commit in one group.
type change struct {
	add    []claimed // key packages of devices to add
	remove []string  // device ids to remove from the MLS group
	// serverRemove lists removed devices the server still counts as
	// members (a revoked device is already dropped by the server).
	serverRemove []string
}

// commitChange commits ch in the group. When another commit won the
// epoch, it processes the winner, waits for any other missed commits to
// arrive, and rebuilds the change on the new epoch (skipping parts the
// winner already did).
func (c *Client) commitChange(ctx context.Context, groupID []byte, ch change) error {
	for attempt := 1; ; attempt++ {
		done, retry, err := c.tryCommit(ctx, groupID, ch)
		if done || err != nil {
			return err
		}
		if attempt == maxCommitAttempts {
			return fmt.Errorf("commit: lost the race for the epoch %d times; try again", attempt)
		}
		if retry != nil {
			if err := retry(); err != nil {
				return err
			}
		}
	}
}

// tryCommit makes one attempt. It returns done when the change is in
// place, or retry, a wait for the mailbox to catch up, after a conflict.
func (c *Client) tryCommit(ctx context.Context, groupID []byte, ch change) (done bool, retry func() error, err error) {
	if err := c.lockGroups(ctx); err != nil {
		return false, nil, err
	}
	defer c.groupMu.Unlock()
	conv, g, err := c.loadGroup(ctx, groupID)
	if err != nil {
		return false, nil, err
	}
	members := g.Members()
	isMember := func(id string) bool {
		return slices.ContainsFunc(members, func(m member) bool { return m.DeviceID == id })
	}
	var adds [][]byte
	var addDevs []string
	for _, kp := range ch.add {
		if !isMember(kp.DeviceID) && !slices.Contains(addDevs, kp.DeviceID) {
			adds = append(adds, kp.Message)
			addDevs = append(addDevs, kp.DeviceID)
		}
	}
	var leaves []uint32
	var serverRemove []string
	for _, m := range members {
		if slices.Contains(ch.remove, m.DeviceID) && m.DeviceID != c.deviceID {
			leaves = append(leaves, m.Leaf)
			if slices.Contains(ch.serverRemove, m.DeviceID) && !slices.Contains(serverRemove, m.DeviceID) {
				serverRemove = append(serverRemove, m.DeviceID)
			}
		}
	}
	if len(adds) == 0 && len(leaves) == 0 {
		return true, nil, nil
	}
	commit, welcome, err := g.Commit(adds, leaves)
	if err != nil {
		return false, nil, fmt.Errorf("commit: %w", err)
	}
	epoch := g.Epoch()
	conv, cf, err := c.sendCommit(ctx, conv, g, &proto.Commit{
		GroupId: groupID, Epoch: epoch, MessageId: newMessageID(), Commit: commit, Welcome: welcome,
		AddDevices: addDevs, RemoveDevices: serverRemove, GroupInfo: c.nextGroupInfo(g),
	})
	if cf == nil {
		return err == nil, nil, err
	}
	c.log.Info("commit lost the race for its epoch; processing the winner and retrying",
		"epoch", epoch, "current", cf.GetEpoch())
	if w := cf.GetWinningCommit(); len(w) > 0 {
		// The winner also waits in the mailbox; applying it now saves a
		// round of waiting, and the mailbox copy is then skipped.
		events, aerr := c.applyCommit(ctx, conv, g, w, "")
		if aerr != nil {
			c.log.Warn("processing the winning commit", "err", aerr)
			// g may hold what the failed processing cached: start over
			// from the saved state.
			return false, func() error { return c.catchUp(ctx, groupID, cf.GetEpoch()) }, nil
		}
		if err := c.keepGroup(ctx, conv, g, nil); err != nil {
			return false, nil, err
		}
		c.groupAdvanced()
		for _, ev := range events {
			c.tryEmit(ev)
		}
		if !g.Active() {
			return false, nil, proto.Errorf(proto.Code_FORBIDDEN, "this device was removed from the conversation")
		}
	}
	if g.Epoch() >= cf.GetEpoch() {
		return false, nil, nil
	}
	// More commits happened than the winner; they are in the mailbox.
	want := cf.GetEpoch()
	return false, func() error { return c.catchUp(ctx, groupID, want) }, nil
}

// catchUp waits for the mailbox to bring the group to epoch; when the
// missed commits do not come (this device could not process one), it
// rejoins the group by external commit.
func (c *Client) catchUp(ctx context.Context, groupID []byte, epoch uint64) error {
	err := c.waitEpoch(ctx, groupID, epoch)
	if !errors.Is(err, errCatchUpTimeout) {
		return err
	}
	c.log.Warn("missed commits did not arrive; rejoining the conversation", "group", fmt.Sprintf("%x", groupID), "epoch", epoch)
	if err := c.lockGroups(ctx); err != nil {
		return err
	}
	defer c.groupMu.Unlock()
	conv, _, lerr := c.loadGroup(ctx, groupID)
	if lerr != nil {
		return lerr
	}
	if conv.Epoch >= epoch {
		return nil
	}
	if rerr := c.resync(ctx, conv); rerr != nil {
		return fmt.Errorf("%w; rejoining failed too: %v", err, rerr)
	}
	return nil
}

// errCatchUpTimeout: the commits a device waited for did not arrive.
var errCatchUpTimeout = errors.New("the conversation's missed commits did not arrive")

// waitEpoch waits until incoming processing has brought the group to at
// least epoch.
func (c *Client) waitEpoch(ctx context.Context, groupID []byte, epoch uint64) error {
	t := c.clk.NewTimer(catchUpWait)
	defer t.Stop()
	for {
		c.mu.Lock()
		adv := c.advanced
		c.mu.Unlock()
		conv, err := c.prof.Conversation(ctx, groupID)
		if err != nil {
			return err
		}
		if conv.Epoch >= epoch {
			return nil
		}
		select {
		case <-adv:
		case <-t.C():
			return fmt.Errorf("commit: %w within %v", errCatchUpTimeout, catchUpWait)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// groupAdvanced wakes waitEpoch callers.
func (c *Client) groupAdvanced() {
	c.mu.Lock()
	close(c.advanced)
	c.advanced = make(chan struct{})
	c.mu.Unlock()
}
