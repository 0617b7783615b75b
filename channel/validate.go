package channel

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
)

// Categories are the directory's categories. A channel picks exactly one;
// "other" when none fits. Append only: clients filter by these names.
var Categories = []string{
	"news", "government", "weather", "traffic", "transport", "emergency",
	"sport", "cooking", "culture", "education", "business", "technology",
	"science", "health", "entertainment", "music", "travel", "community",
	"religion", "other",
}

// ValidCategory reports whether c is one of Categories.
func ValidCategory(c string) bool { return slices.Contains(Categories, c) }

// MediaTypes are the media types a post may carry, as the server sniffs
// them with net/http.DetectContentType. Video is stored as uploaded, never
// transcoded.
var MediaTypes = []string{
	"image/jpeg", "image/png", "image/gif", "image/webp",
	"video/mp4", "video/webm",
}

// ValidMediaType reports whether a sniffed type may be uploaded.
func ValidMediaType(mime string) bool { return slices.Contains(MediaTypes, mime) }

// IsImage reports whether mime is an image type (which gets a thumbnail).
func IsImage(mime string) bool { return strings.HasPrefix(mime, "image/") }

// DefaultReactions is what a client offers a new channel.
var DefaultReactions = []string{"👍", "❤️", "😂", "😮", "😢", "🙏"}

// ValidMediaHash reports whether h is a media store key: the lower-case
// hex SHA-256 of the bytes.
func ValidMediaHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// text checks a person-written field: valid UTF-8, within max bytes and
// without control characters other than line breaks and tabs.
func text(field, s string, max int) error {
	if len(s) > max {
		return proto.Errorf(proto.Code_TOO_LARGE, "%s is %d bytes; the limit is %d", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return proto.Errorf(proto.Code_BAD_REQUEST, "%s contains a control character (%U)", field, r)
		}
	}
	return nil
}

// ValidEmoji reports whether e may be a reaction: a short UTF-8 string
// without spaces or control characters and with at least one symbol
// outside ASCII (so "ok" or "+1" are not emoji).
func ValidEmoji(e string) bool {
	if e == "" || len(e) > proto.MaxEmojiBytes || !utf8.ValidString(e) {
		return false
	}
	symbol := false
	for _, r := range e {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
		if r >= 0xA9 {
			symbol = true
		}
	}
	return symbol
}

// ValidatePost checks one post version on its own: id, version, content
// and limits. It does not check signatures (OpenPost does) nor the post's
// history (ValidateEdit).
func ValidatePost(p *proto.Post) error {
	if p == nil {
		return proto.Errorf(proto.Code_BAD_REQUEST, "the post is empty")
	}
	if !ValidID(p.ChannelId) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "the post names no valid channel id")
	}
	if len(p.PostId) != proto.PostIDBytes {
		return proto.Errorf(proto.Code_BAD_REQUEST, "a post id is %d random bytes", proto.PostIDBytes)
	}
	if p.Version < 1 {
		return proto.Errorf(proto.Code_BAD_REQUEST, "a post's first version is 1")
	}
	if p.CreatedMs < 0 || p.PublishAtMs < 0 {
		return proto.Errorf(proto.Code_BAD_REQUEST, "post times are milliseconds since 1970, not negative")
	}
	if err := text("the post text", p.Text, proto.MaxPostTextBytes); err != nil {
		return err
	}
	if p.Text == "" && len(p.Media) == 0 && p.Sticker == nil && p.Poll == nil {
		return proto.Errorf(proto.Code_BAD_REQUEST, "a post needs text, media, a sticker or a poll")
	}
	if len(p.Media) > proto.MaxPostMedia {
		return proto.Errorf(proto.Code_TOO_LARGE, "a post carries at most %d media; this one has %d", proto.MaxPostMedia, len(p.Media))
	}
	for i, m := range p.Media {
		if err := validateMedia(i, m); err != nil {
			return err
		}
	}
	if s := p.Sticker; s != nil {
		if !ValidMediaHash(s.Hash) {
			return proto.Errorf(proto.Code_BAD_REQUEST, "the sticker's hash is not a media hash (64 lower-case hex digits)")
		}
		if s.Emoji != "" && !ValidEmoji(s.Emoji) {
			return proto.Errorf(proto.Code_BAD_REQUEST, "the sticker's emoji is not an emoji")
		}
	}
	if p.Poll != nil {
		return ValidatePoll(p.Poll)
	}
	return nil
}

