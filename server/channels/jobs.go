package channels

import (
	"context"
	"errors"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/store"
)

// notify tells connected followers and the team that the channel's
// sequence reached seq (no content: they call ChannelSync).
func (s *Service) notify(ctx context.Context, channelID string, seq uint64) {
	s.publishEvent(ctx, &proto.ChannelUpdated{ChannelId: channelID, Seq: seq})
}

// notifyHead is notify with the channel's current head.
func (s *Service) notifyHead(ctx context.Context, channelID string) {
	ch, err := s.st.Channel(ctx, channelID)
	if err != nil {
		return
	}
	s.notify(ctx, channelID, ch.HeadSeq)
}

// notifyAdmins tells the team's connected devices that the admins,
// invitations or unpublished posts changed.
func (s *Service) notifyAdmins(ctx context.Context, channelID string) {
	s.publishEvent(ctx, &proto.ChannelUpdated{ChannelId: channelID, Admin: true})
}

func (s *Service) publishEvent(ctx context.Context, u *proto.ChannelUpdated) {
	frame, err := gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Event{Event: &proto.Event{Body: &proto.Event_ChannelUpdated{ChannelUpdated: u}}}})
	if err != nil {
		s.log.Error("encode channel event", "err", err)
		return
	}
	s.fan.PublishChannelEvent(context.WithoutCancel(ctx), u.ChannelId, frame)
}

// Start runs the scheduler (publishing scheduled posts when due) and the
// sweeper (expiring posts and media), both on the injected clock, until
// Stop.
func (s *Service) Start() {
	s.wg.Go(s.scheduler)
	s.wg.Go(s.sweeper)
}

// Stop ends the jobs and waits for them.
func (s *Service) Stop() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.wg.Wait()
}

func (s *Service) scheduler() {
	t := s.clock.NewTicker(s.schedule)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C():
			s.PublishDue()
		}
	}
}

// PublishDue publishes the scheduled posts whose time has come and tells
// their followers. The scheduler calls it every ScheduleInterval.
func (s *Service) PublishDue() int {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	n := 0
	for {
		ps, err := s.st.PublishDue(ctx, s.clock.Now(), proto.PostTTL, publishBatch)
		if err != nil {
			s.log.Warn("scheduled posts not published; retrying at the next tick", "err", err)
			return n
		}
		for _, p := range ps {
			s.notify(ctx, p.ChannelID, p.Seq)
			s.notifyAdmins(ctx, p.ChannelID)
		}
		n += len(ps)
		if len(ps) < publishBatch {
			return n
		}
	}
}

func (s *Service) sweeper() {
	t := s.clock.NewTicker(s.sweep)
	defer t.Stop()
	for {
		s.Sweep()
		select {
		case <-s.stop:
			return
		case <-t.C():
		}
	}
}

// Sweep expires posts and media (see store.ExpireChannelsOptions) and
// deletes the media files nothing references any more.
func (s *Service) Sweep() (store.ExpiredChannels, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	now := s.clock.Now()
	res, err := s.st.ExpireChannels(ctx, store.ExpireChannelsOptions{
		Now:               now,
		ActiveSince:       now.Add(-proto.DirectoryActiveWindow),
		UnpublishedBefore: now.Add(-proto.PostTTL),
		MediaBefore:       now.Add(-proto.UnreferencedMediaTTL),
		// An expired post's header stays one more TTL so a late edit is
		// answered EXPIRED rather than NOT_FOUND.
		ExpiredBefore:     now.Add(-proto.PostTTL),
		InvitationsBefore: now.Add(-proto.AdminInviteTTL),
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("channel sweep failed; retrying at the next tick", "err", err)
	}
	for _, h := range res.Hashes {
		// The store no longer references it; re-check right before the
		// file goes, in case it was uploaded again meanwhile.
		if again, err := s.st.MediaExists(ctx, h); err != nil || again {
			continue
		}
		s.deleteMedia(ctx, []string{h})
	}
	if res.Posts > 0 || len(res.Hashes) > 0 {
		s.log.Info("channel sweep", "expired_posts", res.Posts, "media_deleted", len(res.Hashes))
	}
	return res, err
}
