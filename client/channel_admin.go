package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

// Channel administration: creating and describing a channel, the admin
// team, and custody of the channel key. The key is generated on the
// creating device and kept in its profile like the device key; the other
// devices of the owner and the admins get it only inside the channel's
// CHANNEL_ADMINS MLS conversation (Content{ChannelKey}), so the server
// never has it. When the admin team shrinks or ownership moves, the owner
// appends a new key to the chain (signed by the previous one) and sends it
// to the remaining team only.

// CreateChannel makes a new channel owned by this account: it generates
// the channel key, signs the first info, registers the channel, and
// creates the CHANNEL_ADMINS conversation with this account's other
// devices, which receive the key there.
func (c *Client) CreateChannel(ctx context.Context, s ChannelSettings) (Channel, error) {
	self := c.Self()
	if self.AccountID == "" {
		return Channel{}, profile.ErrNotRegistered
	}
	if _, none := c.engine.(noEngine); none {
		return Channel{}, ErrNoEncryption
	}
	key, err := channel.GenerateKey(rand.Reader)
	if err != nil {
		return Channel{}, err
	}
	entry := channel.FirstKeyEntry(key)
	id := channel.ID(key.Public())
	si, err := channel.SignInfo(key, 0, s.info(id, 1))
	if err != nil {
		return Channel{}, err
	}
	// Keep the key before the server knows the channel: a crash after
	// the answer must not leave a channel nobody can post to.
	now := c.clk.Now()
	if err := c.prof.Update(ctx, func(tx *profile.Tx) error {
		return tx.PutChannelKey(profile.ChannelKey{ChannelID: id, Index: 0, Seed: key.Seed(), Added: now})
	}); err != nil {
		return Channel{}, err
	}
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelCreate{ChannelCreate: &proto.ChannelCreate{Key: entry, Info: si}}})
	if err != nil {
		return Channel{}, err
	}
	ch, err := c.acceptChannel(ctx, resp.GetChannel())
	if err != nil {
		return Channel{}, err
	}
	if ch.ID != id {
		return Channel{}, fmt.Errorf("create channel: the server answered for channel %s, not %s", ch.ID, id)
	}
	if err := c.prof.Update(ctx, func(tx *profile.Tx) error {
		if err := c.saveChannel(tx, ch, now); err != nil {
			return err
		}
		return tx.SetChannelAdmins(id, []string{self.AccountID})
	}); err != nil {
		return Channel{}, err
	}
	if err := c.syncAdminGroup(ctx, id); err != nil {
		// The channel exists; the team conversation is retried on the
		// next connection (and on every admin change).
		c.log.Warn("channel created, but its admin conversation is not set up yet", "channel", id, "err", err)
	}
	return ch, nil
}

// EditChannel changes a channel's settings: edit gets the current ones.
// Admins may change name, description, icon and reactions; the listing,
// category, country and review setting are the owner's.
func (c *Client) EditChannel(ctx context.Context, id string, edit func(*ChannelSettings)) (Channel, error) {
	ch, key, err := c.signingKey(ctx, id)
	if err != nil {
		return Channel{}, err
	}
	s := ch.ChannelSettings
	s.Reactions = slices.Clone(s.Reactions)
	edit(&s)
	si, err := channel.SignInfo(key, ch.KeyIndex, s.info(id, ch.InfoVersion+1))
	if err != nil {
		return Channel{}, err
	}
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelUpdate{ChannelUpdate: &proto.ChannelUpdate{ChannelId: id, Info: si}}})
	if err != nil {
		return Channel{}, err
	}
	return c.keepChannel(ctx, resp.GetChannel())
}

// keepChannel verifies a channel the server answered and records it.
func (c *Client) keepChannel(ctx context.Context, pc *proto.Channel) (Channel, error) {
	ch, err := c.acceptChannel(ctx, pc)
	if err != nil {
		return Channel{}, err
	}
	return ch, c.prof.Update(ctx, func(tx *profile.Tx) error { return c.saveChannel(tx, ch, c.clk.Now()) })
}

