package channels

import (
	"context"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
)

// Follow makes the requester a follower, by invite code or, for a listed
// channel, by id.
func (s *Service) Follow(ctx context.Context, who gateway.Identity, req *proto.ChannelFollow) (*proto.Channel, error) {
	var ch store.Channel
	var err error
	switch {
	case req.InviteCode != "":
		code, perr := channel.ParseInviteLink(req.InviteCode)
		if perr != nil {
			return nil, perr
		}
		ch, err = s.st.ChannelByInviteCode(ctx, code)
		if errors.Is(err, store.ErrNotFound) {
			return nil, proto.Errorf(proto.Code_NOT_FOUND, "this invite link is unknown or was replaced; ask for a new one")
		}
		if err == nil && req.ChannelId != "" && req.ChannelId != ch.ID {
			return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the invite link is for another channel")
		}
	case req.ChannelId != "":
		a, lerr := s.load(ctx, who, req.ChannelId)
		if lerr != nil {
			return nil, lerr
		}
		// An unlisted channel is followed by invite link only (its team
		// excepted); NOT_FOUND, so ids cannot be probed.
		if !a.ch.Listed && !isAdmin(a.role) {
			return nil, proto.Errorf(proto.Code_NOT_FOUND, "no channel %s in the directory; follow it with its invite link", req.ChannelId)
		}
		ch = a.ch
	default:
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "give an invite link or a channel id")
	}
	if err != nil {
		return nil, storeErr("channel", err)
	}
	if ch.Suspended {
		return nil, proto.Errorf(proto.Code_SUSPENDED, "the channel is suspended by the server's operator and cannot be followed")
	}
	if _, err := s.st.Follow(ctx, ch.ID, who.AccountID, s.clock.Now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, proto.Errorf(proto.Code_NOT_FOUND, "no channel %s on this server", ch.ID)
		}
		return nil, storeErr("follow", err)
	}
	s.fan.Joined(ctx, who.AccountID, ch.ID)
	return s.fresh(ctx, who, ch.ID)
}

// Unfollow ends the follow (OK when there was none).
func (s *Service) Unfollow(ctx context.Context, who gateway.Identity, req *proto.ChannelUnfollow) error {
	a, err := s.load(ctx, who, req.GetChannelId())
	if err != nil {
		return err
	}
	if _, err := s.st.Unfollow(ctx, a.ch.ID, who.AccountID, s.clock.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		return storeErr("unfollow", err)
	}
	s.fan.Refresh(ctx, who.AccountID, a.ch.ID)
	return nil
}

// Mute sets the follower's mute flag.
func (s *Service) Mute(ctx context.Context, who gateway.Identity, req *proto.ChannelMute) error {
	a, err := s.loadFollower(ctx, who, req.GetChannelId())
	if err != nil {
		return err
	}
	if err := s.st.SetMuted(ctx, a.ch.ID, who.AccountID, req.Muted); errors.Is(err, store.ErrNotFound) {
		return proto.Errorf(proto.Code_FORBIDDEN, "follow the channel first")
	} else if err != nil {
		return storeErr("mute", err)
	}
	s.fan.Refresh(ctx, who.AccountID, a.ch.ID)
	return nil
}

// List returns the channels the requester follows or administers.
func (s *Service) List(ctx context.Context, who gateway.Identity) (*proto.ChannelListResult, error) {
	ms, err := s.st.Memberships(ctx, who.AccountID)
	if err != nil {
		return nil, storeErr("memberships", err)
	}
	res := &proto.ChannelListResult{}
	for _, m := range ms {
		ch, err := s.st.Channel(ctx, m.ChannelID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, storeErr("channel", err)
		}
		v, err := s.view(ctx, ch, m, true)
		if err != nil {
			return nil, err
		}
		res.Channels = append(res.Channels, v)
	}
	return res, nil
}

// interactionErr maps the store's answer about the post a follower acts on.
func interactionErr(op string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return proto.Errorf(proto.Code_NOT_FOUND, "no such published post in the channel")
	case errors.Is(err, store.ErrExpired):
		return proto.Errorf(proto.Code_EXPIRED, "the post expired")
	}
	return storeErr(op, err)
}

