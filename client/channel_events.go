package client

import "context"

// ChannelPostEvent is a channel post this device received through sync,
// already verified and stored: New for the first time the device sees
// it, otherwise an edit (Post.Edited) or a deletion (Post.Deleted).
type ChannelPostEvent struct {
	Post Post
	New  bool
}

// ChannelWarningEvent reports a channel object that failed verification
// (a forged or altered post, a key chain that does not extend the one
// verified before). It is never shown as content.
type ChannelWarningEvent struct {
	ChannelID string
	PostID    []byte // nil: the channel itself
	Err       error
}

// ChannelTeamEvent tells the owner's and admins' devices that the team,
// its invitations or the unpublished posts changed (refresh drafts).
type ChannelTeamEvent struct{ ChannelID string }

// ChannelKeyEvent reports that this device received a channel key from
// the channel's team conversation (it can now post with it).
type ChannelKeyEvent struct {
	ChannelID string
	KeyIndex  uint32
}

// ChannelInvitationEvent is an invitation to administer a channel.
type ChannelInvitationEvent struct{ Invitation Invitation }

// ForwardEvent is a channel post forwarded into a chat, with the result
// of verifying it against the channel's key chain (Err nil: the post is
// the channel's, unaltered). The chat message is stored and announced by
// a MessageEvent too.
type ForwardEvent struct {
	Message   Message
	ChannelID string
	Channel   string // the channel's verified name ("" if unverified)
	Post      Post
	Err       error
}

func (ChannelPostEvent) event()       {}
func (ChannelWarningEvent) event()    {}
func (ChannelTeamEvent) event()       {}
func (ChannelKeyEvent) event()        {}
func (ChannelInvitationEvent) event() {}
func (ForwardEvent) event()           {}

// emitCtx hands an event to the application, waiting while Events is
// full, until ctx ends. Never call it with groupMu held.
func (c *Client) emitCtx(ctx context.Context, ev Event) {
	select {
	case c.events <- ev:
	case <-ctx.Done():
	case <-c.ctx.Done():
	}
}