func validateMedia(i int, m *proto.Media) error {
	if m == nil || !ValidMediaHash(m.Hash) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "media %d has no valid hash (64 lower-case hex digits)", i)
	}
	if !ValidMediaType(m.Mime) {
		return proto.Errorf(proto.Code_UNSUPPORTED_MEDIA, "media %d has type %q; allowed: %s", i, m.Mime, strings.Join(MediaTypes, ", "))
	}
	if m.Size == 0 || m.Size > proto.MaxMediaBytes {
		return proto.Errorf(proto.Code_TOO_LARGE, "media %d has size %d; the limit is %d bytes", i, m.Size, proto.MaxMediaBytes)
	}
	if m.Thumbnail != "" && !ValidMediaHash(m.Thumbnail) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "media %d has an invalid thumbnail hash", i)
	}
	return text("a media caption", m.Caption, proto.MaxCaptionBytes)
}

// ValidatePoll checks a poll: a question, 2..proto.MaxPollOptions distinct
// non-empty options, each within its byte limit.
func ValidatePoll(p *proto.Poll) error {
	if err := text("the poll question", p.Question, proto.MaxPollQuestionBytes); err != nil {
		return err
	}
	if strings.TrimSpace(p.Question) == "" {
		return proto.Errorf(proto.Code_BAD_REQUEST, "a poll needs a question")
	}
	if len(p.Options) > proto.MaxPollOptions {
		return proto.Errorf(proto.Code_TOO_LARGE, "a poll has at most %d options; this one has %d", proto.MaxPollOptions, len(p.Options))
	}
	if len(p.Options) < 2 {
		return proto.Errorf(proto.Code_BAD_REQUEST, "a poll needs at least 2 options")
	}
	seen := make(map[string]bool, len(p.Options))
	for i, o := range p.Options {
		if err := text("a poll option", o, proto.MaxPollOptionBytes); err != nil {
			return err
		}
		if strings.TrimSpace(o) == "" {
			return proto.Errorf(proto.Code_BAD_REQUEST, "poll option %d is empty", i)
		}
		if seen[o] {
			return proto.Errorf(proto.Code_BAD_REQUEST, "poll option %q appears twice", o)
		}
		seen[o] = true
	}
	return nil
}

// ValidateEdit checks that next may replace prev: same channel and post,
// the next version number, and the same poll (votes were cast on it).
func ValidateEdit(prev, next *proto.Post) error {
	if next.ChannelId != prev.ChannelId || string(next.PostId) != string(prev.PostId) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "an edit must keep the post's channel and id")
	}
	if next.Version != prev.Version+1 {
		return proto.Errorf(proto.Code_CONFLICT, "the post is at version %d; an edit must be version %d (fetch the post and edit again)", prev.Version, prev.Version+1)
	}
	if !gproto.Equal(prev.Poll, next.Poll) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "a poll cannot be changed or added once posted; post a new poll")
	}
	return nil
}

// CheckVote checks a follower's vote against the poll: options exist, no
// option twice, at most one unless the poll allows several. No options
// withdraws the vote and is always valid.
func CheckVote(p *proto.Poll, options []uint32) error {
	if p == nil {
		return proto.Errorf(proto.Code_BAD_REQUEST, "this post has no poll")
	}
	if len(options) > 1 && !p.Multiple {
		return proto.Errorf(proto.Code_BAD_REQUEST, "this poll allows one choice; you sent %d", len(options))
	}
	seen := make(map[uint32]bool, len(options))
	for _, o := range options {
		if int64(o) >= int64(len(p.Options)) {
			return proto.Errorf(proto.Code_BAD_REQUEST, "the poll has no option %d (it has %d, numbered from 0)", o, len(p.Options))
		}
		if seen[o] {
			return proto.Errorf(proto.Code_BAD_REQUEST, "option %d is chosen twice", o)
		}
		seen[o] = true
	}
	return nil
}

