package proto

import "time"

// ProtocolVersion is the version of this schema. A server refuses a device
// whose version it does not speak with UNSUPPORTED_VERSION.
const ProtocolVersion = 1

// Limits both sides enforce. Changing one is a protocol change: raise them
// only together with the server's defaults.
const (
	// MaxFrameBytes bounds one WebSocket frame. It fits a commit plus a
	// Welcome whose GroupInfo carries the ratchet tree of a 1024-member group
	// (about 400 KiB with Ed25519/X25519 keys) with headroom. The transport
	// rejects a larger declared length before reading the payload.
	MaxFrameBytes = 1 << 20

	// MaxCiphertextBytes bounds an application message. Text, receipts and
	// typing are small; attachments travel as encrypted blobs, not here.
	MaxCiphertextBytes = 64 << 10

	// MaxHandshakeBytes bounds an MLS commit, welcome or group info, and
	// also the three of one Commit request together, so that the request
	// and every envelope made from it fit one MaxFrameBytes frame with
	// room for ids and device lists.
	MaxHandshakeBytes = 900 << 10

	// MessageIDBytes is the exact size of a client-chosen message id.
	MessageIDBytes = 16

	// MaxGroupIDBytes bounds an MLS group id.
	MaxGroupIDBytes = 32

	// MaxDevicesPerAccount is the primary plus four linked devices.
	MaxDevicesPerAccount = 5

	// MaxKeyPackagesPerUpload and MaxStoredKeyPackages bound one device's
	// supply of one-time key packages.
	MaxKeyPackagesPerUpload = 100
	MaxStoredKeyPackages    = 200

	// MaxKeyPackageBytes bounds one key package.
	MaxKeyPackageBytes = 4 << 10

	// MaxDeviceNameBytes bounds a device's display name.
	MaxDeviceNameBytes = 64

	// MaxEventBatch is how many mailbox entries the server pushes before it
	// waits for an ack.
	MaxEventBatch = 256
)

// Lifetimes.
const (
	// MailboxTTL is how long an unacknowledged envelope waits for its device.
	MailboxTTL = 30 * 24 * time.Hour

	// LinkCodeTTL is how long a device-link code stays valid.
	LinkCodeTTL = 10 * time.Minute
)

// Channel limits (docs/protocol.md, "Channels"). Every one is checked by
// the server and by package channel, so a client can check before sending.
const (
	// MaxChannelAdmins is how many admins a channel may have besides its
	// owner: a small editorial team, and the size of the CHANNEL_ADMINS
	// MLS group stays small (17 accounts × 5 devices).
	MaxChannelAdmins = 16

	// MaxPollOptions bounds a poll; MaxPollOptionBytes and
	// MaxPollQuestionBytes bound its text.
	MaxPollOptions       = 12
	MaxPollOptionBytes   = 100
	MaxPollQuestionBytes = 300

	// PostIDBytes is the exact size of a post id (random, chosen by the
	// writing device, like a message id).
	PostIDBytes = 16

	// MaxPostTextBytes bounds a post's text (UTF-8).
	MaxPostTextBytes = 4096

	// MaxSignedPostBytes bounds a serialized Post: text, media references
	// and a poll fit with room to spare.
	MaxSignedPostBytes = 16 << 10

	// MaxPostMedia is how many images or videos one post carries.
	MaxPostMedia = 10

	// MaxMediaBytes bounds one uploaded image or video. The server never
	// transcodes; clients compress before upload.
	MaxMediaBytes = 32 << 20

	// MaxCaptionBytes bounds a media caption.
	MaxCaptionBytes = 1024

	// MaxChannelNameBytes, MaxChannelDescriptionBytes bound the info.
	MaxChannelNameBytes        = 100
	MaxChannelDescriptionBytes = 2048

	// MaxChannelInfoBytes bounds a serialized ChannelInfo.
	MaxChannelInfoBytes = 8 << 10

	// MaxChannelReactions is how many emoji a channel may allow;
	// MaxEmojiBytes bounds one (a ZWJ sequence included).
	MaxChannelReactions = 16
	MaxEmojiBytes       = 32

	// MaxChannelKeys bounds a channel's key chain (one rotation per admin
	// removal or ownership transfer).
	MaxChannelKeys = 1024

	// MaxChannelSyncBatch is the most posts one ChannelSync returns.
	MaxChannelSyncBatch = 100

	// MaxChannelPostIDs bounds the post ids of one ChannelGetPosts,
	// ChannelView or ChannelStats request.
	MaxChannelPostIDs = 100

	// MaxStatsPosts is how many recent posts ChannelStats reports when no
	// ids are given; MaxStatsDays bounds the follower-growth window.
	MaxStatsPosts = 20
	MaxStatsDays  = 90

	// MaxDirectoryResults bounds one directory page;
	// MaxDirectoryQueryBytes bounds the search text.
	MaxDirectoryResults    = 50
	MaxDirectoryQueryBytes = 100

	// MaxDirectoryOffset bounds paging: deep pages cost the database
	// more and nobody reads them; refine the search instead.
	MaxDirectoryOffset = 1000

	// MaxChannelDrafts bounds the unpublished posts (drafts, scheduled,
	// waiting for review) of one channel.
	MaxChannelDrafts = 200

	// MaxReportReasonBytes bounds a report's text.
	MaxReportReasonBytes = 1000

	// MaxChannelsPerAccount bounds the channels one account owns.
	MaxChannelsPerAccount = 50
)

// Channel lifetimes.
const (
	// PostTTL: a post and its media are deleted this long after
	// publication and never served again.
	PostTTL = 30 * 24 * time.Hour

	// AdminInviteTTL is how long an admin invitation can be accepted.
	AdminInviteTTL = 7 * 24 * time.Hour

	// MaxScheduleAhead is how far in the future a post may be scheduled.
	MaxScheduleAhead = 30 * 24 * time.Hour

	// DirectoryActiveWindow is the window of "most active" (posts in it).
	DirectoryActiveWindow = 7 * 24 * time.Hour

	// MediaTokenTTL is how long a media token is valid.
	MediaTokenTTL = 10 * time.Minute

	// UnreferencedMediaTTL is how long an upload no post references is
	// kept (the admin may still be writing the post).
	UnreferencedMediaTTL = 24 * time.Hour
)
