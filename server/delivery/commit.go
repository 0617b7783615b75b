package delivery

import (
	"context"
	"errors"
	"slices"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
)

// Commit is the MLS delivery service: it accepts exactly one commit per
// epoch (the first to arrive), applies its membership changes and
// delivers it, in one transaction, to the remaining members (COMMIT) and
// the added devices (WELCOME). A late commit gets CONFLICT with the
// winner. A commit sent again with its message id after it was accepted
// (its answer was lost) gets DUPLICATE with the CommitResult, so its
// sender knows to merge it. The returned Response has no Id (the gateway
// sets it).
func (s *Service) Commit(ctx context.Context, who gateway.Identity, c *proto.Commit) *proto.Response {
	rec, err := s.prepareCommit(ctx, who, c)
	if err != nil {
		return s.errorResponse(err)
	}
	g, err := s.st.ApplyCommit(ctx, *rec)
	var conflict *store.EpochConflict
	var repeated *store.CommitRepeated
	switch {
	case errors.As(err, &conflict):
		return conflictResponse(conflict.Current, conflict.Winning,
			"another commit won this epoch; process the winning commit and retry in the new epoch")
	case errors.As(err, &repeated):
		// The answer to the first attempt was lost: tell the sender its
		// commit won, so it merges it instead of discarding it.
		return &proto.Response{
			Code:    proto.Code_DUPLICATE,
			Message: "this commit was already accepted; merge it",
			Body:    &proto.Response_Commit{Commit: &proto.CommitResult{Epoch: repeated.Epoch}},
		}
	case errors.Is(err, store.ErrDuplicate):
		return s.errorResponse(proto.Errorf(proto.Code_DUPLICATE,
			"this message id was already used, and not by this commit or by one the server still keeps; "+
				"do not merge it: process the commits in your mailbox, or rejoin from the group info"))
	case errors.Is(err, store.ErrNotFound):
		return s.errorResponse(proto.Errorf(proto.Code_NOT_FOUND, "no conversation with this group id on this server"))
	case err != nil:
		return s.errorResponse(storeErr("commit", err))
	}
	if c.Epoch == 0 && c.Kind == proto.ConversationKind_CHANNEL_ADMINS && s.channels != nil {
		// The group exists now; link it to its channel. A failure (a
		// concurrent creation won) leaves an orphan conversation the
		// channel does not know, which its owner's client replaces.
		if err := s.channels.AdminGroupCreated(ctx, c.ChannelId, c.GroupId); err != nil {
			s.log.Warn("admin conversation not linked to its channel", "channel", c.ChannelId, "err", err)
		}
	}
	s.m.MessagesIn.WithLabelValues("commit").Inc()
	s.m.MailboxWritten.Add(float64(len(rec.Mail)))
	s.notify(rec.Mail)
	return &proto.Response{Body: &proto.Response_Commit{Commit: &proto.CommitResult{
		Epoch: g.Epoch, ServerTimeMs: rec.At.UnixMilli(),
	}}}
}

// prepareCommit checks a commit against the group and builds the record.
func (s *Service) prepareCommit(ctx context.Context, who gateway.Identity, c *proto.Commit) (*store.CommitRecord, error) {
	if err := checkMessageID(c.MessageId); err != nil {
		return nil, err
	}
	if err := checkGroupID(c.GroupId); err != nil {
		return nil, err
	}
	if len(c.Commit) == 0 {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "commit is empty")
	}
	if err := checkCommitSize(c); err != nil {
		return nil, err
	}
	if (len(c.Welcome) > 0) != (len(c.AddDevices) > 0) {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "a commit carries a welcome exactly when it adds devices")
	}
	if err := checkCommitContent(who, c); err != nil {
		return nil, err
	}

	// The group as it is now, or as it will be created.
	var members []string
	var kind int32
	var accounts []string
	var channelID string // CHANNEL_ADMINS: the channel
	// Read past any cache: commits are rare, and one checked against a
	// stale state would be refused or fanned out to the wrong devices.
	g, err := s.freshGroup(ctx, c.GroupId)
	switch {
	case err == nil:
		if !slices.Contains(g.Devices, who.DeviceID) {
			return nil, proto.Errorf(proto.Code_FORBIDDEN, "this device is not a member of the conversation")
		}
		members, kind, accounts = g.Devices, g.Kind, g.Accounts
		if kind == int32(proto.ConversationKind_CHANNEL_ADMINS) {
			// Its accounts follow the channel's team, not the creation's.
			if s.channels == nil {
				return nil, proto.Errorf(proto.Code_BAD_REQUEST, "this server does not serve channel admin conversations")
			}
			if channelID, accounts, err = s.channels.CheckAdminGroup(ctx, who, "", c.GroupId, false); err != nil {
				return nil, err
			}
		}
	case errors.Is(err, store.ErrNotFound):
		if c.Epoch != 0 {
			return nil, proto.Errorf(proto.Code_NOT_FOUND, "no conversation with this group id on this server")
		}
		if accounts, err = s.checkCreation(ctx, who, c); err != nil {
			return nil, err
		}
		if c.Kind == proto.ConversationKind_CHANNEL_ADMINS {
			channelID = c.ChannelId
		}
		members, kind = []string{who.DeviceID}, int32(c.Kind)
	default:
		return nil, storeErr("commit: group", err)
	}

	// A commit for another epoch is refused by the store with the winner
	// (CONFLICT); membership is checked only against the epoch it is for.
	if c.Epoch == g.Epoch || g.ID == nil {
		if err := s.checkMembership(ctx, who, c, members, accounts); err != nil {
			return nil, err
		}
	}
	if err := s.blockedBy(ctx, who, kind, accounts); err != nil {
		return nil, err
	}

	now := s.clock.Now()
	rec := &store.CommitRecord{
		GroupID: c.GroupId, Epoch: c.Epoch, SenderDevice: who.DeviceID, MessageID: c.MessageId,
		Commit: c.Commit, GroupInfo: nilIfEmpty(c.GroupInfo),
		AddDevices: c.AddDevices, RemoveDevices: c.RemoveDevices,
		Kind: kind, Accounts: accounts, At: now,
	}
	expires := now.Add(proto.MailboxTTL)
	envelope := func(ek proto.EnvelopeKind, payload []byte, epoch uint64) ([]byte, error) {
		return s.envelope(who, &proto.Envelope{
			MessageId: c.MessageId, GroupId: c.GroupId, Kind: ek, Payload: payload,
			ServerTimeMs: now.UnixMilli(), Epoch: epoch,
			ConversationKind: proto.ConversationKind(kind), Accounts: accounts, ChannelId: channelID,
		})
	}
	cb, err := envelope(proto.EnvelopeKind_COMMIT, c.Commit, c.Epoch)
	if err != nil {
		return nil, err
	}
	for _, d := range members {
		if d != who.DeviceID && !slices.Contains(c.RemoveDevices, d) {
			rec.Mail = append(rec.Mail, store.Mail{DeviceID: d, Envelope: cb, Expires: expires})
		}
	}
	if len(c.AddDevices) > 0 {
		// The welcome's epoch is the one the added devices join in.
		wb, err := envelope(proto.EnvelopeKind_WELCOME, c.Welcome, c.Epoch+1)
		if err != nil {
			return nil, err
		}
		for _, d := range c.AddDevices {
			rec.Mail = append(rec.Mail, store.Mail{DeviceID: d, Envelope: wb, Expires: expires})
		}
	}
	return rec, nil
}

