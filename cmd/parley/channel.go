package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
)

// channelCmd groups the channel commands. The subcommands are in
// channel_*.go: this file has the channel itself (create, edit, link,
// list, delete) and the output helpers.
func (a *app) channelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "channel",
		Short: "Run or follow channels: one-way, signed broadcasts",
		Long: `Channels are one-way broadcasts: an owner and up to 16 admins post, any
number of followers read, react and vote. They are public (not end-to-end
encrypted) but every post is signed with the channel's own key, which only
the owner's and admins' devices hold, and this client checks every
signature: not even the server can forge or alter a post. Nobody can see
who follows, who reacted or who voted; followers never learn who the
admins are. Posts disappear 30 days after publication.

Channel ids look like c followed by 16 letters and digits; post ids are 32
hex digits (shown by 'updates', 'drafts' and 'post'). Every subcommand
takes --json for machine-readable output. See docs/channels.md.`,
	}
	cmd.AddCommand(
		a.channelCreateCmd(), a.channelEditCmd(), a.channelLinkCmd(), a.channelListCmd(), a.channelDeleteCmd(),
		a.channelPostCmd(false), a.channelPostCmd(true), a.channelDraftsCmd(), a.channelApproveCmd(),
		a.channelDeletePostCmd(), a.channelForwardCmd(),
		a.channelFollowCmd(), a.channelUnfollowCmd(), a.channelMuteCmd(), a.channelUpdatesCmd(),
		a.channelReactCmd(), a.channelVoteCmd(), a.channelStatsCmd(), a.channelAdminsCmd(),
		a.channelDirectoryCmd(), a.channelReportCmd(),
	)
	return cmd
}

// printJSON writes v as one line of JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// jsonChannel is a channel in --json output.
type jsonChannel struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Description    string    `json:"description,omitempty"`
	Icon           string    `json:"icon,omitempty"`
	Category       string    `json:"category"`
	Country        string    `json:"country,omitempty"`
	Listed         bool      `json:"listed"`
	Reactions      []string  `json:"reactions"`
	ReviewRequired bool      `json:"review_required"`
	Followers      uint64    `json:"followers"`
	Verified       bool      `json:"verified"`
	Suspended      bool      `json:"suspended"`
	Role           string    `json:"role,omitempty"`
	Muted          bool      `json:"muted"`
	Checked        bool      `json:"signature_checked"`
	KeyIndex       uint32    `json:"key_index"`
	Created        time.Time `json:"created"`
	PostsLastWeek  uint32    `json:"posts_last_week"`
	Link           string    `json:"link,omitempty"`
}

func roleName(r proto.ChannelRole) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "CHANNEL_ROLE_"))
}

func toJSONChannel(ch client.Channel) jsonChannel {
	reactions := ch.Reactions
	if reactions == nil {
		reactions = []string{}
	}
	role := roleName(ch.Role)
	if role == "none" {
		role = ""
	}
	return jsonChannel{ID: ch.ID, Name: ch.Name, Description: ch.Description, Icon: ch.Icon, Category: ch.Category,
		Country: ch.Country, Listed: ch.Listed, Reactions: reactions, ReviewRequired: ch.ReviewRequired,
		Followers: ch.Followers, Verified: ch.Verified, Suspended: ch.Suspended, Role: role, Muted: ch.Muted,
		Checked: ch.Checked, KeyIndex: ch.KeyIndex, Created: ch.Created.UTC(), PostsLastWeek: ch.PostsLastWeek}
}

