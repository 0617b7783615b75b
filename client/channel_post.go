package client

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/proto"
)

// Writing to a channel (owner and admins): every post version is signed
// here with the channel's current key, so the server can only store and
// serve it, never change it.

// PostContent is what a post says: text (links included), media uploaded
// with UploadMedia, a sticker, and a poll (2 to proto.MaxPollOptions
// options, fixed once published).
type PostContent struct {
	Text    string
	Media   []*proto.Media
	Sticker *proto.Sticker
	Poll    *proto.Poll
}

// PublishOptions choose how a new post goes out.
type PublishOptions struct {
	// Draft keeps the post for the owner and admins only.
	Draft bool
	// At schedules publication (server clock); zero publishes now. It
	// must lie in the future.
	At time.Time
}

// Publish signs and sends a new post. Under the channel's review setting
// an admin's post waits for another admin's approval (State says which).
func (c *Client) Publish(ctx context.Context, id string, content PostContent, opts PublishOptions) (Post, error) {
	if !opts.At.IsZero() && !opts.At.After(c.clk.Now()) {
		return Post{}, proto.Errorf(proto.Code_BAD_REQUEST, "the scheduled time %s has passed; pick a time in the future", opts.At.Format(time.RFC3339))
	}
	ch, key, err := c.signingKey(ctx, id)
	if err != nil {
		return Post{}, err
	}
	postID := make([]byte, proto.PostIDBytes)
	rand.Read(postID)
	body := &proto.Post{ChannelId: id, PostId: postID, Version: 1, CreatedMs: c.clk.Now().UnixMilli(),
		Text: content.Text, Media: content.Media, Sticker: content.Sticker, Poll: content.Poll}
	if !opts.At.IsZero() {
		body.PublishAtMs = opts.At.UnixMilli()
	}
	sp, err := channel.SignPost(key, ch.KeyIndex, body)
	if err != nil {
		return Post{}, err
	}
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelPublish{ChannelPublish: &proto.ChannelPublish{
		ChannelId: id, Post: sp, Draft: opts.Draft}}})
	var pe *proto.Error
	if errors.As(err, &pe) && pe.Code == proto.Code_DUPLICATE {
		// A repeat after a lost answer: the first one was stored.
		return c.findPost(ctx, ch, postID)
	}
	if err != nil {
		return Post{}, err
	}
	return openPost(ch.keys, id, resp.GetChannelPost())
}

// findPost looks a post up among the published ones and the drafts.
func (c *Client) findPost(ctx context.Context, ch Channel, postID []byte) (Post, error) {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelGetPosts{ChannelGetPosts: &proto.ChannelGetPosts{
		ChannelId: ch.ID, PostIds: [][]byte{postID}}}})
	if err != nil {
		return Post{}, err
	}
	if ps := resp.GetChannelPosts().GetPosts(); len(ps) == 1 {
		return openPost(ch.keys, ch.ID, ps[0])
	}
	drafts, err := c.Drafts(ctx, ch.ID)
	if err != nil {
		return Post{}, err
	}
	for _, p := range drafts {
		if string(p.ID) == string(postID) {
			return p, nil
		}
	}
	return Post{}, proto.Errorf(proto.Code_NOT_FOUND, "no post %x in channel %s (it may have expired)", postID, ch.ID)
}

// EditPost signs and sends the next version of a post: edit gets its
// current content (a poll cannot change). A published post is shown as
// edited; a draft stays a draft unless publish is set. Posts can be
// edited until they expire.
func (c *Client) EditPost(ctx context.Context, id string, postID []byte, edit func(*PostContent), publish bool) (Post, error) {
	ch, key, err := c.signingKey(ctx, id)
	if err != nil {
		return Post{}, err
	}
	cur, err := c.findPost(ctx, ch, postID)
	if err != nil {
		return Post{}, err
	}
	content := cur.Content()
	content.Media = slices.Clone(content.Media)
	edit(&content)
	body := &proto.Post{ChannelId: id, PostId: postID, Version: cur.Version + 1, CreatedMs: cur.Created.UnixMilli(),
		Text: content.Text, Media: content.Media, Sticker: content.Sticker, Poll: cur.Poll}
	if !cur.PublishAt.IsZero() {
		body.PublishAtMs = cur.PublishAt.UnixMilli()
	}
	if content.Poll != nil && !gproto.Equal(content.Poll, cur.Poll) {
		return Post{}, proto.Errorf(proto.Code_BAD_REQUEST, "a poll cannot be changed or added once posted; post a new poll")
	}
	sp, err := channel.SignPost(key, ch.KeyIndex, body)
	if err != nil {
		return Post{}, err
	}
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelEditPost{ChannelEditPost: &proto.ChannelEditPost{
		ChannelId: id, Post: sp, Publish: publish}}})
	if err != nil {
		return Post{}, err
	}
	return openPost(ch.keys, id, resp.GetChannelPost())
}

// DeletePost deletes a post (owner and admins): followers delete their
// copy at their next sync.
func (c *Client) DeletePost(ctx context.Context, id string, postID []byte) error {
	_, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelDeletePost{ChannelDeletePost: &proto.ChannelDeletePost{
		ChannelId: id, PostId: postID}}})
	return err
}

// ApprovePost approves a post waiting for review (the owner, or an admin
// who did not write it); it is then published or scheduled.
func (c *Client) ApprovePost(ctx context.Context, id string, postID []byte) (Post, error) {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelApprove{ChannelApprove: &proto.ChannelApprove{
		ChannelId: id, PostId: postID}}})
	if err != nil {
		return Post{}, err
	}
	return c.onePost(ctx, id, resp.GetChannelPost())
}

// Drafts lists the channel's unpublished posts (owner and admins):
// drafts, scheduled posts and posts waiting for review.
func (c *Client) Drafts(ctx context.Context, id string) ([]Post, error) {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelDrafts{ChannelDrafts: &proto.ChannelDrafts{ChannelId: id}}})
	if err != nil {
		return nil, err
	}
	ch, err := c.channelKeys(ctx, id)
	if err != nil {
		return nil, err
	}
	return c.openPosts(ctx, ch, resp.GetChannelPosts().GetPosts())
}
