package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

// Following: a follower's device keeps, per channel, the verified key
// chain and a sync cursor. ChannelSync returns the changes after the
// cursor; every post is verified against the chain before it is stored,
// and the cursor is stored in the same transaction as the posts, so an
// offline follower gets every unexpired post exactly once (and each later
// edit or deletion once), whatever crashes in between.

// Follow follows a channel by invite link (or bare code) or, for a listed
// channel, by id, and fetches its posts.
func (c *Client) Follow(ctx context.Context, linkOrID string) (Channel, error) {
	req := &proto.ChannelFollow{}
	if channel.ValidID(linkOrID) {
		req.ChannelId = linkOrID
	} else {
		code, err := channel.ParseInviteLink(linkOrID)
		if err != nil {
			return Channel{}, err
		}
		req.InviteCode = code
	}
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelFollow{ChannelFollow: req}})
	if err != nil {
		return Channel{}, err
	}
	ch, err := c.keepChannel(ctx, resp.GetChannel())
	if err != nil {
		return Channel{}, err
	}
	if _, err := c.SyncChannel(ctx, ch.ID); err != nil {
		c.log.Warn("following: first sync failed; it is retried on the next update", "channel", ch.ID, "err", err)
	}
	return ch, nil
}

// Unfollow stops following a channel and forgets its posts.
func (c *Client) Unfollow(ctx context.Context, id string) error {
	if _, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelUnfollow{ChannelUnfollow: &proto.ChannelUnfollow{ChannelId: id}}}); err != nil {
		return err
	}
	rec, err := c.prof.Channel(ctx, id)
	if errors.Is(err, profile.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if isTeam(rec.Role) {
		return nil // the team keeps its record
	}
	return c.prof.Update(ctx, func(tx *profile.Tx) error { return tx.DeleteChannel(id) })
}

// MuteChannel mutes (or unmutes) a followed channel: the server stops
// telling this account about new posts; sync still works on request.
func (c *Client) MuteChannel(ctx context.Context, id string, muted bool) error {
	if _, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelMute{ChannelMute: &proto.ChannelMute{ChannelId: id, Muted: muted}}}); err != nil {
		return err
	}
	return c.prof.Update(ctx, func(tx *profile.Tx) error {
		rec, err := tx.Channel(id)
		if errors.Is(err, profile.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		rec.Muted = muted
		return tx.SaveChannel(rec)
	})
}

// maxSyncRounds bounds one SyncChannel call (each round is at most
// proto.MaxChannelSyncBatch posts); the rest comes with the next sync.
const maxSyncRounds = 100

// SyncChannel fetches the channel's changes after this device's cursor,
// verifies them against the channel's key chain, stores them and the new
// cursor together, and emits a ChannelPostEvent for each new, edited or
// deleted post. A post that fails verification is never stored or shown
// (a ChannelWarningEvent says so). It returns how many posts changed.
func (c *Client) SyncChannel(ctx context.Context, id string) (int, error) {
	c.channelSyncMu.Lock()
	defer c.channelSyncMu.Unlock()
	now := c.clk.Now()
	if err := c.prof.ExpireChannelPosts(ctx, now); err != nil {
		return 0, err
	}
	ch, rec, err := c.storedChannel(ctx, id)
	if errors.Is(err, profile.ErrNotFound) {
		return 0, proto.Errorf(proto.Code_NOT_FOUND, "this device neither follows nor administers channel %s; follow it first", id)
	}
	if err != nil {
		return 0, err
	}
	cursor, changed := rec.Cursor, 0
	for round := 0; round < maxSyncRounds; round++ {
		resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelSync{ChannelSync: &proto.ChannelSync{ChannelId: id, After: cursor}}})
		var pe *proto.Error
		if errors.As(err, &pe) && pe.Code == proto.Code_NOT_FOUND {
			// The channel was deleted: so are its posts here.
			if ferr := c.forgetChannel(ctx, id); ferr != nil {
				return changed, ferr
			}
			c.emitCtx(ctx, ChannelWarningEvent{ChannelID: id, Err: fmt.Errorf("channel %s no longer exists: %w", id, err)})
			return changed, err
		}
		if err != nil {
			return changed, err
		}
		r := resp.GetChannelSync()
		if r.GetChannel() != nil {
			if ch, err = c.acceptChannel(ctx, r.Channel); err != nil {
				c.emitCtx(ctx, ChannelWarningEvent{ChannelID: id, Err: err})
				return changed, err
			}
		}
		var events []Event
		err = c.prof.Update(ctx, func(tx *profile.Tx) error {
			events = events[:0]
			if r.GetChannel() != nil {
				if err := c.saveChannel(tx, ch, now); err != nil {
					return err
				}
			}
			for _, cp := range r.Posts {
				p, err := openPost(ch.keys, id, cp)
				if err != nil {
					events = append(events, ChannelWarningEvent{ChannelID: id, PostID: cp.PostId,
						Err: fmt.Errorf("a post of channel %s failed verification and is not shown: %w", id, err)})
					continue
				}
				if !p.Deleted && !p.Expires.After(now) {
					continue
				}
				var signed []byte
				if !p.Deleted {
					if signed, err = gproto.Marshal(cp.Signed); err != nil {
						return err
					}
				}
				what, err := tx.PutChannelPost(profile.ChannelPost{ChannelID: id, PostID: cp.PostId, Seq: cp.Seq,
					Version: p.Version, Signed: signed, Published: p.Published, Expires: p.Expires,
					Edited: p.Edited, Deleted: p.Deleted, Received: now})
				if err != nil {
					return err
				}
				if what != profile.PostUnchanged {
					events = append(events, ChannelPostEvent{Post: p, New: what == profile.PostNew})
				}
			}
			return tx.SetChannelCursor(id, r.Cursor)
		})
		if err != nil {
			return changed, err
		}
		for _, ev := range events {
			if _, ok := ev.(ChannelPostEvent); ok {
				changed++
			}
			c.emitCtx(ctx, ev)
		}
		c.log.Debug("channel synced", "channel", id, "after", cursor, "cursor", r.Cursor, "posts", len(r.Posts), "more", r.More)
		if !r.More || r.Cursor <= cursor {
			break
		}
		cursor = r.Cursor
	}
	return changed, nil
}

