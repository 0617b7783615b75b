package channels

import (
	"context"
	"errors"

	"github.com/parleyhq/parley/server/admin"
	"github.com/parleyhq/parley/store"
)

// The operator's moderation (admin listener): Service implements
// admin.Moderation.
var _ admin.Moderation = (*Service)(nil)

// Reports lists the open reports, oldest first.
func (s *Service) Reports(ctx context.Context, limit int) ([]admin.ReportEntry, error) {
	rs, err := s.st.Reports(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]admin.ReportEntry, 0, len(rs))
	for _, r := range rs {
		out = append(out, admin.ReportEntry{ID: r.ID, ChannelID: r.ChannelID, PostID: r.PostID, Reason: r.Reason, CreatedAt: r.CreatedAt})
	}
	return out, nil
}

// ResolveReport removes a report from the queue.
func (s *Service) ResolveReport(ctx context.Context, id int64) error {
	return moderationErr(s.st.ResolveReport(ctx, id))
}

// SetSuspended suspends a channel or lifts it.
func (s *Service) SetSuspended(ctx context.Context, channelID string, on bool) error {
	if err := moderationErr(s.st.SetSuspended(ctx, channelID, on)); err != nil {
		return err
	}
	s.log.Info("channel suspension changed by the operator", "channel", channelID, "suspended", on)
	s.notifyAdmins(ctx, channelID)
	return nil
}

// SetVerified sets or removes the verified badge.
func (s *Service) SetVerified(ctx context.Context, channelID string, on bool) error {
	return moderationErr(s.st.SetVerified(ctx, channelID, on))
}

func moderationErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return admin.ErrNoSuchItem
	}
	return err
}
