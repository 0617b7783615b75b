package client

// Channels: one-way broadcasts, public and signed (not end-to-end
// encrypted). This file holds the types the SDK hands out and the
// verification every channel object goes through before an application
// sees it: the key chain against the channel id, the info and every post
// against the chain (package channel). The other channel_*.go files are
// the flows: channel_admin.go (create, edit, admins, key custody and
// distribution), channel_post.go (writing), channel_follow.go (following,
// sync, reactions, votes, stats, directory, reports), channel_media.go
// (the media endpoints) and channel_forward.go (forwarding into a chat).

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

// ErrChannelKeyChain means a channel's key chain as the server now gives
// it does not extend the chain this device verified before: the server
// (or someone in its place) tried to swap the channel's keys. Nothing of
// the channel is shown until it is resolved.
var ErrChannelKeyChain = errors.New("client: the channel's key chain does not extend the one this device verified before")

// Channel is a channel as this account sees it, its info verified against
// its key chain (except in directory results, whose Verified is false:
// the server omits the chain there; Follow fetches and verifies it).
type Channel struct {
	ID string
	ChannelSettings
	InfoVersion uint64
	// KeyIndex is the newest key of the channel's chain.
	KeyIndex uint32
	// Checked says the info was verified against the key chain.
	Checked       bool
	Followers     uint64
	Verified      bool // verified badge, set by the server's operator
	Suspended     bool
	Role          proto.ChannelRole
	Muted         bool
	HeadSeq       uint64
	Created       time.Time
	PostsLastWeek uint32
	AdminGroupID  []byte // owner and admins only

	keys channel.Keys
	raw  *proto.Channel
}

// ChannelSettings is what the owner and admins describe a channel with.
type ChannelSettings struct {
	Name        string
	Description string
	Icon        string // media hash of the icon (UploadMedia); empty: none
	Category    string // one of channel.Categories
	Country     string // ISO 3166-1 alpha-2, upper case; empty: none
	Listed      bool   // shown in the directory
	// Reactions are the emoji followers may react with.
	Reactions      []string
	ReviewRequired bool // an admin's post waits for another admin's approval
}

func settingsOf(info *proto.ChannelInfo) ChannelSettings {
	return ChannelSettings{Name: info.Name, Description: info.Description, Icon: info.Icon, Category: info.Category,
		Country: info.Country, Listed: info.Listed, Reactions: info.Reactions, ReviewRequired: info.ReviewRequired}
}

func (s ChannelSettings) info(id string, version uint64) *proto.ChannelInfo {
	return &proto.ChannelInfo{ChannelId: id, Version: version, Name: s.Name, Description: s.Description, Icon: s.Icon,
		Category: s.Category, Country: s.Country, Listed: s.Listed, Reactions: s.Reactions, ReviewRequired: s.ReviewRequired}
}

// IsAdmin reports whether this account owns or administers the channel.
func (ch Channel) IsAdmin() bool {
	return ch.Role == proto.ChannelRole_CHANNEL_ROLE_ADMIN || ch.Role == proto.ChannelRole_CHANNEL_ROLE_OWNER
}

// openChannel verifies a channel as the server sent it.
func openChannel(pc *proto.Channel) (Channel, error) {
	keys, info, err := channel.OpenChannel(pc)
	if err != nil {
		return Channel{}, fmt.Errorf("channel %s failed verification: %w", pc.GetChannelId(), err)
	}
	ch := channelFields(pc, info)
	ch.Checked, ch.keys, ch.KeyIndex = true, keys, keys.Current()
	return ch, nil
}

// directoryChannel decodes a directory entry, which carries no key chain:
// its info cannot be verified yet.
func directoryChannel(pc *proto.Channel) (Channel, error) {
	info := &proto.ChannelInfo{}
	if err := gproto.Unmarshal(pc.GetInfo().GetInfo(), info); err != nil || info.ChannelId != pc.ChannelId {
		return Channel{}, fmt.Errorf("directory entry %s does not decode", pc.ChannelId)
	}
	return channelFields(pc, info), nil
}

