package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
)

// jsonPost is a post in --json output.
type jsonPost struct {
	Channel    string            `json:"channel"`
	ID         string            `json:"id"`
	Version    uint32            `json:"version"`
	State      string            `json:"state"`
	Text       string            `json:"text,omitempty"`
	Media      []jsonMedia       `json:"media,omitempty"`
	Sticker    string            `json:"sticker,omitempty"`
	Poll       *jsonPoll         `json:"poll,omitempty"`
	Reactions  map[string]uint64 `json:"reactions,omitempty"`
	MyReaction string            `json:"my_reaction,omitempty"`
	Published  *time.Time        `json:"published,omitempty"`
	PublishAt  *time.Time        `json:"publish_at,omitempty"`
	Expires    *time.Time        `json:"expires,omitempty"`
	Edited     bool              `json:"edited"`
	Deleted    bool              `json:"deleted,omitempty"`
	Mine       bool              `json:"mine,omitempty"`
	KeyIndex   uint32            `json:"key_index"`
}

type jsonMedia struct {
	Hash      string `json:"hash"`
	Mime      string `json:"mime"`
	Size      uint64 `json:"size"`
	Width     uint32 `json:"width,omitempty"`
	Height    uint32 `json:"height,omitempty"`
	Thumbnail string `json:"thumbnail,omitempty"`
	Caption   string `json:"caption,omitempty"`
}

type jsonPoll struct {
	Question string   `json:"question"`
	Options  []string `json:"options"`
	Multiple bool     `json:"multiple"`
	Counts   []uint64 `json:"counts,omitempty"`
	MyVotes  []uint32 `json:"my_votes,omitempty"` // numbered from 1, as the vote command takes them
}

func stateName(s proto.ChannelPostState) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(s.String(), "CHANNEL_POST_STATE_"), "CHANNEL_POST_"))
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func toJSONPost(p client.Post) jsonPost {
	j := jsonPost{Channel: p.ChannelID, ID: hex.EncodeToString(p.ID), Version: p.Version, State: stateName(p.State),
		Text: p.Text, MyReaction: p.MyReaction, Published: timePtr(p.Published), PublishAt: timePtr(p.PublishAt),
		Expires: timePtr(p.Expires), Edited: p.Edited, Deleted: p.Deleted, Mine: p.Mine, KeyIndex: p.KeyIndex}
	for _, m := range p.Media {
		j.Media = append(j.Media, jsonMedia{Hash: m.Hash, Mime: m.Mime, Size: m.Size, Width: m.Width, Height: m.Height,
			Thumbnail: m.Thumbnail, Caption: m.Caption})
	}
	if p.Sticker != nil {
		j.Sticker = p.Sticker.Emoji + " " + p.Sticker.Hash
	}
	if p.Poll != nil {
		j.Poll = &jsonPoll{Question: p.Poll.Question, Options: p.Poll.Options, Multiple: p.Poll.Multiple, Counts: p.PollCounts}
		for _, v := range p.MyVotes {
			j.Poll.MyVotes = append(j.Poll.MyVotes, v+1)
		}
	}
	if len(p.Reactions) > 0 {
		j.Reactions = map[string]uint64{}
		for _, r := range p.Reactions {
			j.Reactions[r.Emoji] = r.Count
		}
	}
	return j
}

