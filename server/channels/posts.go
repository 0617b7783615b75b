package channels

import (
	"bytes"
	"context"
	"errors"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
)

// postView is a stored post as a reader sees it. mine (whether the
// requester wrote the latest version) is set for admins only; followers
// learn nothing of the writer.
func postView(p store.Post, admin bool, requester string) (*proto.ChannelPost, error) {
	v := &proto.ChannelPost{
		PostId: p.ID, Seq: p.Seq, PublishedMs: ms(p.PublishedAt), ExpiresMs: ms(p.ExpiresAt),
		Edited: p.Edited, Deleted: p.Deleted, State: proto.ChannelPostState(p.State),
		PollCounts: p.PollCounts, MyReaction: p.MyReaction, MyVotes: p.MyVotes,
	}
	if len(v.PollCounts) == 0 {
		v.PollCounts = nil
	}
	if !p.Deleted && p.Signed != nil {
		v.Signed = &proto.SignedPost{}
		if err := gproto.Unmarshal(p.Signed, v.Signed); err != nil {
			return nil, err
		}
	}
	for _, r := range p.Reactions {
		v.Reactions = append(v.Reactions, &proto.ReactionCount{Emoji: r.Emoji, Count: r.Count})
	}
	if admin {
		v.Mine = p.Author == requester
	}
	return v, nil
}

// openPost verifies a signed post against the channel's current key and
// returns it with its serialized form.
func (s *Service) openPost(ctx context.Context, id string, sp *proto.SignedPost) (*proto.Post, []byte, error) {
	keys, _, err := s.keys(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	p, err := channel.OpenPost(keys, id, sp)
	if err != nil {
		return nil, nil, err
	}
	if err := currentKey(keys, sp.KeyIndex); err != nil {
		return nil, nil, err
	}
	b, err := gproto.Marshal(sp)
	return p, b, err
}

// mediaOf checks every file a post refers to was uploaded to the channel
// as described, and returns the hashes the post keeps referenced
// (thumbnails included).
func (s *Service) mediaOf(ctx context.Context, id string, p *proto.Post) ([]string, error) {
	var hashes []string
	check := func(h, mime string, size uint64) error {
		m, err := s.st.ChannelMedia(ctx, id, h)
		if errors.Is(err, store.ErrNotFound) {
			return proto.Errorf(proto.Code_NOT_FOUND, "media %s was not uploaded to this channel (or expired); upload it first", h)
		}
		if err != nil {
			return storeErr("media", err)
		}
		if mime != "" && (m.Mime != mime || uint64(m.Size) != size) {
			return proto.Errorf(proto.Code_BAD_REQUEST, "media %s is %s of %d bytes, not %s of %d; use what the upload answered", h, m.Mime, m.Size, mime, size)
		}
		hashes = append(hashes, h)
		if m.Thumbnail != "" {
			hashes = append(hashes, m.Thumbnail)
		}
		return nil
	}
	for _, m := range p.Media {
		if err := check(m.Hash, m.Mime, m.Size); err != nil {
			return nil, err
		}
	}
	if p.Sticker != nil {
		if err := check(p.Sticker.Hash, "", 0); err != nil {
			return nil, err
		}
	}
	return hashes, nil
}

// checkSchedule refuses a publication time in the past or too far ahead.
func checkSchedule(p *proto.Post, now time.Time) error {
	if p.PublishAtMs == 0 {
		return nil
	}
	at := time.UnixMilli(p.PublishAtMs)
	if !at.After(now) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "the publication time %s is in the past (server time %s); choose a later one or publish now",
			at.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if at.After(now.Add(proto.MaxScheduleAhead)) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "a post can be scheduled at most %v ahead", proto.MaxScheduleAhead)
	}
	return nil
}

// stateFor is where a post that is not a draft goes: review first when
// the channel requires it of admins, then its schedule, else published.
func stateFor(r proto.ChannelRole, review bool, publishAt, now time.Time) int32 {
	switch {
	case review && r != proto.ChannelRole_CHANNEL_ROLE_OWNER:
		return store.PostPending
	case publishAt.After(now):
		return store.PostScheduled
	}
	return store.PostPublished
}

