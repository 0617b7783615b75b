package store

import (
	"context"
	"errors"
	"time"
)

// Errors of the Channels methods, besides ErrNotFound and ErrExpired.
var (
	ErrExists   = errors.New("store: already exists")
	ErrLimit    = errors.New("store: limit reached")
	ErrConflict = errors.New("store: changed concurrently") // a version or state precondition failed
)

// Channel roles and post states, stored as the proto enum values
// (proto.ChannelRole, proto.ChannelPostState).
const (
	RoleNone     int32 = 0
	RoleFollower int32 = 1
	RoleAdmin    int32 = 2
	RoleOwner    int32 = 3

	PostPublished int32 = 1
	PostDraft     int32 = 2
	PostScheduled int32 = 3
	PostPending   int32 = 4
)

// Channel is a channel's record. Info is the serialized
// proto.SignedChannelInfo and the directory fields are copied out of it
// by the server, which has verified it; the store never parses it.
type Channel struct {
	ID          string
	Info        []byte
	InfoVersion uint64
	// Directory fields, from the info.
	Name        string
	Description string
	Category    string
	Country     string
	Icon        string // media hash; the icon stays referenced while set
	Listed      bool

	// Set by the store or the operator; ignored by CreateChannel.
	Verified   bool
	Suspended  bool
	InviteCode string
	AdminGroup []byte
	HeadSeq    uint64 // latest change sequence
	InfoSeq    uint64 // sequence of the latest info or key-chain change
	Followers  uint64
	PostsWeek  uint64 // posts published in the active window (see ExpireChannels)
	CreatedAt  time.Time
}

// ChannelKey is one serialized proto.ChannelKeyEntry of a channel's chain.
type ChannelKey struct {
	Index uint32
	Entry []byte
}

// Membership is one account's relation to a channel.
type Membership struct {
	ChannelID string
	AccountID string
	Role      int32 // RoleOwner, RoleAdmin or RoleNone
	Following bool
	Muted     bool
	Since     time.Time // of the role
}

// AdminInvitation is an invitation to administer a channel.
type AdminInvitation struct {
	ChannelID string
	AccountID string
	ExpiresAt time.Time
}

// Post is a channel post as stored: its latest version's signed bytes and
// what the server keeps around it. Author (who wrote the latest version)
// is for the review rule only and is never served to followers.
type Post struct {
	ChannelID   string
	ID          []byte
	Version     uint32
	Signed      []byte // serialized proto.SignedPost; nil for a tombstone or an expired post
	State       int32  // PostPublished, PostDraft, PostScheduled, PostPending
	Author      string
	Seq         uint64 // latest change; 0 while unpublished
	PublishAt   time.Time
	PublishedAt time.Time
	ExpiresAt   time.Time
	UpdatedAt   time.Time
	Edited      bool // edited after publication
	Deleted     bool // tombstone
	Media       []string
	PollOptions int // options of its poll, 0 for none: the size of PollCounts

	// Filled by reads (never who, only how many).
	Reactions  []ReactionCount // by emoji, sorted
	PollCounts []uint64        // per option
	Views      uint64
	Reacted    uint64 // accounts that reacted
	Voters     uint64
	MyReaction string   // the reading account's own
	MyVotes    []uint32 // the reading account's own, sorted
}

// ReactionCount is how many accounts reacted to a post with one emoji.
type ReactionCount struct {
	Emoji string
	Count uint64
}

// PostUpdate changes a stored post if it is still at IfVersion (and in
// IfState when that is not 0): a new version when Signed is set, a new
// state always. When the resulting state is PostPublished the post takes
// the next sequence number; if it was not published before, PublishedAt
// and ExpiresAt are set from the update, else they are kept and Edited
// is set.
type PostUpdate struct {
	ChannelID   string
	ID          []byte
	IfVersion   uint32
	IfState     int32
	Version     uint32 // with Signed
	Signed      []byte // nil keeps the current version (an approval)
	Author      string // with Signed
	Media       []string
	State       int32
	PublishAt   time.Time
	PublishedAt time.Time
	ExpiresAt   time.Time
	Now         time.Time
}

// DirectoryQuery selects listed, unsuspended channels.
type DirectoryQuery struct {
	Words    []string // each must prefix-match a word of the name or description
	Category string
	Country  string
	Sort     int32 // proto.DirectorySort: 0 newest, 1 most followed, 2 most active
	Limit    int
	Offset   int
}

// ChannelStats are an admin's counts: all maintained on write.
type ChannelStats struct {
	Followers uint64
	Days      []DayStats // days with activity since the asked day, oldest first
	Posts     []Post     // counts filled, Signed not
}

// DayStats is one UTC day's follower growth.
type DayStats struct {
	Day       time.Time
	Follows   uint64
	Unfollows uint64
}

// Report is a follower's report of a channel or post.
type Report struct {
	ID        int64
	ChannelID string
	PostID    []byte // nil: the channel itself
	Reporter  string // kept for de-duplication; never shown
	Reason    string
	CreatedAt time.Time
}