// ChannelLink returns the channel's invite link (owner and admins); reset
// replaces it, so the old link stops working.
func (c *Client) ChannelLink(ctx context.Context, id string, reset bool) (string, error) {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelLink{ChannelLink: &proto.ChannelLink{ChannelId: id, Reset_: reset}}})
	if err != nil {
		return "", err
	}
	return resp.GetChannelLink().GetLink(), nil
}

// DeleteChannel deletes the channel with its posts (owner only).
func (c *Client) DeleteChannel(ctx context.Context, id string) error {
	if _, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelDelete{ChannelDelete: &proto.ChannelDelete{ChannelId: id}}}); err != nil {
		return err
	}
	return c.forgetChannel(ctx, id)
}

// forgetChannel drops a channel and its team conversation from the profile.
func (c *Client) forgetChannel(ctx context.Context, id string) error {
	convs, err := c.prof.Conversations(ctx)
	if err != nil {
		return err
	}
	c.groupMu.Lock()
	defer c.groupMu.Unlock()
	return c.prof.Update(ctx, func(tx *profile.Tx) error {
		for _, conv := range convs {
			if conv.ChannelID == id {
				if err := tx.DeleteConversation(conv.GroupID); err != nil {
					return err
				}
			}
		}
		return tx.DeleteChannel(id)
	})
}

// signingKey fetches the channel's current state and returns the private
// key of its newest chain entry, which this device must hold.
func (c *Client) signingKey(ctx context.Context, id string) (Channel, channel.PrivateKey, error) {
	if !channel.ValidID(id) {
		return Channel{}, channel.PrivateKey{}, proto.Errorf(proto.Code_BAD_REQUEST, "%q is not a channel id", id)
	}
	ch, err := c.fetchChannel(ctx, id)
	if err != nil {
		return Channel{}, channel.PrivateKey{}, err
	}
	if !ch.IsAdmin() {
		return ch, channel.PrivateKey{}, proto.Errorf(proto.Code_FORBIDDEN, "only the owner and admins of channel %s can do this", id)
	}
	key, err := c.heldKey(ctx, ch, ch.KeyIndex)
	return ch, key, err
}

// heldKey returns the held private key of chain entry index, checked
// against the verified chain.
func (c *Client) heldKey(ctx context.Context, ch Channel, index uint32) (channel.PrivateKey, error) {
	held, err := c.prof.ChannelKeys(ctx, ch.ID)
	if err != nil {
		return channel.PrivateKey{}, err
	}
	pub, ok := keyFor(ch.keys, index)
	for _, k := range held {
		if k.Index != index || !ok {
			continue
		}
		pk, err := channel.NewPrivateKey(k.Seed)
		if err != nil {
			return channel.PrivateKey{}, err
		}
		if !pk.Public().Equal(pub) {
			return channel.PrivateKey{}, fmt.Errorf("the channel key %d held for %s does not match the channel's key chain; it was not the channel's", index, ch.ID)
		}
		return pk, nil
	}
	return channel.PrivateKey{}, proto.Errorf(proto.Code_UNAVAILABLE,
		"this device does not hold the current key (%d) of channel %s yet; it arrives from the owner's devices through the admins' conversation — try again once they are online", index, ch.ID)
}

// Invitation is a pending admin invitation.
type Invitation struct {
	ChannelID string
	AccountID string // the invitee
	Handle    string // the invitee, when known
	Expires   time.Time
	Channel   *Channel // the channel's public view (to the invitee)
}

func invitationOf(pi *proto.ChannelInvitation) Invitation {
	inv := Invitation{ChannelID: pi.ChannelId, AccountID: pi.AccountId, Expires: timeMs(pi.ExpiresMs)}
	if pi.Channel != nil {
		if ch, err := openChannel(pi.Channel); err == nil {
			inv.Channel = &ch
		}
	}
	return inv
}