// React sets, changes or removes the follower's reaction.
func (s *Service) React(ctx context.Context, who gateway.Identity, req *proto.ChannelReact) (*proto.ChannelPost, error) {
	a, err := s.loadFollower(ctx, who, req.GetChannelId())
	if err != nil {
		return nil, err
	}
	if err := checkIDs([][]byte{req.PostId}); err != nil {
		return nil, err
	}
	_, i, err := info(a.ch)
	if err != nil {
		return nil, err
	}
	if err := channel.CheckReaction(i.Reactions, req.Emoji); err != nil {
		return nil, err
	}
	p, err := s.st.React(ctx, a.ch.ID, req.PostId, who.AccountID, req.Emoji, s.clock.Now())
	if err != nil {
		return nil, interactionErr("react", err)
	}
	return postView(p, false, "")
}

// Vote replaces the follower's vote on a poll.
func (s *Service) Vote(ctx context.Context, who gateway.Identity, req *proto.ChannelVote) (*proto.ChannelPost, error) {
	a, err := s.loadFollower(ctx, who, req.GetChannelId())
	if err != nil {
		return nil, err
	}
	if err := checkIDs([][]byte{req.PostId}); err != nil {
		return nil, err
	}
	if len(req.Options) > proto.MaxPollOptions {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "a poll has at most %d options", proto.MaxPollOptions)
	}
	cur, err := s.st.Post(ctx, a.ch.ID, req.PostId)
	if err != nil {
		return nil, interactionErr("post", err)
	}
	if cur.Deleted || cur.State != store.PostPublished {
		return nil, proto.Errorf(proto.Code_NOT_FOUND, "no such published post in the channel")
	}
	if cur.Signed == nil || !cur.ExpiresAt.After(s.clock.Now()) {
		return nil, proto.Errorf(proto.Code_EXPIRED, "the post expired")
	}
	var sp proto.SignedPost
	var p proto.Post
	if err := gproto.Unmarshal(cur.Signed, &sp); err != nil {
		return nil, err
	}
	if err := gproto.Unmarshal(sp.Post, &p); err != nil {
		return nil, err
	}
	if err := channel.CheckVote(p.Poll, req.Options); err != nil {
		return nil, err
	}
	got, err := s.st.Vote(ctx, a.ch.ID, req.PostId, who.AccountID, req.Options, s.clock.Now())
	if errors.Is(err, store.ErrConflict) {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the poll has no such option")
	}
	if err != nil {
		return nil, interactionErr("vote", err)
	}
	return postView(got, false, "")
}

// View counts the follower's views, once per post.
func (s *Service) View(ctx context.Context, who gateway.Identity, req *proto.ChannelView) error {
	a, err := s.loadFollower(ctx, who, req.GetChannelId())
	if err != nil {
		return err
	}
	if err := checkIDs(req.PostIds); err != nil {
		return err
	}
	if err := s.st.View(ctx, a.ch.ID, who.AccountID, req.PostIds, s.clock.Now()); err != nil {
		return storeErr("view", err)
	}
	return nil
}

// Stats answers the team with counts only.
func (s *Service) Stats(ctx context.Context, who gateway.Identity, req *proto.ChannelStats) (*proto.ChannelStatsResult, error) {
	a, err := s.loadAdmin(ctx, who, req.GetChannelId())
	if err != nil {
		return nil, err
	}
	days := int(req.Days)
	if days == 0 {
		days = defaultStatsDays
	}
	if days > proto.MaxStatsDays {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "stats cover at most %d days", proto.MaxStatsDays)
	}
	if err := checkIDs(req.PostIds); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	first := day(now).AddDate(0, 0, -(days - 1))
	st, err := s.st.Stats(ctx, a.ch.ID, first, req.PostIds, proto.MaxStatsPosts, now)
	if err != nil {
		return nil, storeErr("stats", err)
	}
	res := &proto.ChannelStatsResult{Followers: st.Followers}
	// Every day of the window, zeros included, so a chart needs no gaps
	// filled.
	byDay := make(map[int64]store.DayStats, len(st.Days))
	for _, d := range st.Days {
		byDay[d.Day.UnixMilli()] = d
	}
	for d := first; !d.After(day(now)); d = d.AddDate(0, 0, 1) {
		b := byDay[d.UnixMilli()]
		res.Days = append(res.Days, &proto.DayStats{DayMs: d.UnixMilli(), Follows: b.Follows, Unfollows: b.Unfollows})
	}
	for _, p := range st.Posts {
		ps := &proto.PostStats{PostId: p.ID, Views: p.Views, Reactions: p.Reacted, Votes: p.Voters, PollCounts: p.PollCounts}
		for _, r := range p.Reactions {
			ps.ReactionCounts = append(ps.ReactionCounts, &proto.ReactionCount{Emoji: r.Emoji, Count: r.Count})
		}
		if len(ps.PollCounts) == 0 {
			ps.PollCounts = nil
		}
		res.Posts = append(res.Posts, ps)
	}
	return res, nil
}