// Media is a file uploaded to a channel. Hash is the media store's key
// (hex SHA-256); a file uploaded to several channels has one record per
// channel and one stored copy.
type Media struct {
	ChannelID  string
	Hash       string
	Mime       string
	Size       int64
	Width      int
	Height     int
	Thumbnail  string // hash of the thumbnail, itself recorded as media of the channel
	UploadedAt time.Time
}

// ExpireChannelsOptions are the cut-off times of one sweep.
type ExpireChannelsOptions struct {
	Now               time.Time // published posts with ExpiresAt <= Now expire
	ActiveSince       time.Time // posts published before no longer count in PostsWeek
	UnpublishedBefore time.Time // drafts, pending and scheduled posts not changed since are deleted
	MediaBefore       time.Time // unreferenced uploads older than this are deleted
	ExpiredBefore     time.Time // headers of expired posts (kept to answer EXPIRED) older than this go
	InvitationsBefore time.Time // invitations that expired before this are deleted
}

// ExpiredChannels is what a sweep did. Hashes are media no channel
// references any more: the caller deletes them from the media store.
type ExpiredChannels struct {
	Posts  int
	Hashes []string
}

// Channels is the state of broadcast channels. No method returns who
// follows a channel, who reacted or who voted: counts only. Every method
// that changes a counter changes it in the same transaction as the record
// it counts, so counts stay exact under concurrency.
type Channels interface {
	// CreateChannel stores a channel, its owner (RoleOwner) and its first
	// key. ErrExists if the id is taken; ErrLimit if the owner already owns
	// maxOwned channels.
	CreateChannel(ctx context.Context, c Channel, owner string, firstKey ChannelKey, now time.Time, maxOwned int) error
	Channel(ctx context.Context, id string) (Channel, error)
	// ChannelByInviteCode returns the channel whose current code it is.
	ChannelByInviteCode(ctx context.Context, code string) (Channel, error)
	// ChannelByAdminGroup returns the channel whose admin conversation it is.
	ChannelByAdminGroup(ctx context.Context, group []byte) (Channel, error)
	ChannelKeys(ctx context.Context, id string) ([]ChannelKey, error)
	// UpdateChannelInfo replaces the info and directory fields if the
	// stored info is at version prev (else ErrConflict), taking the next
	// sequence number; it returns it.
	UpdateChannelInfo(ctx context.Context, c Channel, prev uint64) (uint64, error)
	// AppendChannelKey adds the next key (ErrConflict if its index is not
	// the next one), taking the next sequence number.
	AppendChannelKey(ctx context.Context, id string, k ChannelKey, now time.Time) (uint64, error)
	// DeleteChannel deletes the channel and everything of it, returning
	// the media hashes no other channel references.
	DeleteChannel(ctx context.Context, id string) ([]string, error)
	// SetInviteCode replaces the channel's invite code.
	SetInviteCode(ctx context.Context, id, code string) error
	// SetAdminGroup records the channel's admin conversation; ErrExists if
	// it already has one.
	SetAdminGroup(ctx context.Context, id string, group []byte) error
	// SetVerified and SetSuspended are the operator's flags.
	SetVerified(ctx context.Context, id string, v bool) error
	SetSuspended(ctx context.Context, id string, v bool) error

	// Membership is the account's role, follow and mute state.
	Membership(ctx context.Context, channelID, accountID string) (Membership, error)
	// Memberships lists the channels the account follows or administers.
	Memberships(ctx context.Context, accountID string) ([]Membership, error)
	// Admins lists the owner and admins (Role and Since set), owner first.
	Admins(ctx context.Context, channelID string) ([]Membership, error)
	// InviteAdmin stores or renews an invitation. ErrExists if the account
	// is already owner or admin; ErrLimit if the channel has max admins.
	InviteAdmin(ctx context.Context, inv AdminInvitation, max int) error
	// Invitations lists a channel's invitations unexpired at now.
	Invitations(ctx context.Context, channelID string, now time.Time) ([]AdminInvitation, error)
	// InvitationsOf lists an account's invitations unexpired at now.
	InvitationsOf(ctx context.Context, accountID string, now time.Time) ([]AdminInvitation, error)
	// AcceptAdmin turns the invitation into the admin role: ErrNotFound
	// without one, ErrExpired if it expired before now (it is kept),
	// ErrLimit if the channel has max admins (it is kept).
	AcceptAdmin(ctx context.Context, channelID, accountID string, now time.Time, max int) error
	// DeclineAdmin deletes the invitation (no error if there is none).
	DeclineAdmin(ctx context.Context, channelID, accountID string) error
	// RemoveAdmin takes the admin role away (ErrNotFound if the account is
	// not an admin) and, when newKey is not nil, appends it as
	// AppendChannelKey does, in one transaction.
	RemoveAdmin(ctx context.Context, channelID, accountID string, newKey *ChannelKey, now time.Time) error
	// TransferOwnership makes admin `to` the owner and the owner `from` an
	// admin (ErrNotFound if to is not an admin, ErrConflict if from is not
	// the owner), appending newKey when not nil, in one transaction.
	TransferOwnership(ctx context.Context, channelID, from, to string, newKey *ChannelKey, now time.Time) error

	// Follow makes the account a follower; false if it already was. The
	// follower count and the day's bucket change with it.
	Follow(ctx context.Context, channelID, accountID string, now time.Time) (bool, error)
	// Unfollow removes the follow; false if there was none.
	Unfollow(ctx context.Context, channelID, accountID string, now time.Time) (bool, error)
	// SetMuted sets the follower's mute flag; ErrNotFound if not following.
	SetMuted(ctx context.Context, channelID, accountID string, muted bool) error

	// PutPost stores a new post. When p.State is PostPublished it takes
	// the next sequence number (p.PublishedAt, p.ExpiresAt set by the
	// caller). ErrExists if the id is taken in the channel (any state,
	// tombstones and expired headers included); ErrLimit if the post is
	// unpublished and the channel already has maxUnpublished of those.
	PutPost(ctx context.Context, p Post, maxUnpublished int) (Post, error)
	// Post returns a post by id as stored (tombstones and expired headers
	// included), counts filled.
	Post(ctx context.Context, channelID string, id []byte) (Post, error)
	// UpdatePost applies u (see PostUpdate). ErrNotFound for no post or a
	// tombstone; ErrExpired for a published post whose ExpiresAt <= u.Now;
	// ErrConflict when IfVersion or IfState do not match.
	UpdatePost(ctx context.Context, u PostUpdate) (Post, error)
	// DeletePost turns a published post into a tombstone with the next
	// sequence number (its reactions, votes and views are deleted) and
	// deletes an unpublished one. ErrNotFound if there is no such post.
	DeletePost(ctx context.Context, channelID string, id []byte, now time.Time) (Post, error)
	// PublishDue publishes up to limit scheduled posts whose PublishAt <=
	// now, each with the next sequence number of its channel, PublishedAt
	// now and ExpiresAt now+ttl, and returns them.
	PublishDue(ctx context.Context, now time.Time, ttl time.Duration, limit int) ([]Post, error)
	// SyncPosts returns up to limit published posts and tombstones of the
	// channel with Seq > after, unexpired at now, in Seq order, counts and
	// the reader's own reaction and votes filled.
	SyncPosts(ctx context.Context, channelID, reader string, after uint64, limit int, now time.Time) ([]Post, error)
	// PostsByID returns the published, unexpired posts among ids, counts
	// filled (unknown ids are left out), in the order asked.
	PostsByID(ctx context.Context, channelID, reader string, ids [][]byte, now time.Time) ([]Post, error)
	// Unpublished lists the channel's drafts, scheduled and pending posts.
	Unpublished(ctx context.Context, channelID string) ([]Post, error)

	// React sets the account's reaction to a published, unexpired post
	// ("" removes it): ErrNotFound / ErrExpired otherwise.
	React(ctx context.Context, channelID string, postID []byte, accountID, emoji string, now time.Time) (Post, error)
	// Vote replaces the account's votes (empty withdraws): each option
	// must be below the post's PollOptions (the caller checks the poll's
	// rules). ErrNotFound / ErrExpired as React.
	Vote(ctx context.Context, channelID string, postID []byte, accountID string, options []uint32, now time.Time) (Post, error)
	// View counts the account's view of each published post once.
	View(ctx context.Context, channelID, accountID string, ids [][]byte, now time.Time) error

	// Stats returns the follower count, the growth buckets from the day
	// of since on, and per-post counts for ids (or, when ids is empty, the
	// latest `latest` published posts, newest first).
	Stats(ctx context.Context, channelID string, since time.Time, ids [][]byte, latest int, now time.Time) (ChannelStats, error)

	// SearchChannels answers the directory.
	SearchChannels(ctx context.Context, q DirectoryQuery) ([]Channel, error)

	// PutReport stores a report, replacing the same reporter's open one
	// about the same channel and post.
	PutReport(ctx context.Context, r Report) error
	// Reports lists open reports, oldest first.
	Reports(ctx context.Context, limit int) ([]Report, error)
	// ResolveReport deletes a report; ErrNotFound if there is none.
	ResolveReport(ctx context.Context, id int64) error

	// PutMedia records an upload to a channel (again: no error).
	PutMedia(ctx context.Context, m Media) error
	// ChannelMedia returns the channel's record of an upload.
	ChannelMedia(ctx context.Context, channelID, hash string) (Media, error)
	// MediaExists reports whether any channel holds the hash.
	MediaExists(ctx context.Context, hash string) (bool, error)
	// Secret returns the shared secret stored under name, storing
	// candidate first if there is none, so every node gets the same one.
	Secret(ctx context.Context, name string, candidate []byte) ([]byte, error)

	// ExpireChannels runs one sweep (see ExpireChannelsOptions), in
	// bounded transactions.
	ExpireChannels(ctx context.Context, o ExpireChannelsOptions) (ExpiredChannels, error)
}