// checkCreation validates a new conversation's kind and accounts and
// returns the accounts sorted.
func (s *Service) checkCreation(ctx context.Context, who gateway.Identity, c *proto.Commit) ([]string, error) {
	if c.Kind == proto.ConversationKind_CHANNEL_ADMINS && s.channels != nil {
		_, team, err := s.channels.CheckAdminGroup(ctx, who, c.ChannelId, nil, true)
		if err != nil {
			return nil, err
		}
		accounts := slices.Clone(c.Accounts)
		slices.Sort(accounts)
		if !slices.Equal(accounts, []string{who.AccountID}) {
			return nil, proto.Errorf(proto.Code_BAD_REQUEST, "a CHANNEL_ADMINS conversation starts with the owner's account alone; add the admins' devices by commit")
		}
		return team, nil
	}
	if c.Kind != proto.ConversationKind_DIRECT {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "a new conversation must have kind DIRECT")
	}
	accounts := slices.Clone(c.Accounts)
	slices.Sort(accounts)
	if len(accounts) != 2 || accounts[0] == accounts[1] || !slices.Contains(accounts, who.AccountID) {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "a DIRECT conversation has exactly two accounts, one of them yours")
	}
	for _, a := range accounts {
		if _, err := s.st.AccountByID(ctx, a); errors.Is(err, store.ErrNotFound) {
			return nil, proto.Errorf(proto.Code_NOT_FOUND, "no account with id %q on this server", a)
		} else if err != nil {
			return nil, storeErr("commit: account", err)
		}
	}
	return accounts, nil
}

// checkMembership validates the devices a commit adds and removes.
func (s *Service) checkMembership(ctx context.Context, who gateway.Identity, c *proto.Commit, members, accounts []string) error {
	seen := make(map[string]bool, len(c.AddDevices)+len(c.RemoveDevices))
	for _, d := range c.AddDevices {
		if seen[d] {
			return proto.Errorf(proto.Code_BAD_REQUEST, "device %q is listed twice", d)
		}
		seen[d] = true
		if slices.Contains(members, d) {
			return proto.Errorf(proto.Code_BAD_REQUEST, "device %q is already a member", d)
		}
		dev, err := s.st.Device(ctx, d)
		if errors.Is(err, store.ErrNotFound) || err == nil && (dev.Revoked() || !slices.Contains(accounts, dev.AccountID)) {
			return proto.Errorf(proto.Code_BAD_REQUEST, "device %q is not an active device of the conversation's accounts", d)
		}
		if err != nil {
			return storeErr("commit: device", err)
		}
	}
	for _, d := range c.RemoveDevices {
		if seen[d] {
			return proto.Errorf(proto.Code_BAD_REQUEST, "device %q is listed twice", d)
		}
		seen[d] = true
		if d == who.DeviceID {
			return proto.Errorf(proto.Code_BAD_REQUEST, "a device cannot remove itself by commit")
		}
		if !slices.Contains(members, d) {
			return proto.Errorf(proto.Code_BAD_REQUEST, "device %q is not a member", d)
		}
	}
	return nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