// printPost prints a post as text (a header line, the content indented)
// or one JSON object.
func printPost(w io.Writer, p client.Post, channelName string, asJSON bool) error {
	if asJSON {
		return printJSON(w, toJSONPost(p))
	}
	head := channelName
	if head == "" {
		head = p.ChannelID
	}
	when := p.Published
	switch p.State {
	case proto.ChannelPostState_CHANNEL_POST_DRAFT:
		head += " [draft]"
	case proto.ChannelPostState_CHANNEL_POST_SCHEDULED:
		head += " [scheduled " + p.PublishAt.Local().Format(time.DateTime) + "]"
	case proto.ChannelPostState_CHANNEL_POST_PENDING_REVIEW:
		head += " [waiting for review]"
	}
	if !when.IsZero() {
		head += " " + when.Local().Format(time.DateTime)
	}
	if p.Edited {
		head += " (edited)"
	}
	fmt.Fprintf(w, "%s  post %x\n", head, p.ID)
	if p.Deleted {
		fmt.Fprintln(w, "  (deleted)")
		return nil
	}
	if p.Text != "" {
		fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(p.Text, "\n", "\n  "))
	}
	for _, m := range p.Media {
		fmt.Fprintf(w, "  [%s %d bytes %s]", m.Mime, m.Size, m.Hash)
		if m.Caption != "" {
			fmt.Fprintf(w, " %s", m.Caption)
		}
		fmt.Fprintln(w)
	}
	if p.Sticker != nil {
		fmt.Fprintf(w, "  [sticker %s %s]\n", p.Sticker.Emoji, p.Sticker.Hash)
	}
	if p.Poll != nil {
		kind := "one choice"
		if p.Poll.Multiple {
			kind = "several choices"
		}
		fmt.Fprintf(w, "  poll (%s): %s\n", kind, p.Poll.Question)
		for i, o := range p.Poll.Options {
			count := ""
			if i < len(p.PollCounts) {
				count = fmt.Sprintf("  (%d)", p.PollCounts[i])
			}
			fmt.Fprintf(w, "    %d. %s%s\n", i+1, o, count)
		}
	}
	if len(p.Reactions) > 0 {
		var rs []string
		for _, r := range p.Reactions {
			rs = append(rs, fmt.Sprintf("%s %d", r.Emoji, r.Count))
		}
		fmt.Fprintf(w, "  %s\n", strings.Join(rs, "  "))
	}
	return nil
}

// postFlags describe a post's content and its publication.
type postFlags struct {
	images, videos          []string
	caption                 string
	sticker, stickerEmoji   string
	poll                    string
	options                 []string
	multiple, draft, asJSON bool
	at                      string
}

func (f *postFlags) register(cmd *cobra.Command, schedule bool) {
	fs := cmd.Flags()
	fs.StringArrayVar(&f.images, "image", nil, "attach an image file (JPEG, PNG, GIF, WebP); repeatable")
	fs.StringArrayVar(&f.videos, "video", nil, "attach a video file (MP4, WebM; not transcoded: compress it first); repeatable")
	fs.StringVar(&f.caption, "caption", "", "caption of the attached media")
	fs.StringVar(&f.sticker, "sticker", "", "post a sticker: an image file")
	fs.StringVar(&f.stickerEmoji, "sticker-emoji", "", "the emoji the sticker stands for")
	fs.StringVar(&f.poll, "poll", "", "attach a poll with this question (give its options with --option)")
	fs.StringArrayVar(&f.options, "option", nil, "a poll option; 2 to 12 of them")
	fs.BoolVar(&f.multiple, "multiple", false, "the poll allows several choices")
	fs.BoolVar(&f.draft, "draft", false, "keep it as a draft, visible to the owner and admins only")
	if !schedule {
		fs.StringVar(&f.at, "at", "", "schedule publication: a time (2026-05-01T08:00, RFC 3339) or a delay (+2h)")
	}
	fs.BoolVar(&f.asJSON, "json", false, "print the post as JSON")
}