func printChannel(w io.Writer, ch client.Channel, asJSON bool, link string) error {
	if asJSON {
		j := toJSONChannel(ch)
		j.Link = link
		return printJSON(w, j)
	}
	badge := ""
	if ch.Verified {
		badge = " ✓"
	}
	fmt.Fprintf(w, "%s  %s%s\n", ch.ID, ch.Name, badge)
	if ch.Description != "" {
		fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(ch.Description, "\n", "\n  "))
	}
	var facts []string
	facts = append(facts, ch.Category)
	if ch.Country != "" {
		facts = append(facts, ch.Country)
	}
	facts = append(facts, fmt.Sprintf("%d followers", ch.Followers))
	if r := roleName(ch.Role); r != "none" {
		facts = append(facts, "you: "+r)
	}
	if ch.Listed {
		facts = append(facts, "listed")
	}
	if ch.ReviewRequired {
		facts = append(facts, "review required")
	}
	if ch.Muted {
		facts = append(facts, "muted")
	}
	if ch.Suspended {
		facts = append(facts, "SUSPENDED")
	}
	if !ch.Checked {
		facts = append(facts, "not verified yet")
	}
	fmt.Fprintf(w, "  %s\n", strings.Join(facts, " · "))
	if len(ch.Reactions) > 0 {
		fmt.Fprintf(w, "  reactions: %s\n", strings.Join(ch.Reactions, " "))
	}
	if link != "" {
		fmt.Fprintf(w, "  invite link: %s\n", link)
	}
	return nil
}

// settingsFlags are the flags that describe a channel.
type settingsFlags struct {
	name, description, icon, category, country, reactions string
	listed, review                                        bool
}

func (f *settingsFlags) register(cmd *cobra.Command, create bool) {
	fs := cmd.Flags()
	if !create {
		fs.StringVar(&f.name, "name", "", "new name")
	}
	fs.StringVar(&f.description, "description", "", "what the channel is about")
	fs.StringVar(&f.icon, "icon", "", "image file for the channel's icon (JPEG, PNG, GIF or WebP)")
	fs.StringVar(&f.category, "category", "other", "directory category: "+strings.Join(channel.Categories, ", "))
	fs.StringVar(&f.country, "country", "", "two-letter country code (e.g. FR), for the directory")
	fs.StringVar(&f.reactions, "reactions", strings.Join(channel.DefaultReactions, ","), "comma-separated emoji followers may react with (empty: none)")
	fs.BoolVar(&f.listed, "listed", false, "show the channel in the server's directory")
	fs.BoolVar(&f.review, "review", false, "review required: an admin's post is published only after the owner or another admin approves it")
}

// apply copies the flags that were given (all of them on create).
func (f *settingsFlags) apply(cmd *cobra.Command, s *client.ChannelSettings, create bool) {
	set := func(name string) bool { return create || cmd.Flags().Changed(name) }
	if set("name") && f.name != "" {
		s.Name = f.name
	}
	if set("description") {
		s.Description = f.description
	}
	if set("category") {
		s.Category = f.category
	}
	if set("country") {
		s.Country = strings.ToUpper(f.country)
	}
	if set("reactions") {
		s.Reactions = nil
		for _, r := range strings.Split(f.reactions, ",") {
			if r = strings.TrimSpace(r); r != "" {
				s.Reactions = append(s.Reactions, r)
			}
		}
	}
	if set("listed") {
		s.Listed = f.listed
	}
	if set("review") {
		s.ReviewRequired = f.review
	}
}

// uploadIcon uploads an icon file and returns its media hash.
func uploadIcon(ctx context.Context, c *client.Client, id, path string) (string, error) {
	b, err := readMediaFile(path)
	if err != nil {
		return "", err
	}
	m, err := c.UploadMedia(ctx, id, b, "", "")
	if err != nil {
		return "", fmt.Errorf("upload icon %s: %w", path, err)
	}
	return m.Hash, nil
}

// readMediaFile reads a media file, refusing one over the upload limit
// before reading it all.
func readMediaFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > proto.MaxMediaBytes {
		return nil, &proto.Error{Code: proto.Code_TOO_LARGE, Message: fmt.Sprintf("%s is %d bytes; media is at most %d bytes (compress it first)", path, st.Size(), proto.MaxMediaBytes)}
	}
	return os.ReadFile(path)
}