// InviteAdmin invites handle to administer the channel (owner only). The
// invitation expires after proto.AdminInviteTTL.
func (c *Client) InviteAdmin(ctx context.Context, id, handle string) (Invitation, error) {
	acc, err := c.verifyHandle(ctx, handle)
	if err != nil {
		return Invitation{}, err
	}
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelInviteAdmin{ChannelInviteAdmin: &proto.ChannelInviteAdmin{
		ChannelId: id, AccountId: acc.ID}}})
	if err != nil {
		return Invitation{}, err
	}
	inv := invitationOf(resp.GetChannelInvitation())
	inv.Handle = acc.Handle
	return inv, nil
}

// AdminInvitations lists this account's pending admin invitations.
func (c *Client) AdminInvitations(ctx context.Context) ([]Invitation, error) {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelInvitations{ChannelInvitations: &proto.ChannelInvitations{}}})
	if err != nil {
		return nil, err
	}
	var out []Invitation
	for _, pi := range resp.GetChannelInvitations().GetInvitations() {
		out = append(out, invitationOf(pi))
	}
	return out, nil
}

// AcceptAdmin accepts (or, with decline, declines) an invitation to
// administer the channel. Once accepted, the owner's or another admin's
// device adds this account's devices to the team conversation and sends
// them the channel key (a ChannelKeyEvent tells when it arrived).
func (c *Client) AcceptAdmin(ctx context.Context, id string, decline bool) (Channel, error) {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelAcceptAdmin{ChannelAcceptAdmin: &proto.ChannelAcceptAdmin{
		ChannelId: id, Decline: decline}}})
	if err != nil || decline {
		return Channel{}, err
	}
	return c.keepChannel(ctx, resp.GetChannel())
}

// ChannelMember is the owner or an admin (visible to the team only).
type ChannelMember struct {
	AccountID string
	Handle    string
	Role      proto.ChannelRole
	Since     time.Time
}

// ChannelTeam is a channel's owner, admins and pending invitations.
type ChannelTeam struct {
	Members     []ChannelMember
	Invitations []Invitation
	GroupID     []byte // the CHANNEL_ADMINS conversation
}

// ChannelAdmins lists the channel's owner and admins (owner and admins
// only: followers never learn who they are) and records them.
func (c *Client) ChannelAdmins(ctx context.Context, id string) (ChannelTeam, error) {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelAdmins{ChannelAdmins: &proto.ChannelAdmins{ChannelId: id}}})
	if err != nil {
		return ChannelTeam{}, err
	}
	r := resp.GetChannelAdmins()
	team := ChannelTeam{GroupID: r.AdminGroupId}
	var accounts []string
	for _, m := range r.Members {
		team.Members = append(team.Members, ChannelMember{AccountID: m.AccountId, Handle: m.Handle, Role: m.Role, Since: timeMs(m.SinceMs)})
		accounts = append(accounts, m.AccountId)
	}
	for _, pi := range r.Invitations {
		team.Invitations = append(team.Invitations, invitationOf(pi))
	}
	err = c.prof.Update(ctx, func(tx *profile.Tx) error { return tx.SetChannelAdmins(id, accounts) })
	return team, err
}

// RemoveAdmin removes handle from the channel's admins (owner only). Its
// devices leave the team conversation first, then the owner rotates the
// channel key in the same request as the removal and hands the new key to
// the remaining team, so the removed admin can no longer post.
func (c *Client) RemoveAdmin(ctx context.Context, id, handle string) error {
	acc, err := c.verifyHandle(ctx, handle)
	if err != nil {
		return err
	}
	ch, _, err := c.signingKey(ctx, id)
	if err != nil {
		return err
	}
	if ch.Role != proto.ChannelRole_CHANNEL_ROLE_OWNER {
		return proto.Errorf(proto.Code_FORBIDDEN, "only the owner of channel %s can remove admins", id)
	}
	c.adminMu.Lock()
	defer c.adminMu.Unlock()
	if err := c.removeTeamDevices(ctx, ch, func(m member) bool { _, ok := acc.Devices[m.DeviceID]; return ok }); err != nil {
		return err
	}
	return c.rotate(ctx, ch, func(entry *proto.ChannelKeyEntry) *proto.Request {
		return &proto.Request{Body: &proto.Request_ChannelRemoveAdmin{ChannelRemoveAdmin: &proto.ChannelRemoveAdmin{
			ChannelId: id, AccountId: acc.ID, NewKey: entry}}}
	})
}

