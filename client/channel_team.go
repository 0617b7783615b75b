package client

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

// receiveTeamWelcome joins a channel's CHANNEL_ADMINS conversation: this
// account became an admin (or owner), or this device was linked to such
// an account. The channel is recorded with the role the server gives and
// the team's accounts; members outside the team's verified devices are
// reported. Call with groupMu held.
func (c *Client) receiveTeamWelcome(ctx context.Context, env *proto.Envelope) ([]Event, error) {
	self := c.Self()
	if !channel.ValidID(env.ChannelId) || !slices.Contains(env.Accounts, self.AccountID) {
		return nil, c.skip(ctx, env, true, fmt.Errorf("team welcome for channel %q and accounts %v", env.ChannelId, env.Accounts))
	}
	bundles, err := c.prof.KeyPackages(ctx)
	if err != nil {
		return nil, err
	}
	var g mlsGroup
	var used profile.KeyPackage
	for _, kp := range bundles {
		if g, err = c.engine.JoinFromWelcome(env.Payload, kp.Bundle); err == nil {
			used = kp
			break
		}
	}
	if g == nil {
		return nil, c.skip(ctx, env, true, fmt.Errorf("welcome for none of this device's key packages: %v", err))
	}
	if err := c.adoptChannel(ctx, env.ChannelId, env.Accounts); err != nil {
		var pe *proto.Error
		if errors.As(err, &pe) && !pe.Code.Retryable() || errors.Is(err, ErrChannelKeyChain) {
			return nil, c.skip(ctx, env, true, err)
		}
		return nil, err // the connection failed: retry after reconnecting
	}
	conv := profile.Conversation{GroupID: g.GroupID(), Kind: int32(proto.ConversationKind_CHANNEL_ADMINS),
		PeerHandle: "channel " + env.ChannelId, ChannelID: env.ChannelId, Created: c.clk.Now()}
	// Join only a team conversation whose every member is a verified
	// device of the team, and never over one this device already has:
	// otherwise whoever can deliver a Welcome (the server included) could
	// plant a conversation and collect the channel key.
	if unknown, err := c.unverifiedMembers(ctx, conv, g.Members(), true); err != nil {
		return nil, err
	} else if len(unknown) > 0 {
		err := fmt.Errorf("%w: %v", ErrUnverifiedMember, unknown)
		c.tryEmit(ChannelWarningEvent{ChannelID: env.ChannelId, Err: err})
		return nil, c.skip(ctx, env, true, fmt.Errorf("not joining the team conversation of channel %s: %w", env.ChannelId, err))
	}
	if joined, err := c.keepJoined(ctx, env, conv, g, used, "a team conversation"); !joined {
		return nil, err
	}
	c.channelWork.add(env.ChannelId, false)
	return []Event{ChannelTeamEvent{ChannelID: env.ChannelId}}, nil
}
