package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

// A commit is sent in three steps, so that no answer can be lost:
//
//  1. the Commit request is saved with the group state that holds the
//     commit as pending, in one transaction (sendCommit);
//  2. it is sent; repeats after a reconnect carry the same message id;
//  3. the answer settles it (settleCommit): accepted, the pending commit
//     is merged; lost to another commit or refused, it is discarded.
//
// When step 3 does not happen (a crash, the connection lost for good),
// the saved request is sent again before the group is used next
// (loadGroup) and after every (re)connection (resendPending). The server
// answers a repeat of a commit it accepted with DUPLICATE and the
// CommitResult, which counts as accepted: the device never drops a commit
// the server applied, which would leave it in an epoch nobody else is in.
// (A DUPLICATE without that body is a refusal: the server no longer knows
// the commit; the device then follows the group through its mailbox or
// rejoins it.)

// sendCommit saves req (made by g, whose pending commit it carries) with
// g's state, sends it and settles the answer. It returns the conversation
// as saved and, when another commit won the epoch, the Conflict. An error
// without a Conflict is a refusal (a *proto.Error; the commit was
// discarded) or no answer at all (the commit stays pending). Call with
// groupMu held.
func (c *Client) sendCommit(ctx context.Context, conv profile.Conversation, g mlsGroup, req *proto.Commit) (profile.Conversation, *proto.Conflict, error) {
	raw, err := gproto.Marshal(req)
	if err != nil {
		return conv, nil, err
	}
	conv.PendingCommit = raw
	if conv, err = c.putGroup(ctx, conv, g, nil); err != nil {
		return conv, nil, err
	}
	return c.deliverCommit(ctx, conv, g, req)
}

// deliverCommit sends a saved pending commit and settles the answer (see
// sendCommit). Call with groupMu held.
func (c *Client) deliverCommit(ctx context.Context, conv profile.Conversation, g mlsGroup, req *proto.Commit) (profile.Conversation, *proto.Conflict, error) {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_Commit{Commit: req}})
	var pe *proto.Error
	switch {
	case err == nil:
	case errors.As(err, &pe) && pe.Code == proto.Code_DUPLICATE && resp.GetCommit() != nil:
		// A repeat of a commit the server accepted (its answer was lost):
		// the server says so with the epoch it moved the group to.
		c.log.Debug("commit was accepted before; merging it", "epoch", req.Epoch)
	case errors.As(err, &pe) && pe.Code == proto.Code_CONFLICT:
		cf := resp.GetConflict()
		if cf == nil {
			cf = &proto.Conflict{}
		}
		if bytes.Equal(cf.GetWinningCommit(), req.Commit) {
			break // our own commit won; only its answer was lost
		}
		conv, serr := c.settleCommit(ctx, conv, g, req, false)
		if serr != nil {
			return conv, nil, serr
		}
		return conv, cf, err
	case errors.As(err, &pe):
		conv, serr := c.settleCommit(ctx, conv, g, req, false)
		return conv, nil, errors.Join(err, serr)
	default:
		// No answer: the server may or may not have applied it. It
		// stays saved as pending and is sent again before the group is
		// used next.
		return conv, nil, fmt.Errorf("commit not confirmed (it is sent again once connected): %w", err)
	}
	conv, err = c.settleCommit(ctx, conv, g, req, true)
	return conv, nil, err
}

// settleCommit merges (accepted) or discards g's pending commit and saves
// the group without it. A conversation whose creating commit was not
// accepted does not exist on the server: it is deleted. Call with groupMu
// held.
func (c *Client) settleCommit(ctx context.Context, conv profile.Conversation, g mlsGroup, req *proto.Commit, accepted bool) (profile.Conversation, error) {
	conv.PendingCommit = nil
	if !accepted {
		g.DiscardPendingCommit()
		if req.Epoch == 0 {
			err := c.prof.Update(ctx, func(tx *profile.Tx) error { return tx.DeleteConversation(conv.GroupID) })
			if err == nil {
				err = profile.ErrNotFound
			}
			return conv, err
		}
		return c.putGroup(ctx, conv, g, nil)
	}
	if err := g.MergePendingCommit(); err != nil {
		return conv, err
	}
	conv, err := c.putGroup(ctx, conv, g, nil)
	if err == nil {
		c.groupAdvanced()
	}
	return conv, err
}

// resolvePending sends a conversation's saved pending commit again and
// settles it; loadGroup calls it so no operation builds on a group whose
// last commit is undecided. It returns profile.ErrNotFound when the
// conversation's creation was refused. Call with groupMu held.
func (c *Client) resolvePending(ctx context.Context, conv profile.Conversation, g mlsGroup) (profile.Conversation, error) {
	var req proto.Commit
	if err := gproto.Unmarshal(conv.PendingCommit, &req); err != nil {
		return conv, fmt.Errorf("saved pending commit: %w", err)
	}
	if _, _, ok := g.PendingCommit(); !ok {
		// The request was saved but the state has no commit pending:
		// nothing to settle.
		conv.PendingCommit = nil
		return c.putGroup(ctx, conv, g, nil)
	}
	c.log.Info("sending a commit whose answer was not seen again", "epoch", req.Epoch)
	conv, cf, err := c.deliverCommit(ctx, conv, g, &req)
	var pe *proto.Error
	switch {
	case errors.Is(err, profile.ErrNotFound):
		return conv, err
	case cf != nil:
		// Lost: the winner is in the mailbox, like any other commit.
		c.log.Info("a commit sent before lost the race for its epoch", "epoch", req.Epoch, "current", cf.GetEpoch())
		return conv, nil
	case errors.As(err, &pe):
		c.log.Warn("a commit sent before was refused", "epoch", req.Epoch, "err", err)
		return conv, nil
	}
	return conv, err
}

// resendPending settles every commit left pending by an earlier run, once
// per connection.
func (c *Client) resendPending(ctx context.Context) {
	convs, err := c.prof.PendingCommits(ctx)
	if err != nil {
		c.log.Warn("listing pending commits", "err", err)
		return
	}
	for _, conv := range convs {
		if c.lockGroups(ctx) != nil {
			return // the connection ended; the next one settles it
		}
		_, _, err := c.loadGroup(ctx, conv.GroupID)
		c.groupMu.Unlock()
		if err != nil && !errors.Is(err, profile.ErrNotFound) {
			c.log.Warn("settling a pending commit", "err", err)
			return
		}
	}
}

// nextGroupInfo is the GroupInfo of the epoch g's pending commit leads
// to, for the server to keep (members that fall behind rejoin from it). It
// is taken from a copy of g with the commit merged; nil (and the commit
// goes without) when that fails or it is over the server's limit.
func (c *Client) nextGroupInfo(g mlsGroup) []byte {
	state, err := g.Export()
	if err != nil {
		c.log.Warn("no GroupInfo for the commit", "err", err)
		return nil
	}
	next, err := c.engine.Import(state)
	if err == nil {
		err = next.MergePendingCommit()
	}
	var info []byte
	if err == nil {
		info, err = next.GroupInfo()
	}
	if err == nil && len(info) > proto.MaxHandshakeBytes {
		err = fmt.Errorf("GroupInfo is %d bytes, over the limit of %d", len(info), proto.MaxHandshakeBytes)
	}
	if err != nil {
		c.log.Warn("no GroupInfo for the commit", "err", err)
		return nil
	}
	return info
}