// TransferChannel makes handle, an admin, the channel's owner (owner
// only); this account stays an admin. The key is rotated in the same step.
func (c *Client) TransferChannel(ctx context.Context, id, handle string) error {
	acc, err := c.verifyHandle(ctx, handle)
	if err != nil {
		return err
	}
	ch, _, err := c.signingKey(ctx, id)
	if err != nil {
		return err
	}
	c.adminMu.Lock()
	defer c.adminMu.Unlock()
	return c.rotate(ctx, ch, func(entry *proto.ChannelKeyEntry) *proto.Request {
		return &proto.Request{Body: &proto.Request_ChannelTransfer{ChannelTransfer: &proto.ChannelTransfer{
			ChannelId: id, AccountId: acc.ID, NewKey: entry}}}
	})
}

// rotate makes the channel's next key, keeps it, has the server append it
// to the chain with req, and hands it to the team conversation.
func (c *Client) rotate(ctx context.Context, ch Channel, req func(*proto.ChannelKeyEntry) *proto.Request) error {
	cur, err := c.heldKey(ctx, ch, ch.KeyIndex)
	if err != nil {
		return err
	}
	next, err := channel.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	index := ch.KeyIndex + 1
	if err := c.prof.Update(ctx, func(tx *profile.Tx) error {
		return tx.PutChannelKey(profile.ChannelKey{ChannelID: ch.ID, Index: index, Seed: next.Seed(), Added: c.clk.Now()})
	}); err != nil {
		return err
	}
	if _, err := c.call(ctx, req(channel.NextKeyEntry(cur, ch.ID, index, next.Public()))); err != nil {
		return err
	}
	if _, err := c.fetchChannel(ctx, ch.ID); err != nil {
		return err
	}
	return c.shareChannelKey(ctx, ch.ID)
}

// adminGroup returns the channel's team conversation on this device.
func (c *Client) adminGroup(ctx context.Context, id string) (*profile.Conversation, error) {
	convs, err := c.prof.Conversations(ctx)
	if err != nil {
		return nil, err
	}
	for _, conv := range convs {
		if conv.ChannelID == id {
			return &conv, nil
		}
	}
	return nil, nil
}

// shareChannelKey sends the newest held key of the channel to its team
// conversation (every other device of the owner and the admins).
func (c *Client) shareChannelKey(ctx context.Context, id string) error {
	conv, err := c.adminGroup(ctx, id)
	if err != nil || conv == nil {
		return err
	}
	held, err := c.prof.ChannelKeys(ctx, id)
	if err != nil || len(held) == 0 {
		return err
	}
	k := held[len(held)-1]
	content := &proto.Content{SentMs: c.clk.Now().UnixMilli(), Body: &proto.Content_ChannelKey{ChannelKey: &proto.ChannelKey{
		ChannelId: id, KeyIndex: k.Index, PrivateKey: k.Seed}}}
	return c.sendContent(ctx, conv.GroupID, newMessageID(), content, false, nil)
}