func publishAt(p *proto.Post) time.Time {
	if p.PublishAtMs == 0 {
		return time.Time{}
	}
	return time.UnixMilli(p.PublishAtMs).UTC()
}

// Publish stores a new post: published now, scheduled, waiting for
// review, or a draft.
func (s *Service) Publish(ctx context.Context, who gateway.Identity, req *proto.ChannelPublish) (*proto.ChannelPost, error) {
	a, err := s.loadAdmin(ctx, who, req.GetChannelId())
	if err != nil {
		return nil, err
	}
	if err := notSuspended(a.ch); err != nil {
		return nil, err
	}
	p, signed, err := s.openPost(ctx, a.ch.ID, req.Post)
	if err != nil {
		return nil, err
	}
	if p.Version != 1 {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "a new post is version 1; use ChannelEditPost for later versions")
	}
	now := s.clock.Now()
	if err := checkSchedule(p, now); err != nil {
		return nil, err
	}
	hashes, err := s.mediaOf(ctx, a.ch.ID, p)
	if err != nil {
		return nil, err
	}
	_, i, err := info(a.ch)
	if err != nil {
		return nil, err
	}
	state := store.PostDraft
	if !req.Draft {
		state = stateFor(a.role, i.ReviewRequired, publishAt(p), now)
	}
	rec := store.Post{
		ChannelID: a.ch.ID, ID: p.PostId, Version: 1, Signed: signed, State: state, Author: who.AccountID,
		PublishAt: publishAt(p), UpdatedAt: now, Media: hashes, PollOptions: len(p.GetPoll().GetOptions()),
	}
	if state == store.PostPublished {
		rec.PublishedAt, rec.ExpiresAt = now, now.Add(proto.PostTTL)
	}
	stored, err := s.st.PutPost(ctx, rec, proto.MaxChannelDrafts)
	switch {
	case errors.Is(err, store.ErrExists):
		if old, err := s.st.Post(ctx, a.ch.ID, p.PostId); err == nil && bytes.Equal(old.Signed, signed) {
			return nil, proto.Errorf(proto.Code_DUPLICATE, "this post was already accepted; nothing to do")
		}
		return nil, proto.Errorf(proto.Code_ALREADY_EXISTS, "the channel already has a post with this id; choose a new random id")
	case errors.Is(err, store.ErrLimit):
		return nil, proto.Errorf(proto.Code_LIMIT_REACHED, "the channel has %d unpublished posts, the limit; publish or delete some", proto.MaxChannelDrafts)
	case err != nil:
		return nil, storeErr("put post", err)
	}
	s.posted(ctx, stored)
	return postView(stored, true, who.AccountID)
}

// posted tells followers about a published change, the team about an
// unpublished one.
func (s *Service) posted(ctx context.Context, p store.Post) {
	if p.State == store.PostPublished {
		s.notify(ctx, p.ChannelID, p.Seq)
		return
	}
	s.notifyAdmins(ctx, p.ChannelID)
}

// livePost reads a post an admin changes: NOT_FOUND when gone, EXPIRED
// when past its expiry.
func (s *Service) livePost(ctx context.Context, ch string, id []byte) (store.Post, error) {
	if len(id) != proto.PostIDBytes {
		return store.Post{}, proto.Errorf(proto.Code_BAD_REQUEST, "a post id is %d bytes", proto.PostIDBytes)
	}
	p, err := s.st.Post(ctx, ch, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Post{}, proto.Errorf(proto.Code_NOT_FOUND, "no such post in the channel")
	}
	if err != nil {
		return store.Post{}, storeErr("post", err)
	}
	if p.Deleted {
		return store.Post{}, proto.Errorf(proto.Code_NOT_FOUND, "the post was deleted")
	}
	if p.State == store.PostPublished && !p.ExpiresAt.After(s.clock.Now()) {
		return store.Post{}, proto.Errorf(proto.Code_EXPIRED, "the post expired %v after publication and can no longer change", proto.PostTTL)
	}
	return p, nil
}

// updateErr maps UpdatePost's store errors.
func updateErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return proto.Errorf(proto.Code_NOT_FOUND, "no such post in the channel")
	case errors.Is(err, store.ErrExpired):
		return proto.Errorf(proto.Code_EXPIRED, "the post expired %v after publication and can no longer change", proto.PostTTL)
	case errors.Is(err, store.ErrConflict):
		return proto.Errorf(proto.Code_CONFLICT, "the post changed meanwhile; fetch it and retry")
	}
	return storeErr("update post", err)
}