// CheckReaction checks a follower's reaction against the channel's allowed
// set. An empty emoji removes the reaction and is always valid.
func CheckReaction(allowed []string, emoji string) error {
	if emoji == "" {
		return nil
	}
	if !slices.Contains(allowed, emoji) {
		if len(allowed) == 0 {
			return proto.Errorf(proto.Code_BAD_REQUEST, "this channel does not allow reactions")
		}
		return proto.Errorf(proto.Code_BAD_REQUEST, "this channel allows only these reactions: %s", strings.Join(allowed, " "))
	}
	return nil
}

// ValidateInfo checks one version of a channel's info on its own.
func ValidateInfo(info *proto.ChannelInfo) error {
	if info == nil {
		return proto.Errorf(proto.Code_BAD_REQUEST, "the channel info is empty")
	}
	if !ValidID(info.ChannelId) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "the channel info names no valid channel id")
	}
	if info.Version < 1 {
		return proto.Errorf(proto.Code_BAD_REQUEST, "the channel info's first version is 1")
	}
	if err := text("the channel name", info.Name, proto.MaxChannelNameBytes); err != nil {
		return err
	}
	if strings.TrimSpace(info.Name) == "" {
		return proto.Errorf(proto.Code_BAD_REQUEST, "a channel needs a name")
	}
	if strings.ContainsAny(info.Name, "\n\t") {
		return proto.Errorf(proto.Code_BAD_REQUEST, "a channel name is one line")
	}
	if err := text("the channel description", info.Description, proto.MaxChannelDescriptionBytes); err != nil {
		return err
	}
	if info.Icon != "" && !ValidMediaHash(info.Icon) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "the icon is not a media hash (64 lower-case hex digits)")
	}
	if !ValidCategory(info.Category) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "category %q is not one of: %s", info.Category, strings.Join(Categories, ", "))
	}
	if !ValidCountry(info.Country) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "country %q is not a two-letter ISO 3166 code such as FR (or empty)", info.Country)
	}
	if len(info.Reactions) > proto.MaxChannelReactions {
		return proto.Errorf(proto.Code_TOO_LARGE, "a channel allows at most %d reactions; this one lists %d", proto.MaxChannelReactions, len(info.Reactions))
	}
	seen := make(map[string]bool, len(info.Reactions))
	for _, r := range info.Reactions {
		if !ValidEmoji(r) {
			return proto.Errorf(proto.Code_BAD_REQUEST, "reaction %q is not an emoji", r)
		}
		if seen[r] {
			return proto.Errorf(proto.Code_BAD_REQUEST, "reaction %q is listed twice", r)
		}
		seen[r] = true
	}
	return nil
}

// ValidCountry accepts "" or two upper-case ASCII letters.
func ValidCountry(c string) bool {
	if c == "" {
		return true
	}
	return len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z'
}

// CheckInfoUpdate checks that next may replace prev, changed by someone of
// role: the next version, the same channel, and, for an admin, only the
// fields admins may change (name, description, icon, reactions); listing,
// category, country and review stay the owner's.
func CheckInfoUpdate(prev, next *proto.ChannelInfo, role proto.ChannelRole) error {
	if next.ChannelId != prev.ChannelId {
		return proto.Errorf(proto.Code_BAD_REQUEST, "the info names another channel")
	}
	if next.Version != prev.Version+1 {
		return proto.Errorf(proto.Code_CONFLICT, "the channel info is at version %d; a change must be version %d (fetch the channel and retry)", prev.Version, prev.Version+1)
	}
	switch role {
	case proto.ChannelRole_CHANNEL_ROLE_OWNER:
		return nil
	case proto.ChannelRole_CHANNEL_ROLE_ADMIN:
		if next.Listed != prev.Listed || next.Category != prev.Category || next.Country != prev.Country || next.ReviewRequired != prev.ReviewRequired {
			return proto.Errorf(proto.Code_FORBIDDEN, "only the owner can change the listing, category, country or review setting")
		}
		return nil
	}
	return proto.Errorf(proto.Code_FORBIDDEN, "only the channel's owner and admins can change it")
}