// syncAdminGroup brings the channel's team conversation in line with its
// owner and admins: the owner's device creates it if there is none yet;
// devices of the team missing from it are added and given the current
// key; the owner removes devices of accounts that left the team and
// rotates the key. Owner and admin devices run it on connect and when
// the server says the team changed (ChannelUpdated{admin}).
func (c *Client) syncAdminGroup(ctx context.Context, id string) error {
	c.adminMu.Lock()
	defer c.adminMu.Unlock()
	ch, err := c.fetchChannel(ctx, id)
	if err != nil {
		return err
	}
	if !ch.IsAdmin() {
		return nil
	}
	team, err := c.ChannelAdmins(ctx, id)
	if err != nil {
		return err
	}
	conv, err := c.adminGroup(ctx, id)
	if err != nil {
		return err
	}
	owner := ch.Role == proto.ChannelRole_CHANNEL_ROLE_OWNER
	if conv == nil {
		if !owner || len(team.GroupID) > 0 {
			return nil // an admin waits for its welcome
		}
		return c.createAdminGroup(ctx, ch)
	}
	// The key logs this device already verified are enough here (a
	// team member's newly linked device is added by that member's own
	// primary); only accounts new to this device are fetched, so a check
	// costs two requests however large the team.
	accounts := map[string]*account{}
	for _, m := range team.Members {
		a, err := c.trusted(ctx, m.AccountID)
		if err == nil && a == nil {
			a, err = c.verifyAccountID(ctx, m.AccountID)
		}
		if err != nil {
			return err
		}
		accounts[m.AccountID] = a
	}
	inTeam := func(m member) bool {
		for _, a := range accounts {
			if a.hasMember(m) {
				return true
			}
		}
		return false
	}
	if owner {
		removed, err := c.teamMembers(ctx, conv.GroupID, func(m member) bool { return !inTeam(m) })
		if err != nil {
			return err
		}
		if len(removed) > 0 {
			if err := c.removeTeamDevices(ctx, ch, func(m member) bool { return !inTeam(m) }); err != nil {
				return err
			}
			return c.rotate(ctx, ch, func(entry *proto.ChannelKeyEntry) *proto.Request {
				return &proto.Request{Body: &proto.Request_ChannelRotateKey{ChannelRotateKey: &proto.ChannelRotateKey{ChannelId: id, NewKey: entry}}}
			})
		}
	}
	present, err := c.teamMembers(ctx, conv.GroupID, func(member) bool { return true })
	if err != nil {
		return err
	}
	var adds []claimed
	for _, a := range accounts {
		var missing []string
		for devID := range a.Devices {
			// This device is in the group (it could only join by a
			// welcome anyway); teamMembers leaves it out of present.
			// Counting it missing claimed one of its own key packages
			// and re-sent the key to the whole team at every check.
			if devID == c.deviceID {
				continue
			}
			if !slices.ContainsFunc(present, func(m member) bool { return m.DeviceID == devID }) {
				missing = append(missing, devID)
			}
		}
		if len(missing) == 0 {
			continue
		}
		kps, err := c.claimKeyPackages(ctx, a, missing)
		var pe *proto.Error
		if errors.As(err, &pe) && pe.Code == proto.Code_NO_KEY_PACKAGE {
			c.log.Info("a team device has no key package yet; adding it later", "channel", id, "account", a.Handle)
			continue
		}
		if err != nil {
			return err
		}
		adds = append(adds, kps...)
	}
	if len(adds) == 0 {
		return nil
	}
	if err := c.commitChange(ctx, conv.GroupID, change{add: adds}); err != nil {
		return err
	}
	return c.shareChannelKey(ctx, id)
}

