package channels

import (
	"context"
	"errors"
	"slices"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
)

// InviteAdmin records (or renews) an invitation and tells the invitee.
func (s *Service) InviteAdmin(ctx context.Context, who gateway.Identity, req *proto.ChannelInviteAdmin) (*proto.ChannelInvitation, error) {
	a, err := s.loadOwner(ctx, who, req.GetChannelId())
	if err != nil {
		return nil, err
	}
	if _, err := s.st.AccountByID(ctx, req.AccountId); errors.Is(err, store.ErrNotFound) {
		return nil, proto.Errorf(proto.Code_NOT_FOUND, "no account %q on this server", req.AccountId)
	} else if err != nil {
		return nil, storeErr("account", err)
	}
	exp := s.clock.Now().Add(proto.AdminInviteTTL)
	err = s.st.InviteAdmin(ctx, store.AdminInvitation{ChannelID: a.ch.ID, AccountID: req.AccountId, ExpiresAt: exp}, proto.MaxChannelAdmins)
	switch {
	case errors.Is(err, store.ErrExists):
		return nil, proto.Errorf(proto.Code_ALREADY_EXISTS, "that account already administers the channel")
	case errors.Is(err, store.ErrLimit):
		return nil, proto.Errorf(proto.Code_LIMIT_REACHED, "the channel already has %d admins, the limit; remove one first", proto.MaxChannelAdmins)
	case err != nil:
		return nil, storeErr("invite admin", err)
	}
	inv := &proto.ChannelInvitation{ChannelId: a.ch.ID, AccountId: req.AccountId, ExpiresMs: exp.UnixMilli()}
	// The invitee sees the channel as a stranger does.
	pub, err := s.view(ctx, a.ch, store.Membership{}, true)
	if err != nil {
		return nil, err
	}
	s.pushAccount(ctx, req.AccountId, &proto.Event{Body: &proto.Event_ChannelInvitation{ChannelInvitation: &proto.ChannelInvitation{
		ChannelId: a.ch.ID, AccountId: req.AccountId, ExpiresMs: inv.ExpiresMs, Channel: pub,
	}}})
	s.notifyAdmins(ctx, a.ch.ID)
	return inv, nil
}

// Invitations lists the requester's own pending invitations.
func (s *Service) Invitations(ctx context.Context, who gateway.Identity) (*proto.ChannelInvitationsResult, error) {
	invs, err := s.st.InvitationsOf(ctx, who.AccountID, s.clock.Now())
	if err != nil {
		return nil, storeErr("invitations", err)
	}
	res := &proto.ChannelInvitationsResult{}
	for _, inv := range invs {
		ch, err := s.st.Channel(ctx, inv.ChannelID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, storeErr("channel", err)
		}
		pub, err := s.view(ctx, ch, store.Membership{}, true)
		if err != nil {
			return nil, err
		}
		res.Invitations = append(res.Invitations, &proto.ChannelInvitation{
			ChannelId: inv.ChannelID, AccountId: inv.AccountID, ExpiresMs: inv.ExpiresAt.UnixMilli(), Channel: pub,
		})
	}
	return res, nil
}

// AcceptAdmin turns the requester's invitation into the admin role (or
// drops it).
func (s *Service) AcceptAdmin(ctx context.Context, who gateway.Identity, req *proto.ChannelAcceptAdmin) (*proto.Channel, error) {
	a, err := s.load(ctx, who, req.GetChannelId())
	if err != nil {
		return nil, err
	}
	if req.Decline {
		if err := s.st.DeclineAdmin(ctx, a.ch.ID, who.AccountID); err != nil {
			return nil, storeErr("decline admin", err)
		}
		s.notifyAdmins(ctx, a.ch.ID)
		return nil, nil
	}
	err = s.st.AcceptAdmin(ctx, a.ch.ID, who.AccountID, s.clock.Now(), proto.MaxChannelAdmins)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, proto.Errorf(proto.Code_NOT_FOUND, "you have no invitation to administer this channel")
	case errors.Is(err, store.ErrExpired):
		return nil, proto.Errorf(proto.Code_EXPIRED, "the invitation expired (they last %v); ask the owner for a new one", proto.AdminInviteTTL)
	case errors.Is(err, store.ErrLimit):
		return nil, proto.Errorf(proto.Code_LIMIT_REACHED, "the channel already has %d admins, the limit", proto.MaxChannelAdmins)
	case err != nil:
		return nil, storeErr("accept admin", err)
	}
	s.fan.Joined(ctx, who.AccountID, a.ch.ID)
	s.notifyAdmins(ctx, a.ch.ID)
	return s.fresh(ctx, who, a.ch.ID)
}