func channelFields(pc *proto.Channel, info *proto.ChannelInfo) Channel {
	return Channel{
		ID: pc.ChannelId, ChannelSettings: settingsOf(info), InfoVersion: info.Version,
		Followers: pc.Followers, Verified: pc.Verified, Suspended: pc.Suspended, Role: pc.Role, Muted: pc.Muted,
		HeadSeq: pc.HeadSeq, Created: timeMs(pc.CreatedMs), PostsLastWeek: pc.PostsLastWeek,
		AdminGroupID: pc.AdminGroupId, raw: pc,
	}
}

// extendsChain reports whether keys starts with every key of trusted.
func extendsChain(trusted, keys channel.Keys) bool {
	if len(keys) < len(trusted) {
		return false
	}
	for i, k := range trusted {
		if !k.Equal(keys[i]) {
			return false
		}
	}
	return true
}

// storedChannel loads and re-verifies what this device knows of a
// channel (profile.ErrNotFound if nothing).
func (c *Client) storedChannel(ctx context.Context, id string) (Channel, profile.ChannelRecord, error) {
	rec, err := c.prof.Channel(ctx, id)
	if err != nil {
		return Channel{}, rec, err
	}
	var pc proto.Channel
	if err := gproto.Unmarshal(rec.Channel, &pc); err != nil {
		return Channel{}, rec, fmt.Errorf("stored channel %s: %w", id, err)
	}
	ch, err := openChannel(&pc)
	if err != nil {
		return Channel{}, rec, err
	}
	ch.Role, ch.Muted = proto.ChannelRole(rec.Role), rec.Muted
	return ch, rec, nil
}

// acceptChannel verifies a channel the server sent and checks that its
// chain extends the one stored before; it does not store it.
func (c *Client) acceptChannel(ctx context.Context, pc *proto.Channel) (Channel, error) {
	ch, err := openChannel(pc)
	if err != nil {
		return Channel{}, err
	}
	old, _, err := c.storedChannel(ctx, ch.ID)
	switch {
	case errors.Is(err, profile.ErrNotFound):
	case err != nil:
		return Channel{}, err
	case !extendsChain(old.keys, ch.keys):
		return Channel{}, fmt.Errorf("%w (channel %s)", ErrChannelKeyChain, ch.ID)
	case ch.InfoVersion < old.InfoVersion:
		return Channel{}, fmt.Errorf("channel %s: the server sent info version %d, older than version %d seen before", ch.ID, ch.InfoVersion, old.InfoVersion)
	}
	return ch, nil
}

// saveChannel records a verified channel (keeping the cursor).
func (c *Client) saveChannel(tx *profile.Tx, ch Channel, now time.Time) error {
	b, err := gproto.Marshal(ch.raw)
	if err != nil {
		return err
	}
	rec, err := tx.Channel(ch.ID)
	if err != nil && !errors.Is(err, profile.ErrNotFound) {
		return err
	}
	rec.ChannelID, rec.Channel, rec.Role, rec.Muted, rec.Updated = ch.ID, b, int32(ch.Role), ch.Muted, now
	if !ch.IsAdmin() {
		rec.Admins = nil
	}
	return tx.SaveChannel(rec)
}

// fetchChannel asks the server for a channel, verifies it and, when this
// device keeps a record of it, refreshes the record.
func (c *Client) fetchChannel(ctx context.Context, id string) (Channel, error) {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelGet{ChannelGet: &proto.ChannelGet{ChannelId: id}}})
	if err != nil {
		return Channel{}, err
	}
	ch, err := c.acceptChannel(ctx, resp.GetChannel())
	if err != nil {
		return Channel{}, err
	}
	if err := c.prof.Update(ctx, func(tx *profile.Tx) error {
		if _, err := tx.Channel(id); errors.Is(err, profile.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return c.saveChannel(tx, ch, c.clk.Now())
	}); err != nil {
		return Channel{}, err
	}
	return ch, nil
}

// GetChannel fetches and verifies a channel.
func (c *Client) GetChannel(ctx context.Context, id string) (Channel, error) {
	if !channel.ValidID(id) {
		return Channel{}, proto.Errorf(proto.Code_BAD_REQUEST, "%q is not a channel id (c followed by 16 letters and digits)", id)
	}
	return c.fetchChannel(ctx, id)
}

