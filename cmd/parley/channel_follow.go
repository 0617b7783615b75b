package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
)

func (a *app) channelFollowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "follow LINK|CHANNEL",
		Short: "Follow a channel by invite link, or a listed channel by id",
		Long: `Follow a channel: give its invite link (parley://channel/...) or, for a
channel listed in the directory, its id. Nobody — not the channel's admins,
not other followers — can see that you follow it. Then read its posts with
'parley channel updates'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				ch, err := c.Follow(ctx, args[0])
				if err != nil {
					return fmt.Errorf("follow: %w", err)
				}
				return printChannel(cmd.OutOrStdout(), ch, asJSON, "")
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the channel as JSON")
	return cmd
}

func (a *app) channelUnfollowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "unfollow CHANNEL",
		Short: "Stop following a channel and forget its posts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.Unfollow(ctx, args[0]); err != nil {
					return err
				}
				return done(cmd.OutOrStdout(), asJSON, "unfollowed "+args[0])
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"ok": true} as JSON`)
	return cmd
}

func (a *app) channelMuteCmd() *cobra.Command {
	var off, asJSON bool
	cmd := &cobra.Command{
		Use:   "mute CHANNEL [--off]",
		Short: "Mute a followed channel (no new-post notifications), or unmute it",
		Long: `Mute a channel: the server stops notifying this account's devices of new
posts; 'parley channel updates' still fetches them. --off unmutes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.MuteChannel(ctx, args[0], !off); err != nil {
					return err
				}
				msg := "muted " + args[0]
				if off {
					msg = "unmuted " + args[0]
				}
				return done(cmd.OutOrStdout(), asJSON, msg)
			})
		},
	}
	cmd.Flags().BoolVar(&off, "off", false, "unmute")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"ok": true} as JSON`)
	return cmd
}

