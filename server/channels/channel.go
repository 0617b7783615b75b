package channels

import (
	"context"
	"errors"
	"io"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
)

// view is the channel as the requester may see it: the admin group only
// for the owner and admins; keys unless omitted (directory pages).
func (s *Service) view(ctx context.Context, ch store.Channel, m store.Membership, withKeys bool) (*proto.Channel, error) {
	si, _, err := info(ch)
	if err != nil {
		return nil, err
	}
	r := role(m)
	v := &proto.Channel{
		ChannelId: ch.ID, Info: si, Followers: ch.Followers, Verified: ch.Verified, Suspended: ch.Suspended,
		Role: r, Muted: m.Following && m.Muted, HeadSeq: ch.HeadSeq, CreatedMs: ms(ch.CreatedAt),
		PostsLastWeek: uint32(min(ch.PostsWeek, 1<<32-1)),
	}
	if isAdmin(r) {
		v.AdminGroupId = ch.AdminGroup
	}
	if withKeys {
		if _, v.Keys, err = s.keys(ctx, ch.ID); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// directoryFields copies what the directory searches out of verified info.
func directoryFields(ch *store.Channel, i *proto.ChannelInfo) {
	ch.Name, ch.Description, ch.Category, ch.Country, ch.Icon, ch.Listed = i.Name, i.Description, i.Category, i.Country, i.Icon, i.Listed
}

// Create registers a channel whose first key and info the device made.
func (s *Service) Create(ctx context.Context, who gateway.Identity, req *proto.ChannelCreate) (*proto.Channel, error) {
	k := req.GetKey()
	if k == nil || len(k.PublicKey) != 32 {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "a new channel needs its first key: a 32-byte Ed25519 public key at index 0")
	}
	id := channel.ID(k.PublicKey)
	keys, err := channel.VerifyChain(id, []*proto.ChannelKeyEntry{k})
	if err != nil {
		return nil, err
	}
	i, err := channel.OpenInfo(keys, id, req.GetInfo())
	if err != nil {
		return nil, err
	}
	if i.Version != 1 {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "a new channel's info is version 1")
	}
	if i.Icon != "" {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "a new channel has no icon yet: upload it after creation, then set it with ChannelUpdate")
	}
	now := s.clock.Now()
	entry, err := gproto.Marshal(&proto.ChannelKeyEntry{Index: 0, PublicKey: k.PublicKey, TimeMs: now.UnixMilli()})
	if err != nil {
		return nil, err
	}
	infoBytes, err := gproto.Marshal(req.Info)
	if err != nil {
		return nil, err
	}
	ch := store.Channel{ID: id, Info: infoBytes, InfoVersion: 1}
	directoryFields(&ch, i)
	err = s.st.CreateChannel(ctx, ch, who.AccountID, store.ChannelKey{Index: 0, Entry: entry}, now, proto.MaxChannelsPerAccount)
	switch {
	case errors.Is(err, store.ErrExists):
		return nil, proto.Errorf(proto.Code_ALREADY_EXISTS, "channel %s already exists; make a new key for a new channel", id)
	case errors.Is(err, store.ErrLimit):
		return nil, proto.Errorf(proto.Code_LIMIT_REACHED, "an account owns at most %d channels", proto.MaxChannelsPerAccount)
	case err != nil:
		return nil, storeErr("create channel", err)
	}
	s.fan.Joined(ctx, who.AccountID, id)
	return s.fresh(ctx, who, id)
}

// fresh reads the channel again and views it for the requester.
func (s *Service) fresh(ctx context.Context, who gateway.Identity, id string) (*proto.Channel, error) {
	a, err := s.load(ctx, who, id)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, a.ch, a.m, true)
}

// Get answers any account that knows the id.
func (s *Service) Get(ctx context.Context, who gateway.Identity, req *proto.ChannelGet) (*proto.Channel, error) {
	return s.fresh(ctx, who, req.GetChannelId())
}

// Update replaces the channel's info with its next signed version.
func (s *Service) Update(ctx context.Context, who gateway.Identity, req *proto.ChannelUpdate) (*proto.Channel, error) {
	a, err := s.loadAdmin(ctx, who, req.GetChannelId())
	if err != nil {
		return nil, err
	}
	if err := notSuspended(a.ch); err != nil {
		return nil, err
	}
	keys, _, err := s.keys(ctx, a.ch.ID)
	if err != nil {
		return nil, err
	}
	next, err := channel.OpenInfo(keys, a.ch.ID, req.GetInfo())
	if err != nil {
		return nil, err
	}
	if err := currentKey(keys, req.Info.KeyIndex); err != nil {
		return nil, err
	}
	_, prev, err := info(a.ch)
	if err != nil {
		return nil, err
	}
	if err := channel.CheckInfoUpdate(prev, next, a.role); err != nil {
		return nil, err
	}
	if next.Icon != "" && next.Icon != prev.Icon {
		if _, err := s.st.ChannelMedia(ctx, a.ch.ID, next.Icon); errors.Is(err, store.ErrNotFound) {
			return nil, proto.Errorf(proto.Code_NOT_FOUND, "the icon %s was not uploaded to this channel; upload it first", next.Icon)
		} else if err != nil {
			return nil, storeErr("icon", err)
		}
	}
	b, err := gproto.Marshal(req.Info)
	if err != nil {
		return nil, err
	}
	ch := a.ch
	ch.Info, ch.InfoVersion = b, next.Version
	directoryFields(&ch, next)
	seq, err := s.st.UpdateChannelInfo(ctx, ch, prev.Version)
	if err != nil {
		return nil, storeErr("update channel", err)
	}
	s.notify(ctx, a.ch.ID, seq)
	return s.fresh(ctx, who, a.ch.ID)
}

// Delete removes the channel and everything in it.
func (s *Service) Delete(ctx context.Context, who gateway.Identity, req *proto.ChannelDelete) error {
	a, err := s.loadOwner(ctx, who, req.GetChannelId())
	if err != nil {
		return err
	}
	gone, err := s.st.DeleteChannel(ctx, a.ch.ID)
	if err != nil {
		return storeErr("delete channel", err)
	}
	s.deleteMedia(ctx, gone)
	s.notifyAdmins(ctx, a.ch.ID)
	s.fan.Forget(a.ch.ID)
	return nil
}

func (s *Service) deleteMedia(ctx context.Context, hashes []string) {
	if s.media == nil {
		return
	}
	for _, h := range hashes {
		// The record is gone: a file left behind is only disk space, so
		// a failure is logged, not returned.
		if err := s.media.Delete(ctx, h); err != nil {
			s.log.Warn("media file not deleted", "hash", h, "err", err)
		}
	}
}

// Link returns (making or replacing) the channel's invite code.
func (s *Service) Link(ctx context.Context, who gateway.Identity, req *proto.ChannelLink) (*proto.ChannelLinkResult, error) {
	a, err := s.loadAdmin(ctx, who, req.GetChannelId())
	if err != nil {
		return nil, err
	}
	code := a.ch.InviteCode
	if code == "" || req.Reset_ {
		var r [10]byte
		if _, err := io.ReadFull(s.rand, r[:]); err != nil {
			return nil, err
		}
		code = channel.NewInviteCode(r)
		if err := s.st.SetInviteCode(ctx, a.ch.ID, code); err != nil {
			return nil, storeErr("set invite code", err)
		}
	}
	return &proto.ChannelLinkResult{Code: code, Link: channel.InviteLink(code)}, nil
}
