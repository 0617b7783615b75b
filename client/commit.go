package client

import (
	"bytes"
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
// devices and this account's other devices.
func (c *Client) createConversation(ctx context.Context, peer *account) (profile.Conversation, error) {
	me, err := c.ownAccount(ctx)
	if err != nil {
		return profile.Conversation{}, err
	}
	adds, err := c.claimKeyPackages(ctx, peer, nil)
	if err != nil {
		return profile.Conversation{}, err
	}
	var others []string
	for id := range me.Devices {
		if id != c.deviceID {
			others = append(others, id)
		}
	}
	if len(others) > 0 {
		own, err := c.claimKeyPackages(ctx, me, others)
		var pe *proto.Error
		if err != nil && !(errors.As(err, &pe) && pe.Code == proto.Code_NO_KEY_PACKAGE) {
			return profile.Conversation{}, err
		}
		adds = append(adds, own...)
	}

	c.groupMu.Lock()
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
	if _, err := c.call(ctx, &proto.Request{Body: &proto.Request_Commit{Commit: &proto.Commit{
		GroupId: groupID, Epoch: 0, MessageId: newMessageID(), Commit: commit, Welcome: welcome,
		AddDevices: devs, Kind: proto.ConversationKind_DIRECT, Accounts: []string{me.ID, peer.ID},
	}}}); err != nil {
		g.DiscardPendingCommit()
		return profile.Conversation{}, err
	}
	if err := g.MergePendingCommit(); err != nil {
		return profile.Conversation{}, err
	}
	conv := profile.Conversation{GroupID: groupID, Kind: int32(proto.ConversationKind_DIRECT),
		PeerAccount: peer.ID, PeerHandle: peer.Handle, Created: c.clk.Now()}
	if err := c.saveGroup(ctx, conv, g, nil); err != nil {
		return profile.Conversation{}, err
	}
	conv.Epoch = g.Epoch()
	return conv, nil
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
	c.groupMu.Lock()
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
		if !isMember(kp.DeviceID) {
			adds = append(adds, kp.Message)
			addDevs = append(addDevs, kp.DeviceID)
		}
	}
	var leaves []uint32
	var serverRemove []string
	for _, m := range members {
		if slices.Contains(ch.remove, m.DeviceID) {
			leaves = append(leaves, m.Leaf)
			if slices.Contains(ch.serverRemove, m.DeviceID) {
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
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_Commit{Commit: &proto.Commit{
		GroupId: groupID, Epoch: epoch, MessageId: newMessageID(), Commit: commit, Welcome: welcome,
		AddDevices: addDevs, RemoveDevices: serverRemove,
	}}})
	if err == nil {
		if err := g.MergePendingCommit(); err != nil {
			return false, nil, err
		}
		return true, nil, c.saveGroup(ctx, conv, g, nil)
	}
	var pe *proto.Error
	isConflict := errors.As(err, &pe) && pe.Code == proto.Code_CONFLICT
	cf := resp.GetConflict()
	if isConflict && bytes.Equal(cf.GetWinningCommit(), commit) {
		// Our own commit won; only its answer was lost (the request was
		// repeated after a reconnect).
		if err := g.MergePendingCommit(); err != nil {
			return false, nil, err
		}
		return true, nil, c.saveGroup(ctx, conv, g, nil)
	}
	g.DiscardPendingCommit()
	if !isConflict {
		return false, nil, err
	}
	c.log.Info("commit lost the race for its epoch; processing the winner and retrying",
		"epoch", epoch, "current", cf.GetEpoch())
	if w := cf.GetWinningCommit(); len(w) > 0 {
		if _, perr := g.Process(w); perr != nil {
			c.log.Warn("processing the winning commit", "err", perr)
		} else if err := c.saveGroup(ctx, conv, g, nil); err != nil {
			return false, nil, err
		}
	}
	if g.Epoch() >= cf.GetEpoch() {
		return false, nil, nil
	}
	// More commits happened than the winner; they are in the mailbox.
	want := cf.GetEpoch()
	return false, func() error { return c.waitEpoch(ctx, groupID, want) }, nil
}

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
			return fmt.Errorf("commit: the conversation's missed commits did not arrive within %v", catchUpWait)
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

// linkKeyPackageWait bounds how long a primary waits for a newly linked
// device to upload its key packages before adding it to conversations.
const linkKeyPackageWait = 2 * time.Minute

// addDeviceEverywhere adds a newly linked device of this account to every
// conversation.
func (c *Client) addDeviceEverywhere(ctx context.Context, accountID, deviceID string) error {
	convs, err := c.prof.Conversations(ctx)
	if err != nil || len(convs) == 0 {
		return err
	}
	me, err := c.verifyAccountID(ctx, accountID)
	if err != nil {
		return err
	}
	var errs []error
	for _, conv := range convs {
		kps, err := c.claimWhenReady(ctx, me, deviceID)
		if err != nil {
			return err
		}
		if err := c.commitChange(ctx, conv.GroupID, change{add: kps}); err != nil {
			errs = append(errs, fmt.Errorf("adding %s to the conversation with %s: %w", deviceID, conv.PeerHandle, err))
		} else if conv.ChannelID != "" {
			errs = append(errs, c.shareChannelKey(ctx, conv.ChannelID))
		}
	}
	return errors.Join(errs...)
}

// claimWhenReady claims a key package of a device that may not have
// uploaded any yet (it does so right after it is linked).
func (c *Client) claimWhenReady(ctx context.Context, acc *account, deviceID string) ([]claimed, error) {
	bo := newBackoff(100*time.Millisecond, 2*time.Second, c.opts.Rand)
	deadline := c.clk.Now().Add(linkKeyPackageWait)
	for {
		kps, err := c.claimKeyPackages(ctx, acc, []string{deviceID})
		var pe *proto.Error
		if err == nil && len(kps) > 0 {
			return kps, nil
		}
		if err != nil && !(errors.As(err, &pe) && pe.Code == proto.Code_NO_KEY_PACKAGE) {
			return nil, err
		}
		if c.clk.Now().After(deadline) {
			return nil, fmt.Errorf("device %s uploaded no key package within %v; is it online?", deviceID, linkKeyPackageWait)
		}
		t := c.clk.NewTimer(bo.next())
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// removeDeviceEverywhere removes a revoked device of this account from
// every conversation it is in.
func (c *Client) removeDeviceEverywhere(ctx context.Context, deviceID string) error {
	convs, err := c.prof.Conversations(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, conv := range convs {
		if err := c.commitChange(ctx, conv.GroupID, change{remove: []string{deviceID}}); err != nil {
			errs = append(errs, fmt.Errorf("removing %s from the conversation with %s: %w", deviceID, conv.PeerHandle, err))
		} else if conv.ChannelID != "" {
			errs = append(errs, c.teamDeviceRemoved(ctx, conv.ChannelID))
		}
	}
	return errors.Join(errs...)
}
