package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

// resync rejoins a conversation this device lost track of (it missed a
// commit, or could not process one) by an MLS external commit built from
// the latest GroupInfo the server keeps (every commit uploads one). The
// commit replaces this device's old leaf, so the other members see it
// leave and come back; what was sent in the epochs it missed stays
// unreadable, everything after is readable again.
//
// The rejoin is not saved as pending before it is sent: if its answer is
// lost, the device keeps its old state, and its next rejoin replaces the
// leaf the lost one made. Call with groupMu held.
func (c *Client) resync(ctx context.Context, conv profile.Conversation) error {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_GetGroupInfo{GetGroupInfo: &proto.GetGroupInfo{GroupId: conv.GroupID}}})
	if err != nil {
		return fmt.Errorf("fetch the GroupInfo: %w", err)
	}
	info := resp.GetGroupInfo()
	g, commit, epoch, err := c.engine.JoinExternal(info.GetGroupInfo())
	if err != nil {
		return fmt.Errorf("join from the GroupInfo: %w", err)
	}
	if !bytes.Equal(g.GroupID(), conv.GroupID) {
		return fmt.Errorf("the server returned the GroupInfo of another group")
	}
	if epoch < conv.Epoch {
		return fmt.Errorf("the server's GroupInfo is of epoch %d, older than this device's %d", epoch, conv.Epoch)
	}
	req := &proto.Commit{GroupId: conv.GroupID, Epoch: epoch, MessageId: newMessageID(), Commit: commit,
		GroupInfo: c.nextGroupInfo(g)}
	resp, err = c.call(ctx, &proto.Request{Body: &proto.Request_Commit{Commit: req}})
	var pe *proto.Error
	accepted := err == nil ||
		errors.As(err, &pe) && pe.Code == proto.Code_DUPLICATE && resp.GetCommit() != nil ||
		errors.As(err, &pe) && pe.Code == proto.Code_CONFLICT && bytes.Equal(resp.GetConflict().GetWinningCommit(), commit)
	if !accepted {
		return fmt.Errorf("rejoin commit: %w", err)
	}
	if err := g.MergePendingCommit(); err != nil {
		return err
	}
	// Who is in the group now is checked like anywhere else: sending
	// refuses devices the key logs do not list (and reconciliation
	// removes them).
	if unknown, err := c.verifiedMembers(ctx, conv, g.Members()); err == nil && len(unknown) > 0 {
		c.tryEmit(KeyChangeEvent{Handle: conv.PeerHandle, AccountID: conv.PeerAccount,
			Err: fmt.Errorf("%w: %v", ErrUnverifiedMember, unknown)})
		c.kickReconcile()
	}
	conv.PendingCommit = nil
	if err := c.saveGroup(ctx, conv, g, nil); err != nil {
		return err
	}
	c.log.Info("rejoined the conversation by external commit", "with", conv.PeerHandle, "epoch", g.Epoch())
	c.groupAdvanced()
	return nil
}

// resyncGroup is resync for a caller that does not hold groupMu.
func (c *Client) resyncGroup(ctx context.Context, groupID []byte) error {
	if err := c.lockGroups(ctx); err != nil {
		return err
	}
	defer c.groupMu.Unlock()
	conv, _, err := c.loadGroup(ctx, groupID)
	if err != nil {
		return err
	}
	return c.resync(ctx, conv)
}