// verifiedKey checks a new chain entry against the chain and returns it
// serialized with the server's time.
func (s *Service) verifiedKey(ctx context.Context, id string, e *proto.ChannelKeyEntry) (*store.ChannelKey, error) {
	keys, _, err := s.keys(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := channel.VerifyNext(id, keys, e); err != nil {
		return nil, err
	}
	b, err := gproto.Marshal(&proto.ChannelKeyEntry{Index: e.Index, PublicKey: e.PublicKey, Signature: e.Signature, TimeMs: s.clock.Now().UnixMilli()})
	if err != nil {
		return nil, err
	}
	return &store.ChannelKey{Index: e.Index, Entry: b}, nil
}

// keyErr maps a store conflict on the key chain.
func keyErr(op string, err error) error {
	if errors.Is(err, store.ErrConflict) {
		return proto.Errorf(proto.Code_CONFLICT, "the key chain changed meanwhile; fetch the channel and retry")
	}
	return storeErr(op, err)
}

// RemoveAdmin takes the role from an admin: by the owner with the
// rotated key, or by the admin itself.
func (s *Service) RemoveAdmin(ctx context.Context, who gateway.Identity, req *proto.ChannelRemoveAdmin) error {
	a, err := s.load(ctx, who, req.GetChannelId())
	if err != nil {
		return err
	}
	self := req.AccountId == who.AccountID
	var key *store.ChannelKey
	switch {
	case self && a.role == proto.ChannelRole_CHANNEL_ROLE_ADMIN:
		if req.NewKey != nil {
			return proto.Errorf(proto.Code_BAD_REQUEST, "an admin leaving does not rotate the key; the owner does")
		}
	case a.role != proto.ChannelRole_CHANNEL_ROLE_OWNER:
		return proto.Errorf(proto.Code_FORBIDDEN, "only the owner removes admins (an admin may remove itself)")
	case self:
		return proto.Errorf(proto.Code_BAD_REQUEST, "the owner cannot remove itself; transfer the ownership first")
	case req.NewKey == nil:
		return proto.Errorf(proto.Code_BAD_REQUEST, "removing an admin rotates the channel key: send the next key-chain entry")
	default:
		if err := s.notInAdminGroup(ctx, a.ch, req.AccountId); err != nil {
			return err
		}
		if key, err = s.verifiedKey(ctx, a.ch.ID, req.NewKey); err != nil {
			return err
		}
	}
	err = s.st.RemoveAdmin(ctx, a.ch.ID, req.AccountId, key, s.clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return proto.Errorf(proto.Code_NOT_FOUND, "that account is not an admin of the channel")
	}
	if err != nil {
		return keyErr("remove admin", err)
	}
	s.fan.Refresh(ctx, req.AccountId, a.ch.ID)
	s.notifyAdmins(ctx, a.ch.ID)
	if key != nil {
		s.notifyHead(ctx, a.ch.ID)
	}
	return nil
}

// notInAdminGroup refuses a removal while the account still has devices
// in the CHANNEL_ADMINS conversation: the new key is sent there next, and
// must not reach them.
func (s *Service) notInAdminGroup(ctx context.Context, ch store.Channel, accountID string) error {
	if ch.AdminGroup == nil {
		return nil
	}
	g, err := s.st.Group(ctx, ch.AdminGroup)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return storeErr("admin group", err)
	}
	devs, err := s.st.Devices(ctx, accountID)
	if err != nil {
		return storeErr("devices", err)
	}
	for _, d := range devs {
		if slices.Contains(g.Devices, d.ID) {
			return proto.Errorf(proto.Code_CONFLICT, "device %s of that account is still in the admin conversation; commit its removal first so the new key cannot reach it", d.ID)
		}
	}
	return nil
}

// Transfer gives the ownership to an admin.
func (s *Service) Transfer(ctx context.Context, who gateway.Identity, req *proto.ChannelTransfer) error {
	a, err := s.loadOwner(ctx, who, req.GetChannelId())
	if err != nil {
		return err
	}
	if req.AccountId == who.AccountID {
		return proto.Errorf(proto.Code_BAD_REQUEST, "you already own the channel")
	}
	var key *store.ChannelKey
	if req.NewKey != nil {
		if key, err = s.verifiedKey(ctx, a.ch.ID, req.NewKey); err != nil {
			return err
		}
	}
	err = s.st.TransferOwnership(ctx, a.ch.ID, who.AccountID, req.AccountId, key, s.clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return proto.Errorf(proto.Code_NOT_FOUND, "the new owner must be one of the channel's admins")
	}
	if err != nil {
		return keyErr("transfer", err)
	}
	s.fan.Refresh(ctx, req.AccountId, a.ch.ID)
	s.fan.Refresh(ctx, who.AccountID, a.ch.ID)
	s.notifyAdmins(ctx, a.ch.ID)
	if key != nil {
		s.notifyHead(ctx, a.ch.ID)
	}
	return nil
}

// RotateKey appends the next key to the chain.
func (s *Service) RotateKey(ctx context.Context, who gateway.Identity, req *proto.ChannelRotateKey) error {
	a, err := s.loadOwner(ctx, who, req.GetChannelId())
	if err != nil {
		return err
	}
	if req.NewKey == nil {
		return proto.Errorf(proto.Code_BAD_REQUEST, "send the next key-chain entry")
	}
	key, err := s.verifiedKey(ctx, a.ch.ID, req.NewKey)
	if err != nil {
		return err
	}
	seq, err := s.st.AppendChannelKey(ctx, a.ch.ID, *key, s.clock.Now())
	if err != nil {
		return keyErr("rotate key", err)
	}
	s.notify(ctx, a.ch.ID, seq)
	return nil
}