// parseWhen reads an absolute time (RFC 3339, or local date and time) or
// a delay from now ("+2h30m").
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "+") {
		d, err := time.ParseDuration(s[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("delay %q: %w", s, err)
		}
		return now.Add(d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04", time.DateTime} {
		var t time.Time
		var err error
		if layout == time.RFC3339 {
			t, err = time.Parse(layout, s)
		} else {
			t, err = time.ParseInLocation(layout, s, time.Local)
		}
		if err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: use 2026-05-01T08:00 (local), RFC 3339 or +2h", s)
}

// content uploads the attached files and builds the post content.
func (f *postFlags) content(ctx context.Context, c *client.Client, id, text string) (client.PostContent, error) {
	pc := client.PostContent{Text: text}
	for _, path := range append(append([]string{}, f.images...), f.videos...) {
		b, err := readMediaFile(path)
		if err != nil {
			return pc, err
		}
		m, err := c.UploadMedia(ctx, id, b, "", f.caption)
		if err != nil {
			return pc, fmt.Errorf("upload %s: %w", path, err)
		}
		pc.Media = append(pc.Media, m)
	}
	if f.sticker != "" {
		b, err := readMediaFile(f.sticker)
		if err != nil {
			return pc, err
		}
		m, err := c.UploadMedia(ctx, id, b, "", "")
		if err != nil {
			return pc, fmt.Errorf("upload sticker %s: %w", f.sticker, err)
		}
		pc.Sticker = &proto.Sticker{Hash: m.Hash, Emoji: f.stickerEmoji}
	}
	if f.poll != "" || len(f.options) > 0 {
		pc.Poll = &proto.Poll{Question: f.poll, Options: f.options, Multiple: f.multiple}
	}
	return pc, nil
}

func (a *app) channelPostCmd(schedule bool) *cobra.Command {
	var f postFlags
	use, short := "post CHANNEL [TEXT] [flags]", "Sign and publish a post (owner and admins)"
	long := `Sign a post with the channel key and publish it: text (links are fine),
images and videos (--image, --video), a sticker (--sticker), a poll
(--poll QUESTION --option A --option B [--multiple]). With --draft it stays
a draft for the team; with --at it is published at that time. Under the
channel's "review required" setting an admin's post waits until the owner
or another admin approves it ('parley channel approve'). Posts expire 30
days after publication.`
	if schedule {
		use, short = "schedule CHANNEL TIME [TEXT] [flags]", "Sign a post now and have the server publish it at TIME"
		long = `Like 'post', published by the server at TIME: a local date and time
(2026-05-01T08:00), RFC 3339, or a delay such as +2h. The post is signed
now; TIME must be in the future (at most 30 days ahead).`
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.RangeArgs(map[bool]int{false: 1, true: 2}[schedule], map[bool]int{false: 2, true: 3}[schedule]),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, rest := args[0], args[1:]
			when := f.at
			if schedule {
				when, rest = rest[0], rest[1:]
			}
			text := strings.Join(rest, " ")
			var opts client.PublishOptions
			opts.Draft = f.draft
			if when != "" {
				t, err := parseWhen(when, time.Now())
				if err != nil {
					return err
				}
				opts.At = t
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				pc, err := f.content(ctx, c, id, text)
				if err != nil {
					return err
				}
				p, err := c.Publish(ctx, id, pc, opts)
				if err != nil {
					return fmt.Errorf("post to %s: %w", id, err)
				}
				return printPost(cmd.OutOrStdout(), p, "", f.asJSON)
			})
		},
	}
	f.register(cmd, schedule)
	return cmd
}

func (a *app) channelDraftsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "drafts CHANNEL",
		Short: "List drafts, scheduled posts and posts waiting for review (owner and admins)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				ps, err := c.Drafts(ctx, args[0])
				if err != nil {
					return err
				}
				for _, p := range ps {
					if err := printPost(cmd.OutOrStdout(), p, "", asJSON); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per post")
	return cmd
}

func (a *app) channelApproveCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "approve CHANNEL POST",
		Short: "Approve a post waiting for review (owner, or an admin who did not write it)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			postID, err := parsePostID(args[1])
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				p, err := c.ApprovePost(ctx, args[0], postID)
				if err != nil {
					return err
				}
				return printPost(cmd.OutOrStdout(), p, "", asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the post as JSON")
	return cmd
}

func (a *app) channelDeletePostCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "delete-post CHANNEL POST",
		Short: "Delete a post (owner and admins); followers delete their copy",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			postID, err := parsePostID(args[1])
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.DeletePost(ctx, args[0], postID); err != nil {
					return err
				}
				return done(cmd.OutOrStdout(), asJSON, fmt.Sprintf("deleted post %x", postID))
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"ok": true} as JSON`)
	return cmd
}

func (a *app) channelForwardCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "forward CHANNEL POST @handle",
		Short: "Forward a post into your chat with @handle (it stays verifiable)",
		Long: `Send the post, exactly as the channel signed it, into the end-to-end
encrypted chat with @handle; their client checks it against the channel's
key, so it cannot be altered on the way.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			postID, err := parsePostID(args[1])
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				m, err := c.ForwardPost(ctx, args[2], args[0], postID)
				if err != nil {
					return err
				}
				return done(cmd.OutOrStdout(), asJSON, fmt.Sprintf("forwarded to %s: %s", args[2], m.Text))
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"ok": true} as JSON`)
	return cmd
}