// Channels lists the channels this account follows or administers, as
// the server knows them, each verified.
func (c *Client) Channels(ctx context.Context) ([]Channel, error) {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_ChannelList{ChannelList: &proto.ChannelList{}}})
	if err != nil {
		return nil, err
	}
	var out []Channel
	for _, pc := range resp.GetChannelList().GetChannels() {
		ch, err := c.acceptChannel(ctx, pc)
		if err != nil {
			c.log.Warn("channel failed verification", "channel", pc.GetChannelId(), "err", err)
			continue
		}
		out = append(out, ch)
	}
	return out, nil
}

// Post is one channel post, verified against the channel's key chain.
type Post struct {
	ChannelID string
	ID        []byte
	Version   uint32
	KeyIndex  uint32
	Text      string
	Media     []*proto.Media
	Sticker   *proto.Sticker
	Poll      *proto.Poll
	Created   time.Time // the writer's clock
	PublishAt time.Time // scheduled publication; zero: none
	Published time.Time // server time; zero while unpublished
	Expires   time.Time
	Edited    bool
	Deleted   bool
	State     proto.ChannelPostState
	Seq       uint64
	// Counts, when the server sent them.
	Reactions  []*proto.ReactionCount
	PollCounts []uint64
	MyReaction string
	MyVotes    []uint32
	Mine       bool // admins: this account wrote the latest version
	// Signed is the post exactly as the channel signed it (for forwarding).
	Signed *proto.SignedPost
}

// openPost verifies a post as the server sent it.
func openPost(keys channel.Keys, channelID string, cp *proto.ChannelPost) (Post, error) {
	p := Post{ChannelID: channelID, ID: cp.PostId, Published: timeMs(cp.PublishedMs), Expires: timeMs(cp.ExpiresMs),
		Edited: cp.Edited, Deleted: cp.Deleted, State: cp.State, Seq: cp.Seq, Reactions: cp.Reactions,
		PollCounts: cp.PollCounts, MyReaction: cp.MyReaction, MyVotes: cp.MyVotes, Mine: cp.Mine}
	if cp.Deleted {
		return p, nil
	}
	body, err := channel.OpenPost(keys, channelID, cp.Signed)
	if err != nil {
		return Post{}, err
	}
	if !bytes.Equal(body.PostId, cp.PostId) {
		return Post{}, proto.Errorf(proto.Code_BAD_SIGNATURE, "the server filed post %x under id %x", body.PostId, cp.PostId)
	}
	p.fill(body)
	p.KeyIndex, p.Signed = cp.Signed.KeyIndex, cp.Signed
	return p, nil
}

func (p *Post) fill(body *proto.Post) {
	p.ID, p.Version, p.Text, p.Media, p.Sticker, p.Poll = body.PostId, body.Version, body.Text, body.Media, body.Sticker, body.Poll
	p.Created, p.PublishAt = timeMs(body.CreatedMs), timeMs(body.PublishAtMs)
}

// Content is the content of a post as its writer gives it.
func (p Post) Content() PostContent {
	return PostContent{Text: p.Text, Media: p.Media, Sticker: p.Sticker, Poll: p.Poll}
}

// postFromRecord re-verifies a post kept in the profile.
func postFromRecord(keys channel.Keys, r profile.ChannelPost) (Post, error) {
	p := Post{ChannelID: r.ChannelID, ID: r.PostID, Seq: r.Seq, Published: r.Published, Expires: r.Expires,
		Edited: r.Edited, Deleted: r.Deleted, State: proto.ChannelPostState_CHANNEL_POST_PUBLISHED}
	if r.Deleted {
		return p, nil
	}
	var sp proto.SignedPost
	if err := gproto.Unmarshal(r.Signed, &sp); err != nil {
		return Post{}, err
	}
	body, err := channel.OpenPost(keys, r.ChannelID, &sp)
	if err != nil {
		return Post{}, err
	}
	p.fill(body)
	p.KeyIndex, p.Signed = sp.KeyIndex, &sp
	return p, nil
}

// keyFor returns the public key of index in a verified chain.
func keyFor(keys channel.Keys, index uint32) (ed25519.PublicKey, bool) {
	if int(index) >= len(keys) {
		return nil, false
	}
	return keys[index], true
}

// Do sends one raw protocol request on the authenticated connection and
// returns the response (with a *proto.Error for a code other than OK). It
// is for tools and tests that speak the protocol directly: applications
// use the typed methods, which also verify what comes back.
func (c *Client) Do(ctx context.Context, req *proto.Request) (*proto.Response, error) {
	return c.call(ctx, req)
}
