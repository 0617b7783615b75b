package client

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

// SetContact adds handle to (or removes it from) this account's contacts,
// on the server (it decides who sees presence under the "contacts"
// setting) and in the profile.
func (c *Client) SetContact(ctx context.Context, handle string, on bool) error {
	peer, err := c.lookupPeer(ctx, handle)
	if err != nil {
		return err
	}
	if _, err := c.call(ctx, &proto.Request{Body: &proto.Request_SetContact{SetContact: &proto.SetContact{
		AccountId: peer.ID, Contact: on}}}); err != nil {
		return err
	}
	return c.prof.SetContact(ctx, profile.Contact{AccountID: peer.ID, Handle: peer.Handle, Added: c.clk.Now()}, on)
}

// Contacts lists this profile's contacts.
func (c *Client) Contacts(ctx context.Context) ([]profile.Contact, error) {
	return c.prof.Contacts(ctx)
}

// SetBlocked blocks (or unblocks) handle: a blocked account cannot send to
// this one or see its presence.
func (c *Client) SetBlocked(ctx context.Context, handle string, blocked bool) error {
	peer, err := c.lookupPeer(ctx, handle)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, &proto.Request{Body: &proto.Request_SetBlocked{SetBlocked: &proto.SetBlocked{
		AccountId: peer.ID, Blocked: blocked}}})
	return err
}

// Presence is what this account may see of another's online state.
type Presence struct {
	Visible  bool // false: the account hides its presence from you
	Online   bool
	LastSeen time.Time // zero when unknown or hidden
}

// Presence asks for handle's online state and last-seen time.
func (c *Client) Presence(ctx context.Context, handle string) (Presence, error) {
	peer, err := c.verifyHandle(ctx, handle)
	if err != nil {
		return Presence{}, err
	}
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_GetPresence{GetPresence: &proto.GetPresence{AccountId: peer.ID}}})
	if err != nil {
		return Presence{}, err
	}
	p := resp.GetPresence()
	return Presence{Visible: p.GetVisible(), Online: p.GetOnline(), LastSeen: timeMs(p.GetLastSeenMs())}, nil
}

// ParseVisibility reads "everyone", "contacts" or "nobody".
func ParseVisibility(s string) (proto.PresenceVisibility, error) {
	switch strings.ToLower(s) {
	case "everyone":
		return proto.PresenceVisibility_EVERYONE, nil
	case "contacts":
		return proto.PresenceVisibility_CONTACTS, nil
	case "nobody":
		return proto.PresenceVisibility_NOBODY, nil
	}
	return 0, fmt.Errorf("presence visibility %q: want everyone, contacts or nobody", s)
}

// SetPresenceVisibility chooses who may see this account's presence.
func (c *Client) SetPresenceVisibility(ctx context.Context, v proto.PresenceVisibility) error {
	_, err := c.call(ctx, &proto.Request{Body: &proto.Request_SetPresenceVisibility{
		SetPresenceVisibility: &proto.SetPresenceVisibility{Visibility: v}}})
	return err
}