// SyncChannels syncs every channel this device follows or administers.
func (c *Client) SyncChannels(ctx context.Context) error {
	recs, err := c.prof.Channels(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range recs {
		if _, err := c.SyncChannel(ctx, r.ChannelID); err != nil {
			errs = append(errs, fmt.Errorf("channel %s: %w", r.ChannelID, err))
		}
	}
	return errors.Join(errs...)
}

// ChannelPosts returns the last n live posts of a channel held on this
// device, oldest first, each verified again.
func (c *Client) ChannelPosts(ctx context.Context, id string, n int) ([]Post, error) {
	ch, _, err := c.storedChannel(ctx, id)
	if err != nil {
		return nil, err
	}
	recs, err := c.prof.ChannelPosts(ctx, id, c.clk.Now(), n)
	if err != nil {
		return nil, err
	}
	return postsFromRecords(ch.keys, recs), nil
}

func postsFromRecords(keys channel.Keys, recs []profile.ChannelPost) []Post {
	var out []Post
	for _, r := range recs {
		if p, err := postFromRecord(keys, r); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// UnshownChannelPosts returns live posts of every channel not yet handed
// to the user, oldest first.
func (c *Client) UnshownChannelPosts(ctx context.Context) ([]Post, error) {
	recs, err := c.prof.UnshownChannelPosts(ctx, c.clk.Now(), 1000)
	if err != nil {
		return nil, err
	}
	keys := map[string]channel.Keys{}
	var out []Post
	for _, r := range recs {
		k, ok := keys[r.ChannelID]
		if !ok {
			ch, _, err := c.storedChannel(ctx, r.ChannelID)
			if err != nil {
				continue
			}
			k, keys[r.ChannelID] = ch.keys, ch.keys
		}
		if p, err := postFromRecord(k, r); err == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// MarkPostsShown records that the user saw these posts and counts one
// view of each (the server counts a follower's view once).
func (c *Client) MarkPostsShown(ctx context.Context, posts ...Post) error {
	byChannel := map[string][][]byte{}
	for _, p := range posts {
		byChannel[p.ChannelID] = append(byChannel[p.ChannelID], p.ID)
	}
	var errs []error
	for id, ids := range byChannel {
		if err := c.prof.MarkChannelPostsShown(ctx, id, ids...); err != nil {
			return err
		}
		for len(ids) > 0 {
			n := min(len(ids), proto.MaxChannelPostIDs)
			if _, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelView{ChannelView: &proto.ChannelView{ChannelId: id, PostIds: ids[:n]}}}); err != nil {
				errs = append(errs, err)
			}
			ids = ids[n:]
		}
	}
	return errors.Join(errs...)
}

// GetPosts fetches published posts with their current counts, verified.
func (c *Client) GetPosts(ctx context.Context, id string, postIDs ...[]byte) ([]Post, error) {
	ch, err := c.channelKeys(ctx, id)
	if err != nil {
		return nil, err
	}
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelGetPosts{ChannelGetPosts: &proto.ChannelGetPosts{ChannelId: id, PostIds: postIDs}}})
	if err != nil {
		return nil, err
	}
	return c.openPosts(ctx, ch, resp.GetChannelPosts().GetPosts())
}

// channelKeys returns the channel with a verified key chain: the stored
// one when it holds every key the posts may name, else fetched.
func (c *Client) channelKeys(ctx context.Context, id string) (Channel, error) {
	ch, _, err := c.storedChannel(ctx, id)
	if err == nil {
		return ch, nil
	}
	if !errors.Is(err, profile.ErrNotFound) {
		return Channel{}, err
	}
	return c.GetChannel(ctx, id)
}

// openPosts verifies posts; a post naming a key the chain does not have
// yet makes it fetch the channel once.
func (c *Client) openPosts(ctx context.Context, ch Channel, cps []*proto.ChannelPost) ([]Post, error) {
	var out []Post
	refreshed := false
	for _, cp := range cps {
		p, err := openPost(ch.keys, ch.ID, cp)
		if err != nil && !refreshed && int(cp.GetSigned().GetKeyIndex()) >= len(ch.keys) {
			refreshed = true
			if ch, err = c.fetchChannel(ctx, ch.ID); err != nil {
				return nil, err
			}
			p, err = openPost(ch.keys, ch.ID, cp)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (c *Client) onePost(ctx context.Context, id string, cp *proto.ChannelPost) (Post, error) {
	if cp == nil {
		return Post{}, errors.New("the server answered without the post")
	}
	ch, err := c.channelKeys(ctx, id)
	if err != nil {
		return Post{}, err
	}
	ps, err := c.openPosts(ctx, ch, []*proto.ChannelPost{cp})
	if err != nil {
		return Post{}, err
	}
	return ps[0], nil
}

// React sets this account's reaction to a post (one per post; empty
// removes it). Only the channel's allowed reactions are accepted.
func (c *Client) React(ctx context.Context, id string, postID []byte, emoji string) (Post, error) {
	if ch, _, err := c.storedChannel(ctx, id); err == nil {
		if err := channel.CheckReaction(ch.Reactions, emoji); err != nil {
			return Post{}, err
		}
	}
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelReact{ChannelReact: &proto.ChannelReact{
		ChannelId: id, PostId: postID, Emoji: emoji}}})
	if err != nil {
		return Post{}, err
	}
	return c.onePost(ctx, id, resp.GetChannelPost())
}

// Vote replaces this account's vote in a post's poll (options numbered
// from 0; none withdraws it). Votes are anonymous: only counts are shown.
func (c *Client) Vote(ctx context.Context, id string, postID []byte, options ...uint32) (Post, error) {
	if rec, err := c.prof.ChannelPostByID(ctx, id, postID); err == nil && !rec.Deleted {
		if ch, _, err := c.storedChannel(ctx, id); err == nil {
			if p, err := postFromRecord(ch.keys, rec); err == nil && p.Poll != nil {
				if err := channel.CheckVote(p.Poll, options); err != nil {
					return Post{}, err
				}
			}
		}
	}
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelVote{ChannelVote: &proto.ChannelVote{
		ChannelId: id, PostId: postID, Options: options}}})
	if err != nil {
		return Post{}, err
	}
	return c.onePost(ctx, id, resp.GetChannelPost())
}