func (a *app) channelCreateCmd() *cobra.Command {
	var f settingsFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create NAME [flags]",
		Short: "Create a channel owned by this account",
		Long: `Create a channel named NAME, owned by this account. This device generates
the channel's signing key; your other devices get it through an
end-to-end-encrypted conversation, the server never does. Prints the
channel id and its invite link (share the link; with --listed the channel
is also in the server's directory).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				s := client.ChannelSettings{Name: args[0]}
				f.apply(cmd, &s, true)
				ch, err := c.CreateChannel(ctx, s)
				if err != nil {
					return fmt.Errorf("create channel: %w", err)
				}
				if f.icon != "" {
					hash, err := uploadIcon(ctx, c, ch.ID, f.icon)
					if err != nil {
						return err
					}
					if ch, err = c.EditChannel(ctx, ch.ID, func(s *client.ChannelSettings) { s.Icon = hash }); err != nil {
						return fmt.Errorf("set icon: %w", err)
					}
				}
				link, err := c.ChannelLink(ctx, ch.ID, false)
				if err != nil {
					return err
				}
				return printChannel(cmd.OutOrStdout(), ch, asJSON, link)
			})
		},
	}
	f.register(cmd, true)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the channel as JSON")
	return cmd
}

func (a *app) channelEditCmd() *cobra.Command {
	var f settingsFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "edit CHANNEL [flags]",
		Short: "Change a channel's name, description, icon, reactions or settings",
		Long: `Change what the flags given say; everything else stays. Admins may change
the name, description, icon and reactions; the listing, category, country
and review setting are the owner's.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				icon := ""
				if f.icon != "" {
					var err error
					if icon, err = uploadIcon(ctx, c, args[0], f.icon); err != nil {
						return err
					}
				}
				ch, err := c.EditChannel(ctx, args[0], func(s *client.ChannelSettings) {
					f.apply(cmd, s, false)
					if icon != "" {
						s.Icon = icon
					}
				})
				if err != nil {
					return fmt.Errorf("edit channel: %w", err)
				}
				return printChannel(cmd.OutOrStdout(), ch, asJSON, "")
			})
		},
	}
	f.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the channel as JSON")
	return cmd
}

func (a *app) channelLinkCmd() *cobra.Command {
	var reset, asJSON bool
	cmd := &cobra.Command{
		Use:   "link CHANNEL [--reset]",
		Short: "Print the channel's invite link (owner and admins)",
		Long: `Print the link people follow the channel with ('parley channel follow LINK').
With --reset the link is replaced: the old one stops working (followers
who joined with it stay).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				link, err := c.ChannelLink(ctx, args[0], reset)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), map[string]string{"channel": args[0], "link": link})
				}
				fmt.Fprintln(cmd.OutOrStdout(), link)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&reset, "reset", false, "replace the link; the old one stops working")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print {channel, link} as JSON")
	return cmd
}

func (a *app) channelListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the channels you follow or help run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				chs, err := c.Channels(ctx)
				if err != nil {
					return err
				}
				for _, ch := range chs {
					if err := printChannel(cmd.OutOrStdout(), ch, asJSON, ""); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per channel")
	return cmd
}

func (a *app) channelDeleteCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "delete CHANNEL",
		Short: "Delete a channel with all its posts (owner only)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.DeleteChannel(ctx, args[0]); err != nil {
					return err
				}
				return done(cmd.OutOrStdout(), asJSON, "deleted channel "+args[0])
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"ok": true} as JSON`)
	return cmd
}

// done prints a confirmation, as text or {"ok": true, "message": ...}.
func done(w io.Writer, asJSON bool, msg string) error {
	if asJSON {
		return printJSON(w, map[string]any{"ok": true, "message": msg})
	}
	_, err := fmt.Fprintln(w, msg)
	return err
}

// parsePostID reads a post id given as 32 hex digits.
func parsePostID(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != proto.PostIDBytes {
		return nil, &proto.Error{Code: proto.Code_BAD_REQUEST, Message: fmt.Sprintf("%q is not a post id (32 hex digits, as printed by 'updates' or 'drafts')", s)}
	}
	return b, nil
}
