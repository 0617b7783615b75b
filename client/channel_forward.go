package client

import (
	"context"
	"errors"
	"fmt"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

// Forwarding a channel post into a chat: the post travels inside the
// chat's end-to-end-encrypted Content exactly as the channel signed it
// (ForwardedPost), so the recipient verifies it against the channel's key
// chain, and neither the server nor the forwarder can alter it.

// ForwardPost forwards a channel post into the 1:1 chat with handle. The
// chat message (already in the local history) shows the post's text.
func (c *Client) ForwardPost(ctx context.Context, handle, channelID string, postID []byte) (Message, error) {
	p, name, err := c.postToForward(ctx, channelID, postID)
	if err != nil {
		return Message{}, err
	}
	conv, err := c.conversationWith(ctx, handle)
	if err != nil {
		return Message{}, err
	}
	id := newMessageID()
	now := c.clk.Now()
	self := c.Self()
	msg := Message{ID: id, GroupID: conv.GroupID, SenderAccount: self.AccountID, SenderHandle: self.Handle,
		SenderDevice: c.deviceID, Text: forwardText(name, channelID, p.Text, nil), Sent: now, Received: now, Outgoing: true, Shown: true}
	content := &proto.Content{Id: id, SentMs: now.UnixMilli(), Body: &proto.Content_ForwardedPost{ForwardedPost: &proto.ForwardedPost{
		ChannelId: channelID, Post: p.Signed, ChannelName: name}}}
	if err := c.sendContent(ctx, conv.GroupID, id, content, false, &msg); err != nil {
		return Message{}, err
	}
	return msg, nil
}

// postToForward finds a post, verified, held locally or fetched.
func (c *Client) postToForward(ctx context.Context, channelID string, postID []byte) (Post, string, error) {
	ch, err := c.channelKeys(ctx, channelID)
	if err != nil {
		return Post{}, "", err
	}
	rec, err := c.prof.ChannelPostByID(ctx, channelID, postID)
	if err == nil && !rec.Deleted {
		if p, err := postFromRecord(ch.keys, rec); err == nil {
			return p, ch.Name, nil
		}
	} else if err != nil && !errors.Is(err, profile.ErrNotFound) {
		return Post{}, "", err
	}
	ps, err := c.GetPosts(ctx, channelID, postID)
	if err != nil {
		return Post{}, "", err
	}
	if len(ps) != 1 || ps[0].Signed == nil {
		return Post{}, "", proto.Errorf(proto.Code_NOT_FOUND, "no post %x in channel %s (deleted or expired?)", postID, channelID)
	}
	return ps[0], ch.Name, nil
}

// forwardText is how a forwarded post reads in the chat history.
func forwardText(name, channelID, text string, verr error) string {
	if verr != nil {
		return fmt.Sprintf("[forwarded from channel %s — NOT VERIFIED: %v] %s", channelID, verr, text)
	}
	return fmt.Sprintf("[forwarded from %s (%s)] %s", name, channelID, text)
}

// receiveForward verifies a forwarded post against the channel's key
// chain as the server gives it now (extending the one this device
// verified before, if any) and returns the chat message and its event.
func (c *Client) receiveForward(ctx context.Context, fp *proto.ForwardedPost, msg Message) (Message, ForwardEvent) {
	ev := ForwardEvent{ChannelID: fp.GetChannelId()}
	var p *proto.Post
	ch, err := c.forwardChannel(ctx, fp.GetChannelId())
	if err == nil {
		p, err = channel.OpenForward(ch.keys, fp)
	}
	if err != nil {
		// Show what it claims, marked as unverified.
		var raw proto.Post
		text := ""
		if gproto.Unmarshal(fp.GetPost().GetPost(), &raw) == nil {
			text = raw.Text
		}
		msg.Text = forwardText("", fp.GetChannelId(), text, err)
		ev.Err = err
	} else {
		ev.Channel = ch.Name
		ev.Post = Post{ChannelID: ch.ID, KeyIndex: fp.Post.KeyIndex, Signed: fp.Post}
		ev.Post.fill(p)
		msg.Text = forwardText(ch.Name, ch.ID, p.Text, nil)
	}
	ev.Message = msg
	return msg, ev
}

// forwardChannel fetches and verifies the channel of a forwarded post.
func (c *Client) forwardChannel(ctx context.Context, id string) (Channel, error) {
	if !channel.ValidID(id) {
		return Channel{}, proto.Errorf(proto.Code_BAD_REQUEST, "the forwarded post names no valid channel")
	}
	return c.fetchChannel(ctx, id)
}