// teamMembers lists the team conversation's members that match.
func (c *Client) teamMembers(ctx context.Context, groupID []byte, match func(member) bool) ([]member, error) {
	c.groupMu.Lock()
	defer c.groupMu.Unlock()
	_, g, err := c.loadGroup(ctx, groupID)
	if err != nil {
		return nil, err
	}
	var out []member
	for _, m := range g.Members() {
		if m.DeviceID != c.deviceID && match(m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// removeTeamDevices commits the removal of the matching devices from the
// channel's team conversation.
func (c *Client) removeTeamDevices(ctx context.Context, ch Channel, match func(member) bool) error {
	conv, err := c.adminGroup(ctx, ch.ID)
	if err != nil || conv == nil {
		return err
	}
	gone, err := c.teamMembers(ctx, conv.GroupID, match)
	if err != nil || len(gone) == 0 {
		return err
	}
	var ids []string
	for _, m := range gone {
		ids = append(ids, m.DeviceID)
	}
	// The server may already have dropped revoked devices; it refuses
	// to remove what it does not count as a member.
	res, err := c.call(ctx, &proto.Request{Body: &proto.Request_GetGroup{GetGroup: &proto.GetGroup{GroupId: conv.GroupID}}})
	if err != nil {
		return err
	}
	var server []string
	for _, d := range ids {
		if slices.Contains(res.GetGroup().GetDevices(), d) {
			server = append(server, d)
		}
	}
	return c.commitChange(ctx, conv.GroupID, change{remove: ids, serverRemove: server})
}

// createAdminGroup creates the channel's team conversation with this
// (owner) device and the owner's other devices, and hands them the key.
func (c *Client) createAdminGroup(ctx context.Context, ch Channel) error {
	me, err := c.ownAccount(ctx)
	if err != nil {
		return err
	}
	var others []string
	for id := range me.Devices {
		if id != c.deviceID {
			others = append(others, id)
		}
	}
	var adds []claimed
	if len(others) > 0 {
		adds, err = c.claimKeyPackages(ctx, me, others)
		var pe *proto.Error
		if err != nil && !(errors.As(err, &pe) && pe.Code == proto.Code_NO_KEY_PACKAGE) {
			return err
		}
	}
	err = func() error {
		c.groupMu.Lock()
		defer c.groupMu.Unlock()
		groupID := make([]byte, groupIDBytes)
		rand.Read(groupID)
		g, err := c.engine.CreateGroup(groupID)
		if err != nil {
			return err
		}
		msgs, devs := splitClaimed(adds)
		commit, welcome, err := g.Commit(msgs, nil)
		if err != nil {
			return fmt.Errorf("create the channel's admin conversation: %w", err)
		}
		// Saved as pending before it leaves, like every commit: a lost
		// answer never leaves the team conversation on the server only.
		conv := profile.Conversation{GroupID: groupID, Kind: int32(proto.ConversationKind_CHANNEL_ADMINS),
			PeerHandle: "channel " + ch.ID, ChannelID: ch.ID, Created: c.clk.Now()}
		_, _, err = c.sendCommit(ctx, conv, g, &proto.Commit{
			GroupId: groupID, Epoch: 0, MessageId: newMessageID(), Commit: commit, Welcome: welcome,
			AddDevices: devs, Kind: proto.ConversationKind_CHANNEL_ADMINS, Accounts: []string{me.ID}, ChannelId: ch.ID,
			GroupInfo: c.nextGroupInfo(g),
		})
		if errors.Is(err, profile.ErrNotFound) {
			err = errors.New("the server did not create the channel's admin conversation")
		}
		return err
	}()
	if err != nil || len(adds) == 0 {
		return err
	}
	return c.shareChannelKey(ctx, ch.ID)
}

// receiveChannelKey keeps a channel key that arrived in the channel's team
// conversation. A key for another channel than the conversation's is
// dropped: each team may only hand out its own channel's key.
func (c *Client) receiveChannelKey(conv profile.Conversation, k *proto.ChannelKey, now time.Time) (func(*profile.Tx) error, []Event, error) {
	if conv.ChannelID == "" || k.ChannelId != conv.ChannelID {
		return nil, nil, fmt.Errorf("a key of channel %q in the conversation of channel %q", k.ChannelId, conv.ChannelID)
	}
	if _, err := channel.NewPrivateKey(k.PrivateKey); err != nil {
		return nil, nil, err
	}
	save := func(tx *profile.Tx) error {
		return tx.PutChannelKey(profile.ChannelKey{ChannelID: k.ChannelId, Index: k.KeyIndex, Seed: k.PrivateKey, Added: now})
	}
	return save, []Event{ChannelKeyEvent{ChannelID: k.ChannelId, KeyIndex: k.KeyIndex}}, nil
}

// channelConvAccounts returns the accounts whose devices may be members
// of a channel's team conversation: the owner and the admins as last
// recorded (refreshed from the server on request).
func (c *Client) channelConvAccounts(ctx context.Context, conv profile.Conversation, refresh bool) ([]string, error) {
	if refresh {
		if _, err := c.ChannelAdmins(ctx, conv.ChannelID); err != nil {
			return nil, err
		}
	}
	rec, err := c.prof.Channel(ctx, conv.ChannelID)
	if errors.Is(err, profile.ErrNotFound) {
		return []string{c.Self().AccountID}, nil
	}
	if err != nil {
		return nil, err
	}
	accounts := slices.Clone(rec.Admins)
	if self := c.Self().AccountID; !slices.Contains(accounts, self) {
		accounts = append(accounts, self)
	}
	return accounts, nil
}

// adoptChannel records a channel this device administers but did not
// know (a welcome into its team conversation: this device was linked, or
// its account became an admin).
func (c *Client) adoptChannel(ctx context.Context, id string, accounts []string) error {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelGet{ChannelGet: &proto.ChannelGet{ChannelId: id}}})
	if err != nil {
		return err
	}
	ch, err := c.acceptChannel(ctx, resp.GetChannel())
	if err != nil {
		return err
	}
	return c.prof.Update(ctx, func(tx *profile.Tx) error {
		if err := c.saveChannel(tx, ch, c.clk.Now()); err != nil {
			return err
		}
		return tx.SetChannelAdmins(id, accounts)
	})
}

// teamDeviceRemoved rotates the channel key after a revoked device of
// this account left the channel's team conversation: it held the key.
// Only the owner can rotate; an admin's revoked device is left to the
// owner (see docs/channels.md).
func (c *Client) teamDeviceRemoved(ctx context.Context, id string) error {
	ch, err := c.fetchChannel(ctx, id)
	if err != nil || ch.Role != proto.ChannelRole_CHANNEL_ROLE_OWNER {
		return err
	}
	c.adminMu.Lock()
	defer c.adminMu.Unlock()
	return c.rotate(ctx, ch, func(entry *proto.ChannelKeyEntry) *proto.Request {
		return &proto.Request{Body: &proto.Request_ChannelRotateKey{ChannelRotateKey: &proto.ChannelRotateKey{ChannelId: id, NewKey: entry}}}
	})
}

// SyncChannelTeam brings the channel's team conversation in line with its
// owner and admins now (a running client does it by itself when the
// server reports a change): new admins' devices are added and get the
// channel key; on the owner's device, devices of accounts that left the
// team are removed and the key is rotated.
func (c *Client) SyncChannelTeam(ctx context.Context, id string) error {
	return c.syncAdminGroup(ctx, id)
}

// LeaveChannelTeam gives up this account's admin role in the channel. The
// owner's device then removes this account's devices from the team
// conversation and rotates the channel key (by itself when it is online,
// or at its next 'admins' check); this device forgets the channel and
// its keys at once.
func (c *Client) LeaveChannelTeam(ctx context.Context, id string) error {
	self := c.Self()
	if self.AccountID == "" {
		return profile.ErrNotRegistered
	}
	if _, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelRemoveAdmin{ChannelRemoveAdmin: &proto.ChannelRemoveAdmin{
		ChannelId: id, AccountId: self.AccountID}}}); err != nil {
		return err
	}
	return c.forgetChannel(ctx, id)
}

// RotateChannelKey appends a new key to the channel's chain and hands it
// to the team (owner only), e.g. after an admin lost a device: from then
// on only the new key posts.
func (c *Client) RotateChannelKey(ctx context.Context, id string) error {
	ch, _, err := c.signingKey(ctx, id)
	if err != nil {
		return err
	}
	if ch.Role != proto.ChannelRole_CHANNEL_ROLE_OWNER {
		return proto.Errorf(proto.Code_FORBIDDEN, "only the owner of channel %s can rotate its key", id)
	}
	c.adminMu.Lock()
	defer c.adminMu.Unlock()
	return c.rotate(ctx, ch, func(entry *proto.ChannelKeyEntry) *proto.Request {
		return &proto.Request{Body: &proto.Request_ChannelRotateKey{ChannelRotateKey: &proto.ChannelRotateKey{ChannelId: id, NewKey: entry}}}
	})
}