// ChannelStats are an admin's counts for a channel: never who.
type ChannelStats struct {
	Followers uint64
	Days      []DayStats
	Posts     []PostStats
}

// DayStats is one UTC day of follower growth.
type DayStats struct {
	Day       time.Time
	Follows   uint64
	Unfollows uint64
}

// PostStats are one post's counts.
type PostStats struct {
	PostID         []byte
	Views          uint64
	Reactions      uint64
	Votes          uint64 // voters
	ReactionCounts []*proto.ReactionCount
	PollCounts     []uint64
}

// Stats returns the channel's counts (owner and admins): followers,
// follower growth over the last days (0: the server's default), and per
// post views, reactions and votes (no ids: the latest posts).
func (c *Client) Stats(ctx context.Context, id string, days int, postIDs ...[]byte) (ChannelStats, error) {
	if days < 0 || days > proto.MaxStatsDays {
		return ChannelStats{}, proto.Errorf(proto.Code_BAD_REQUEST, "stats cover 1 to %d days", proto.MaxStatsDays)
	}
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelStats{ChannelStats: &proto.ChannelStats{
		ChannelId: id, Days: uint32(days), PostIds: postIDs}}})
	if err != nil {
		return ChannelStats{}, err
	}
	r := resp.GetChannelStats()
	st := ChannelStats{Followers: r.GetFollowers()}
	for _, d := range r.GetDays() {
		st.Days = append(st.Days, DayStats{Day: time.UnixMilli(d.DayMs).UTC(), Follows: d.Follows, Unfollows: d.Unfollows})
	}
	for _, p := range r.GetPosts() {
		st.Posts = append(st.Posts, PostStats{PostID: p.PostId, Views: p.Views, Reactions: p.Reactions, Votes: p.Votes,
			ReactionCounts: p.ReactionCounts, PollCounts: p.PollCounts})
	}
	return st, nil
}