// EditPost stores the next version of a post.
func (s *Service) EditPost(ctx context.Context, who gateway.Identity, req *proto.ChannelEditPost) (*proto.ChannelPost, error) {
	a, err := s.loadAdmin(ctx, who, req.GetChannelId())
	if err != nil {
		return nil, err
	}
	if err := notSuspended(a.ch); err != nil {
		return nil, err
	}
	next, signed, err := s.openPost(ctx, a.ch.ID, req.Post)
	if err != nil {
		return nil, err
	}
	cur, err := s.livePost(ctx, a.ch.ID, next.PostId)
	if err != nil {
		return nil, err
	}
	var curSigned proto.SignedPost
	if err := gproto.Unmarshal(cur.Signed, &curSigned); err != nil {
		return nil, err
	}
	var prev proto.Post
	if err := gproto.Unmarshal(curSigned.Post, &prev); err != nil {
		return nil, err
	}
	if err := channel.ValidateEdit(&prev, next); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	state := cur.State
	if cur.State != store.PostPublished {
		if cur.State == store.PostDraft && !req.Publish {
			state = store.PostDraft
		} else {
			if err := checkSchedule(next, now); err != nil {
				return nil, err
			}
			_, i, err := info(a.ch)
			if err != nil {
				return nil, err
			}
			state = stateFor(a.role, i.ReviewRequired, publishAt(next), now)
		}
	}
	hashes, err := s.mediaOf(ctx, a.ch.ID, next)
	if err != nil {
		return nil, err
	}
	p, err := s.st.UpdatePost(ctx, store.PostUpdate{
		ChannelID: a.ch.ID, ID: next.PostId, IfVersion: cur.Version, Version: next.Version, Signed: signed, Author: who.AccountID,
		Media: hashes, State: state, PublishAt: publishAt(next), PublishedAt: now, ExpiresAt: now.Add(proto.PostTTL), Now: now,
	})
	if err != nil {
		return nil, updateErr(err)
	}
	s.posted(ctx, p)
	if cur.State != store.PostPublished && p.State == store.PostPublished {
		s.notifyAdmins(ctx, a.ch.ID) // it left the drafts
	}
	return postView(p, true, who.AccountID)
}

// DeletePost deletes a post (a tombstone followers sync, if it was
// published).
func (s *Service) DeletePost(ctx context.Context, who gateway.Identity, req *proto.ChannelDeletePost) error {
	a, err := s.loadAdmin(ctx, who, req.GetChannelId())
	if err != nil {
		return err
	}
	if len(req.PostId) != proto.PostIDBytes {
		return proto.Errorf(proto.Code_BAD_REQUEST, "a post id is %d bytes", proto.PostIDBytes)
	}
	p, err := s.st.DeletePost(ctx, a.ch.ID, req.PostId, s.clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return proto.Errorf(proto.Code_NOT_FOUND, "no such post in the channel")
	}
	if err != nil {
		return storeErr("delete post", err)
	}
	if p.State == store.PostPublished {
		s.notify(ctx, a.ch.ID, p.Seq)
	} else {
		s.notifyAdmins(ctx, a.ch.ID)
	}
	return nil
}

// Approve publishes (or schedules) a post waiting for review.
func (s *Service) Approve(ctx context.Context, who gateway.Identity, req *proto.ChannelApprove) (*proto.ChannelPost, error) {
	a, err := s.loadAdmin(ctx, who, req.GetChannelId())
	if err != nil {
		return nil, err
	}
	if err := notSuspended(a.ch); err != nil {
		return nil, err
	}
	cur, err := s.livePost(ctx, a.ch.ID, req.PostId)
	if err != nil {
		return nil, err
	}
	if cur.State != store.PostPending {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the post is not waiting for review")
	}
	if a.role != proto.ChannelRole_CHANNEL_ROLE_OWNER && cur.Author == who.AccountID {
		return nil, proto.Errorf(proto.Code_FORBIDDEN, "another admin or the owner must approve what you wrote")
	}
	now := s.clock.Now()
	state := store.PostPublished
	if cur.PublishAt.After(now) {
		state = store.PostScheduled
	}
	p, err := s.st.UpdatePost(ctx, store.PostUpdate{
		ChannelID: a.ch.ID, ID: cur.ID, IfVersion: cur.Version, IfState: store.PostPending, State: state,
		PublishAt: cur.PublishAt, PublishedAt: now, ExpiresAt: now.Add(proto.PostTTL), Now: now,
	})
	if err != nil {
		return nil, updateErr(err)
	}
	s.posted(ctx, p)
	s.notifyAdmins(ctx, a.ch.ID)
	return postView(p, true, who.AccountID)
}