func (a *app) channelUpdatesCmd() *cobra.Command {
	var wait time.Duration
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "updates [CHANNEL] [--wait 5s] [--all]",
		Short: "Fetch and print new posts of the channels you follow",
		Long: `Fetch what the followed channels (or only CHANNEL) published since the last
time, verify every post against its channel's key, and print the posts not
shown yet (each post once; edits and deletions again). Posts that fail
verification are never shown: a warning goes to stderr. With --wait D,
wait up to D for a post when none is new. With --all, print every post
still held (posts disappear 30 days after publication). Printed posts
count as viewed (only counts reach the channel, never who).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.online(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			events := make(chan client.ChannelPostEvent, 64)
			stopEvents := a.drainChannel(c, events)
			defer stopEvents()
			only := ""
			if len(args) == 1 {
				only = args[0]
				_, err = c.SyncChannel(ctx, only)
			} else {
				err = c.SyncChannels(ctx)
			}
			if err != nil {
				fmt.Fprintln(a.stderr, "warning:", err)
			}
			names := map[string]string{}
			name := func(id string) string {
				if n, ok := names[id]; ok {
					return n
				}
				if ch, err := c.GetChannel(ctx, id); err == nil {
					names[id] = ch.Name
				}
				return names[id]
			}
			var posts []client.Post
			if all {
				ids := []string{only}
				if only == "" {
					chs, err := c.Channels(ctx)
					if err != nil {
						return err
					}
					ids = ids[:0]
					for _, ch := range chs {
						ids = append(ids, ch.ID)
					}
				}
				for _, id := range ids {
					ps, err := c.ChannelPosts(ctx, id, 1000)
					if err != nil {
						return err
					}
					posts = append(posts, ps...)
				}
			} else if posts, err = c.UnshownChannelPosts(ctx); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			var shown []client.Post
			printed := map[string]bool{}
			show := func(p client.Post) error {
				key := fmt.Sprintf("%s/%x/%d", p.ChannelID, p.ID, p.Version)
				if only != "" && p.ChannelID != only || printed[key] {
					return nil
				}
				printed[key] = true
				shown = append(shown, p)
				return printPost(out, p, name(p.ChannelID), asJSON)
			}
			for _, p := range posts {
				if err := show(p); err != nil {
					return err
				}
			}
			if len(shown) == 0 && wait > 0 {
				timer := time.NewTimer(wait)
				defer timer.Stop()
			loop:
				for {
					select {
					case ev := <-events:
						if ev.New {
							if err := show(ev.Post); err != nil {
								return err
							}
							timer.Reset(recvLinger)
						}
					case <-timer.C:
						break loop
					case <-ctx.Done():
						break loop
					}
				}
			}
			if len(shown) > 0 {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), connectTimeout)
				defer cancel()
				if err := c.MarkPostsShown(rctx, shown...); err != nil {
					fmt.Fprintln(a.stderr, "warning: views not counted:", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "how long to wait for a new post when none is waiting")
	cmd.Flags().BoolVar(&all, "all", false, "print every post still held, not only new ones")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per post")
	return cmd
}

// drainChannel consumes the client's events until stopped, passing new
// channel posts to posts (when it has room) and printing warnings.
func (a *app) drainChannel(c *client.Client, posts chan<- client.ChannelPostEvent) (stop func()) {
	return drainWith(c, func(ev client.Event) {
		switch e := ev.(type) {
		case client.ChannelPostEvent:
			select {
			case posts <- e:
			default:
			}
		case client.ChannelWarningEvent:
			fmt.Fprintf(a.stderr, "WARNING: channel %s: %v\n", e.ChannelID, e.Err)
		default:
			a.warn(ev)
		}
	})
}

func (a *app) channelReactCmd() *cobra.Command {
	var remove, asJSON bool
	cmd := &cobra.Command{
		Use:   "react CHANNEL POST EMOJI | react CHANNEL POST --remove",
		Short: "React to a post with one of the channel's emoji (or remove your reaction)",
		Long: `React to a post: one reaction per post and account, a new one replaces
the old. Only the emoji the channel allows are accepted. Nobody sees who
reacted; the channel shows counts per emoji.`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			postID, err := parsePostID(args[1])
			if err != nil {
				return err
			}
			emoji := ""
			switch {
			case remove && len(args) == 3, !remove && len(args) == 2:
				return fmt.Errorf("give an EMOJI, or --remove without one")
			case !remove:
				emoji = args[2]
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				p, err := c.React(ctx, args[0], postID, emoji)
				if err != nil {
					return err
				}
				return printPost(cmd.OutOrStdout(), p, "", asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&remove, "remove", false, "remove your reaction")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the post (with counts) as JSON")
	return cmd
}

func (a *app) channelVoteCmd() *cobra.Command {
	var withdraw, asJSON bool
	cmd := &cobra.Command{
		Use:   "vote CHANNEL POST OPTION... | vote CHANNEL POST --withdraw",
		Short: "Vote in a post's poll (options numbered from 1), or withdraw your vote",
		Long: `Vote in a poll: OPTION is the number printed before it (from 1); several
numbers for a poll that allows several choices. Voting again replaces your
vote. Votes are anonymous: only counts per option are shown.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			postID, err := parsePostID(args[1])
			if err != nil {
				return err
			}
			if withdraw != (len(args) == 2) {
				return fmt.Errorf("give the option numbers, or --withdraw without any")
			}
			var options []uint32
			for _, s := range args[2:] {
				n, err := strconv.ParseUint(s, 10, 32)
				if err != nil || n == 0 {
					return &proto.Error{Code: proto.Code_BAD_REQUEST, Message: fmt.Sprintf("option %q: give the option's number, from 1", s)}
				}
				options = append(options, uint32(n-1))
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				p, err := c.Vote(ctx, args[0], postID, options...)
				if err != nil {
					return err
				}
				return printPost(cmd.OutOrStdout(), p, "", asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&withdraw, "withdraw", false, "withdraw your vote")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the post (with counts) as JSON")
	return cmd
}

func (a *app) channelDirectoryCmd() *cobra.Command {
	var category, country, sort string
	var limit, offset int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "directory [WORDS...]",
		Short: "Search the server's directory of listed channels",
		Long: `Search listed channels by words of their name and description (prefix
match), optionally in one category and country, sorted by newest,
followers (most followed) or active (most posts in the last 7 days). A ✓
marks channels the server's operator verified. Follow one with
'parley channel follow CHANNEL'.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := client.ParseDirectorySort(sort)
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				chs, err := c.Directory(ctx, client.DirectoryQuery{Text: strings.Join(args, " "), Category: category,
					Country: strings.ToUpper(country), Sort: s, Limit: limit, Offset: offset})
				if err != nil {
					return err
				}
				for _, ch := range chs {
					if err := printChannel(cmd.OutOrStdout(), ch, asJSON, ""); err != nil {
						return err
					}
				}
				if len(chs) == 0 && !asJSON {
					fmt.Fprintln(a.stderr, "no listed channel matches")
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&category, "category", "", "only this category")
	cmd.Flags().StringVar(&country, "country", "", "only this country (two-letter code)")
	cmd.Flags().StringVar(&sort, "sort", "newest", "newest, followers or active")
	cmd.Flags().IntVar(&limit, "limit", 20, fmt.Sprintf("results per page (at most %d)", proto.MaxDirectoryResults))
	cmd.Flags().IntVar(&offset, "offset", 0, "skip this many results (next pages)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per channel")
	return cmd
}

func (a *app) channelReportCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "report CHANNEL [POST] REASON",
		Short: "Report a channel or one of its posts to the server's operator",
		Long: `Send a report to the server's operator, about the whole channel or one of
its posts. The channel's admins never learn who reported.`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			var postID []byte
			reason := args[len(args)-1]
			if len(args) == 3 {
				var err error
				if postID, err = parsePostID(args[1]); err != nil {
					return err
				}
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.Report(ctx, args[0], postID, reason); err != nil {
					return err
				}
				return done(cmd.OutOrStdout(), asJSON, "reported; the server's operator will review it")
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"ok": true} as JSON`)
	return cmd
}