// queryWords splits a directory query into lower-case words of letters
// and digits (everything else separates words), so no search syntax of
// either database reaches it.
func queryWords(q string) []string {
	words := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) > maxDirectoryWords {
		words = words[:maxDirectoryWords]
	}
	return words
}

// Directory searches the listed channels.
func (s *Service) Directory(ctx context.Context, who gateway.Identity, req *proto.ChannelDirectory) (*proto.ChannelDirectoryResult, error) {
	if len(req.Query) > proto.MaxDirectoryQueryBytes {
		return nil, proto.Errorf(proto.Code_TOO_LARGE, "a search is at most %d bytes", proto.MaxDirectoryQueryBytes)
	}
	if !utf8.ValidString(req.Query) {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the search is not valid UTF-8")
	}
	if req.Category != "" && !channel.ValidCategory(req.Category) {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "category %q is not one of: %s", req.Category, strings.Join(channel.Categories, ", "))
	}
	if !channel.ValidCountry(req.Country) {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "country %q is not a two-letter ISO 3166 code such as FR", req.Country)
	}
	if _, ok := proto.DirectorySort_name[int32(req.Sort)]; !ok {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "unknown sort %d", req.Sort)
	}
	if req.Offset > proto.MaxDirectoryOffset {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the directory pages at most %d results deep; refine the search", proto.MaxDirectoryOffset)
	}
	limit := int(req.Limit)
	if limit <= 0 || limit > proto.MaxDirectoryResults {
		limit = proto.MaxDirectoryResults
	}
	cs, err := s.st.SearchChannels(ctx, store.DirectoryQuery{
		Words: queryWords(req.Query), Category: req.Category, Country: req.Country,
		Sort: int32(req.Sort), Limit: limit, Offset: int(req.Offset),
	})
	if err != nil {
		return nil, storeErr("directory", err)
	}
	res := &proto.ChannelDirectoryResult{}
	for _, ch := range cs {
		v, err := s.view(ctx, ch, store.Membership{}, false)
		if err != nil {
			return nil, err
		}
		res.Channels = append(res.Channels, v)
	}
	return res, nil
}

// Report queues a report for the operator.
func (s *Service) Report(ctx context.Context, who gateway.Identity, req *proto.ChannelReport) error {
	a, err := s.load(ctx, who, req.GetChannelId())
	if err != nil {
		return err
	}
	if len(req.Reason) > proto.MaxReportReasonBytes {
		return proto.Errorf(proto.Code_TOO_LARGE, "a report's reason is at most %d bytes", proto.MaxReportReasonBytes)
	}
	if !utf8.ValidString(req.Reason) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "the reason is not valid UTF-8")
	}
	if len(req.PostId) > 0 {
		if len(req.PostId) != proto.PostIDBytes {
			return proto.Errorf(proto.Code_BAD_REQUEST, "a post id is %d bytes", proto.PostIDBytes)
		}
		if _, err := s.st.Post(ctx, a.ch.ID, req.PostId); errors.Is(err, store.ErrNotFound) {
			return proto.Errorf(proto.Code_NOT_FOUND, "no such post in the channel")
		} else if err != nil {
			return storeErr("post", err)
		}
	}
	err = s.st.PutReport(ctx, store.Report{ChannelID: a.ch.ID, PostID: req.PostId, Reporter: who.AccountID, Reason: req.Reason, CreatedAt: s.clock.Now()})
	if err != nil {
		return storeErr("report", err)
	}
	return nil
}

// MediaToken issues a token for the media endpoints.
func (s *Service) MediaToken(ctx context.Context, who gateway.Identity, req *proto.MediaToken) (*proto.MediaTokenResult, error) {
	upload := ""
	if req.ChannelId != "" {
		a, err := s.loadAdmin(ctx, who, req.ChannelId)
		if err != nil {
			return nil, err
		}
		if err := notSuspended(a.ch); err != nil {
			return nil, err
		}
		upload = a.ch.ID
	}
	exp := s.clock.Now().Add(proto.MediaTokenTTL)
	return &proto.MediaTokenResult{Token: s.tok.Make(upload, exp), ExpiresMs: exp.UnixMilli()}, nil
}