// Drafts lists the unpublished posts, for the team.
func (s *Service) Drafts(ctx context.Context, who gateway.Identity, req *proto.ChannelDrafts) (*proto.ChannelPostsResult, error) {
	a, err := s.loadAdmin(ctx, who, req.GetChannelId())
	if err != nil {
		return nil, err
	}
	ps, err := s.st.Unpublished(ctx, a.ch.ID)
	if err != nil {
		return nil, storeErr("drafts", err)
	}
	return s.postsResult(ps, true, who.AccountID)
}

func (s *Service) postsResult(ps []store.Post, admin bool, requester string) (*proto.ChannelPostsResult, error) {
	res := &proto.ChannelPostsResult{}
	for _, p := range ps {
		v, err := postView(p, admin, requester)
		if err != nil {
			return nil, err
		}
		res.Posts = append(res.Posts, v)
	}
	return res, nil
}

// Sync returns the channel's changes after the follower's cursor.
func (s *Service) Sync(ctx context.Context, who gateway.Identity, req *proto.ChannelSync) (*proto.ChannelSyncResult, error) {
	a, err := s.loadReader(ctx, who, req.GetChannelId())
	if err != nil {
		return nil, err
	}
	limit := int(req.Limit)
	if limit <= 0 || limit > proto.MaxChannelSyncBatch {
		limit = proto.MaxChannelSyncBatch
	}
	// The head was read (with the channel) before the posts: every post
	// with a sequence up to it is committed, so a cursor of head skips
	// nothing.
	ps, err := s.st.SyncPosts(ctx, a.ch.ID, who.AccountID, req.After, limit+1, s.clock.Now())
	if err != nil {
		return nil, storeErr("sync", err)
	}
	res := &proto.ChannelSyncResult{Cursor: a.ch.HeadSeq}
	if len(ps) > limit {
		ps, res.More = ps[:limit], true
	}
	for _, p := range ps {
		v, err := postView(p, false, "")
		if err != nil {
			return nil, err
		}
		res.Posts = append(res.Posts, v)
	}
	if n := len(ps); n > 0 && (res.More || ps[n-1].Seq > res.Cursor) {
		res.Cursor = ps[n-1].Seq
	}
	if req.After == 0 || a.ch.InfoSeq > req.After {
		if res.Channel, err = s.view(ctx, a.ch, a.m, true); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func checkIDs(ids [][]byte) error {
	if len(ids) > proto.MaxChannelPostIDs {
		return proto.Errorf(proto.Code_TOO_LARGE, "at most %d post ids per request", proto.MaxChannelPostIDs)
	}
	for _, id := range ids {
		if len(id) != proto.PostIDBytes {
			return proto.Errorf(proto.Code_BAD_REQUEST, "a post id is %d bytes", proto.PostIDBytes)
		}
	}
	return nil
}

// GetPosts returns current versions and counts of published posts.
func (s *Service) GetPosts(ctx context.Context, who gateway.Identity, req *proto.ChannelGetPosts) (*proto.ChannelPostsResult, error) {
	a, err := s.loadReader(ctx, who, req.GetChannelId())
	if err != nil {
		return nil, err
	}
	if err := checkIDs(req.PostIds); err != nil {
		return nil, err
	}
	ps, err := s.st.PostsByID(ctx, a.ch.ID, who.AccountID, req.PostIds, s.clock.Now())
	if err != nil {
		return nil, storeErr("posts", err)
	}
	return s.postsResult(ps, false, "")
}
