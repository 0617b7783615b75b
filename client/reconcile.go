package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parleyhq/parley/proto"
)

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

// Reconciliation repairs what the one-shot changes above leave undone:
// the primary adds a linked device to every conversation and removes a
// revoked one, but a failure (a crash, an offline primary, a lost race)
// is not retried, and a revoked device left in a group makes every member
// refuse to send there. So every device, on each connection and whenever
// a key log it verified changed, brings its DIRECT conversations in line
// with the verified device lists: it adds this account's devices that
// are missing and removes devices neither account lists any more.
// Concurrent repairs by several members converge through the server's
// one-commit-per-epoch rule: the loser rebuilds its commit on the new
// epoch and finds nothing left to do. Channel team conversations are left
// to the channel's team sync, which also rotates the channel key.

// kickReconcile asks the connection's reconciler for another pass.
func (c *Client) kickReconcile() {
	select {
	case c.reconcileKick <- struct{}{}:
	default:
	}
}

// reconciler settles pending commits and reconciles once the mailbox is
// synced, then again whenever kicked. It runs per connection.
func (c *Client) reconciler(ctx context.Context) {
	select {
	case <-c.synced:
	case <-ctx.Done():
		return
	}
	c.resendPending(ctx)
	for {
		c.reconcile(ctx)
		select {
		case <-c.reconcileKick:
		case <-ctx.Done():
			return
		}
	}
}

// reconcile runs reconcileGroup over every DIRECT conversation, after
// refreshing the key logs of the accounts involved (once each).
func (c *Client) reconcile(ctx context.Context) {
	if _, none := c.engine.(noEngine); none {
		return
	}
	convs, err := c.prof.Conversations(ctx)
	if err != nil {
		c.log.Warn("reconciling conversations", "err", err)
		return
	}
	refreshed := map[string]bool{c.Self().AccountID: true}
	if _, err := c.ownAccount(ctx); err != nil {
		c.log.Warn("reconciling conversations", "err", err)
		return
	}
	for _, conv := range convs {
		if conv.ChannelID != "" {
			continue
		}
		if !refreshed[conv.PeerAccount] {
			refreshed[conv.PeerAccount] = true
			if _, err := c.verifyAccountID(ctx, conv.PeerAccount); err != nil {
				c.log.Warn("reconciling: verifying the peer's keys", "peer", conv.PeerHandle, "err", err)
				continue
			}
		}
		if err := c.reconcileGroup(ctx, conv.GroupID); err != nil && ctx.Err() == nil {
			c.log.Warn("reconciling a conversation", "with", conv.PeerHandle, "err", err)
		}
	}
}

// reconcileGroup adds this account's devices missing from a DIRECT
// conversation (those that have a key package; the others on a later
// pass) and removes members that neither account's verified device list
// holds, judged by the key logs this device trusts now.
func (c *Client) reconcileGroup(ctx context.Context, groupID []byte) error {
	if err := c.lockGroups(ctx); err != nil {
		return err
	}
	conv, g, err := c.loadGroup(ctx, groupID)
	var members []member
	if err == nil {
		members = g.Members()
	}
	c.groupMu.Unlock()
	if err != nil || conv.ChannelID != "" {
		return err
	}
	unknown, err := c.unverifiedMembers(ctx, conv, members, false)
	if err != nil {
		return err
	}
	me, err := c.trusted(ctx, c.Self().AccountID)
	if err == nil && me == nil {
		me, err = c.ownAccount(ctx)
	}
	if err != nil {
		return err
	}
	var missing []string
	for id, d := range me.Devices {
		if !slices.ContainsFunc(members, func(m member) bool { return m.DeviceID == id && string(m.SignatureKey) == string(d.SigningKey) }) {
			missing = append(missing, id)
		}
	}
	var adds []claimed
	if len(missing) > 0 {
		slices.Sort(missing)
		kps, err := c.claimKeyPackages(ctx, me, missing)
		var pe *proto.Error
		switch {
		case errors.As(err, &pe) && (pe.Code == proto.Code_NO_KEY_PACKAGE || pe.Code == proto.Code_NOT_FOUND):
			c.log.Info("own devices missing from a conversation have no key package yet", "devices", missing, "err", err)
		case err != nil:
			return err
		}
		adds = kps
	}
	if len(unknown) == 0 && len(adds) == 0 {
		return nil
	}
	var serverRemove []string
	if len(unknown) > 0 {
		// The server drops a revoked device from its groups by itself and
		// refuses to remove what it does not count as a member.
		resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_GetGroup{GetGroup: &proto.GetGroup{GroupId: groupID}}})
		if err != nil {
			return err
		}
		for _, d := range unknown {
			if slices.Contains(resp.GetGroup().GetDevices(), d) {
				serverRemove = append(serverRemove, d)
			}
		}
		c.log.Warn("removing devices neither account lists from a conversation", "with", conv.PeerHandle, "devices", unknown)
	}
	if len(adds) > 0 {
		c.log.Info("adding this account's missing devices to a conversation", "with", conv.PeerHandle, "devices", missing)
	}
	return c.commitChange(ctx, groupID, change{add: adds, remove: unknown, serverRemove: serverRemove})
}