// Admins lists the team, for the team only.
func (s *Service) Admins(ctx context.Context, who gateway.Identity, req *proto.ChannelAdmins) (*proto.ChannelAdminsResult, error) {
	a, err := s.loadAdmin(ctx, who, req.GetChannelId())
	if err != nil {
		return nil, err
	}
	team, err := s.st.Admins(ctx, a.ch.ID)
	if err != nil {
		return nil, storeErr("admins", err)
	}
	res := &proto.ChannelAdminsResult{AdminGroupId: a.ch.AdminGroup}
	for _, m := range team {
		acc, err := s.st.AccountByID(ctx, m.AccountID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, storeErr("account", err)
		}
		res.Members = append(res.Members, &proto.ChannelMember{AccountId: m.AccountID, Handle: acc.Handle, Role: role(m), SinceMs: ms(m.Since)})
	}
	invs, err := s.st.Invitations(ctx, a.ch.ID, s.clock.Now())
	if err != nil {
		return nil, storeErr("invitations", err)
	}
	for _, inv := range invs {
		res.Invitations = append(res.Invitations, &proto.ChannelInvitation{ChannelId: inv.ChannelID, AccountId: inv.AccountID, ExpiresMs: inv.ExpiresAt.UnixMilli()})
	}
	return res, nil
}

// pushAccount sends an event to every device of an account, wherever it
// is connected (seq 0: not stored; the invitee also finds the invitation
// with ChannelInvitations).
func (s *Service) pushAccount(ctx context.Context, accountID string, ev *proto.Event) {
	frame, err := gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Event{Event: ev}})
	if err != nil {
		s.log.Error("encode event", "err", err)
		return
	}
	devs, err := s.st.Devices(ctx, accountID)
	if err != nil {
		s.log.Warn("event not pushed: devices not read", "account", accountID, "err", err)
		return
	}
	for _, d := range devs {
		if err := s.bus.Publish(ctx, d.ID, bus.Message{Kind: bus.KindFrame, Frame: frame}); err != nil {
			s.log.Warn("event not pushed", "device", d.ID, "err", err)
		}
	}
}

// CheckAdminGroup is the delivery service's rule for CHANNEL_ADMINS
// conversations. At creation (channelID set, group nil) the sender must
// own the channel, which must have no admin conversation yet; it returns
// the accounts the conversation may hold: the channel's owner and admins
// now. For an existing group it returns the same for the group's channel.
func (s *Service) CheckAdminGroup(ctx context.Context, who gateway.Identity, channelID string, group []byte, creating bool) (string, []string, error) {
	accounts, id, err := s.checkAdminGroup(ctx, who, channelID, group, creating)
	return id, accounts, err
}

func (s *Service) checkAdminGroup(ctx context.Context, who gateway.Identity, channelID string, group []byte, creating bool) ([]string, string, error) {
	var ch store.Channel
	var err error
	if creating {
		if !channel.ValidID(channelID) {
			return nil, "", proto.Errorf(proto.Code_BAD_REQUEST, "a CHANNEL_ADMINS conversation names its channel")
		}
		ch, err = s.st.Channel(ctx, channelID)
	} else {
		ch, err = s.st.ChannelByAdminGroup(ctx, group)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", proto.Errorf(proto.Code_NOT_FOUND, "no such channel on this server")
	}
	if err != nil {
		return nil, "", storeErr("channel", err)
	}
	team, err := s.st.Admins(ctx, ch.ID)
	if err != nil {
		return nil, "", storeErr("admins", err)
	}
	accounts := make([]string, 0, len(team))
	for _, m := range team {
		accounts = append(accounts, m.AccountID)
		if creating && m.Role == store.RoleOwner && m.AccountID != who.AccountID {
			return nil, "", proto.Errorf(proto.Code_FORBIDDEN, "only the channel's owner creates its admin conversation")
		}
	}
	if creating && ch.AdminGroup != nil {
		return nil, "", proto.Errorf(proto.Code_ALREADY_EXISTS, "the channel already has an admin conversation")
	}
	slices.Sort(accounts)
	return accounts, ch.ID, nil
}

// AdminGroupCreated records the conversation once its creating commit is
// accepted.
func (s *Service) AdminGroupCreated(ctx context.Context, channelID string, group []byte) error {
	err := s.st.SetAdminGroup(ctx, channelID, group)
	if errors.Is(err, store.ErrExists) {
		return proto.Errorf(proto.Code_ALREADY_EXISTS, "the channel already has an admin conversation")
	}
	if err != nil {
		return storeErr("set admin group", err)
	}
	s.notifyAdmins(ctx, channelID)
	return nil
}