// DirectoryQuery searches the server's directory of listed channels.
type DirectoryQuery struct {
	Text     string // words matched against name and description
	Category string
	Country  string
	Sort     proto.DirectorySort
	Limit    int
	Offset   int
}

// Directory searches listed channels. Results are not verified yet (the
// directory carries no key chains): Follow or GetChannel verifies one.
func (c *Client) Directory(ctx context.Context, q DirectoryQuery) ([]Channel, error) {
	if q.Limit < 0 || q.Offset < 0 || q.Offset > proto.MaxDirectoryOffset {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "limit must be positive and offset at most %d", proto.MaxDirectoryOffset)
	}
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelDirectory{ChannelDirectory: &proto.ChannelDirectory{
		Query: q.Text, Category: q.Category, Country: q.Country, Sort: q.Sort, Limit: uint32(q.Limit), Offset: uint32(q.Offset)}}})
	if err != nil {
		return nil, err
	}
	var out []Channel
	for _, pc := range resp.GetChannelDirectory().GetChannels() {
		ch, err := directoryChannel(pc)
		if err != nil {
			c.log.Warn("skipping a directory entry", "err", err)
			continue
		}
		out = append(out, ch)
	}
	return out, nil
}

// ParseDirectorySort reads "newest", "followers" or "active".
func ParseDirectorySort(s string) (proto.DirectorySort, error) {
	switch s {
	case "", "newest":
		return proto.DirectorySort_DIRECTORY_SORT_NEWEST, nil
	case "followers", "most-followed":
		return proto.DirectorySort_DIRECTORY_SORT_FOLLOWERS, nil
	case "active", "most-active":
		return proto.DirectorySort_DIRECTORY_SORT_ACTIVE, nil
	}
	return 0, fmt.Errorf("sort %q: want newest, followers or active", s)
}

// Report sends a report about a channel (postID nil) or one of its posts
// to the server's operator. The channel's admins never learn who reported.
func (c *Client) Report(ctx context.Context, id string, postID []byte, reason string) error {
	if len(reason) > proto.MaxReportReasonBytes {
		return proto.Errorf(proto.Code_TOO_LARGE, "a report's reason is at most %d bytes", proto.MaxReportReasonBytes)
	}
	_, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelReport{ChannelReport: &proto.ChannelReport{
		ChannelId: id, PostId: postID, Reason: reason}}})
	return err
}

// channelUpdated handles the server's ChannelUpdated event: the channel
// worker syncs it (and, for the team, checks the admin conversation).
func (c *Client) channelUpdated(u *proto.ChannelUpdated) {
	c.log.Debug("channel updated", "channel", u.ChannelId, "seq", u.Seq, "admin", u.Admin)
	if u.Admin {
		c.channelWork.add(u.ChannelId, true)
		c.tryEmit(ChannelTeamEvent{ChannelID: u.ChannelId})
	}
	if u.Seq > 0 {
		c.channelWork.add(u.ChannelId, false)
	}
}

// isTeam reports whether a channel role is the owner's or an admin's.
func isTeam(role int32) bool {
	return slices.Contains([]proto.ChannelRole{proto.ChannelRole_CHANNEL_ROLE_ADMIN, proto.ChannelRole_CHANNEL_ROLE_OWNER}, proto.ChannelRole(role))
}
