package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/client"
)

func (a *app) channelAdminsCmd() *cobra.Command {
	var asJSON, rotate bool
	cmd := &cobra.Command{
		Use:   "admins CHANNEL | admins invite|accept|decline|remove|transfer|invitations ...",
		Short: "List or change a channel's admins",
		Long: `With a channel id: list its owner, admins and pending invitations (owner
and admins only — followers never learn who the admins are). This also
brings the team's encrypted conversation up to date: admins who accepted
since get the channel key from this device. With --rotate the owner
first replaces the channel key (only the new one posts from then on).

  admins invite CHANNEL @handle    invite @handle (owner; expires in 7 days)
  admins invitations               your pending invitations
  admins accept CHANNEL            accept an invitation
  admins decline CHANNEL           decline it
  admins remove CHANNEL @handle    remove an admin (owner; rotates the channel key)
  admins transfer CHANNEL @handle  make an admin the owner (you stay an admin)
  admins leave CHANNEL             stop being an admin (the owner rotates the key)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if rotate {
					if err := c.RotateChannelKey(ctx, args[0]); err != nil {
						return fmt.Errorf("rotate the key: %w", err)
					}
				}
				if err := c.SyncChannelTeam(ctx, args[0]); err != nil {
					fmt.Fprintln(a.stderr, "warning: the team conversation is not up to date:", err)
				}
				team, err := c.ChannelAdmins(ctx, args[0])
				if err != nil {
					return err
				}
				return printTeam(cmd, team, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the team as JSON")
	cmd.Flags().BoolVar(&rotate, "rotate", false, "owner: rotate the channel key first (e.g. after an admin lost a device)")
	cmd.AddCommand(a.adminInviteCmd(), a.adminInvitationsCmd(), a.adminAcceptCmd(false), a.adminAcceptCmd(true),
		a.adminChangeCmd("remove"), a.adminChangeCmd("transfer"), a.adminLeaveCmd())
	return cmd
}

type jsonMember struct {
	AccountID string    `json:"account_id"`
	Handle    string    `json:"handle"`
	Role      string    `json:"role"`
	Since     time.Time `json:"since"`
}

type jsonInvitation struct {
	Channel   string    `json:"channel"`
	AccountID string    `json:"account_id"`
	Handle    string    `json:"handle,omitempty"`
	Name      string    `json:"channel_name,omitempty"`
	Expires   time.Time `json:"expires"`
}

func toJSONInvitation(inv client.Invitation) jsonInvitation {
	j := jsonInvitation{Channel: inv.ChannelID, AccountID: inv.AccountID, Handle: inv.Handle, Expires: inv.Expires.UTC()}
	if inv.Channel != nil {
		j.Name = inv.Channel.Name
	}
	return j
}

func printTeam(cmd *cobra.Command, team client.ChannelTeam, asJSON bool) error {
	out := cmd.OutOrStdout()
	if asJSON {
		v := struct {
			Members     []jsonMember     `json:"members"`
			Invitations []jsonInvitation `json:"invitations"`
		}{Members: []jsonMember{}, Invitations: []jsonInvitation{}}
		for _, m := range team.Members {
			v.Members = append(v.Members, jsonMember{AccountID: m.AccountID, Handle: m.Handle, Role: roleName(m.Role), Since: m.Since.UTC()})
		}
		for _, inv := range team.Invitations {
			v.Invitations = append(v.Invitations, toJSONInvitation(inv))
		}
		return printJSON(out, v)
	}
	for _, m := range team.Members {
		fmt.Fprintf(out, "%-8s %s (since %s)\n", roleName(m.Role), m.Handle, m.Since.Local().Format(time.DateOnly))
	}
	for _, inv := range team.Invitations {
		who := inv.Handle
		if who == "" {
			who = inv.AccountID
		}
		fmt.Fprintf(out, "invited  %s (expires %s)\n", who, inv.Expires.Local().Format(time.DateTime))
	}
	return nil
}

func (a *app) adminInviteCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "invite CHANNEL @handle",
		Short: "Invite @handle to administer the channel (owner; expires after 7 days)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				inv, err := c.InviteAdmin(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), toJSONInvitation(inv))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "invited %s; they accept with 'parley channel admins accept %s' before %s\n",
					args[1], args[0], inv.Expires.Local().Format(time.DateTime))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the invitation as JSON")
	return cmd
}

func (a *app) adminInvitationsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "invitations",
		Short: "List your pending invitations to administer channels",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				invs, err := c.AdminInvitations(ctx)
				if err != nil {
					return err
				}
				for _, inv := range invs {
					if asJSON {
						if err := printJSON(cmd.OutOrStdout(), toJSONInvitation(inv)); err != nil {
							return err
						}
						continue
					}
					name := ""
					if inv.Channel != nil {
						name = inv.Channel.Name
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s  %s (expires %s)\n", inv.ChannelID, name, inv.Expires.Local().Format(time.DateTime))
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per invitation")
	return cmd
}

func (a *app) adminAcceptCmd(decline bool) *cobra.Command {
	var asJSON bool
	use, short := "accept CHANNEL", "Accept an invitation to administer the channel"
	if decline {
		use, short = "decline CHANNEL", "Decline an invitation to administer the channel"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				ch, err := c.AcceptAdmin(ctx, args[0], decline)
				if err != nil {
					return err
				}
				if decline {
					return done(cmd.OutOrStdout(), asJSON, "declined")
				}
				if !asJSON {
					fmt.Fprintln(a.stderr, "accepted; your devices get the channel key from the owner's or another admin's device when it is online")
				}
				return printChannel(cmd.OutOrStdout(), ch, asJSON, "")
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func (a *app) adminChangeCmd(what string) *cobra.Command {
	var asJSON bool
	short := "Remove an admin (owner): its devices leave the team and the channel key is rotated"
	if what == "transfer" {
		short = "Make an admin the channel's owner (owner); you stay an admin, the key is rotated"
	}
	cmd := &cobra.Command{
		Use:   what + " CHANNEL @handle",
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				var err error
				msg := fmt.Sprintf("removed %s; the channel key was rotated", args[1])
				if what == "transfer" {
					err = c.TransferChannel(ctx, args[0], args[1])
					msg = fmt.Sprintf("%s now owns %s", args[1], args[0])
				} else {
					err = c.RemoveAdmin(ctx, args[0], args[1])
				}
				if err != nil {
					return err
				}
				return done(cmd.OutOrStdout(), asJSON, msg)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"ok": true} as JSON`)
	return cmd
}

func (a *app) channelStatsCmd() *cobra.Command {
	var days int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats CHANNEL [POST...]",
		Short: "Show a channel's counts: followers, growth, views, reactions, votes (owner and admins)",
		Long: `Show counts only — never who: followers now, follows and unfollows per day
(UTC) over the last --days, and per post (the given ones, or the latest)
unique views, reactions per emoji and votes per poll option.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ids [][]byte
			for _, s := range args[1:] {
				id, err := parsePostID(s)
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				st, err := c.Stats(ctx, args[0], days, ids...)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if asJSON {
					type jday struct {
						Day       string `json:"day"`
						Follows   uint64 `json:"follows"`
						Unfollows uint64 `json:"unfollows"`
					}
					type jpost struct {
						ID        string            `json:"id"`
						Views     uint64            `json:"views"`
						Reactions uint64            `json:"reactions"`
						ByEmoji   map[string]uint64 `json:"by_emoji,omitempty"`
						Votes     uint64            `json:"votes"`
						PerOption []uint64          `json:"per_option,omitempty"`
					}
					v := struct {
						Followers uint64  `json:"followers"`
						Days      []jday  `json:"days"`
						Posts     []jpost `json:"posts"`
					}{Followers: st.Followers, Days: []jday{}, Posts: []jpost{}}
					for _, d := range st.Days {
						v.Days = append(v.Days, jday{Day: d.Day.Format(time.DateOnly), Follows: d.Follows, Unfollows: d.Unfollows})
					}
					for _, p := range st.Posts {
						jp := jpost{ID: hex.EncodeToString(p.PostID), Views: p.Views, Reactions: p.Reactions, Votes: p.Votes, PerOption: p.PollCounts}
						for _, r := range p.ReactionCounts {
							if jp.ByEmoji == nil {
								jp.ByEmoji = map[string]uint64{}
							}
							jp.ByEmoji[r.Emoji] = r.Count
						}
						v.Posts = append(v.Posts, jp)
					}
					return printJSON(out, v)
				}
				fmt.Fprintf(out, "followers: %d\n", st.Followers)
				for _, d := range st.Days {
					if d.Follows+d.Unfollows > 0 {
						fmt.Fprintf(out, "  %s  +%d -%d\n", d.Day.Format(time.DateOnly), d.Follows, d.Unfollows)
					}
				}
				for _, p := range st.Posts {
					fmt.Fprintf(out, "post %x: %d views, %d reactions", p.PostID, p.Views, p.Reactions)
					for _, r := range p.ReactionCounts {
						fmt.Fprintf(out, " %s %d", r.Emoji, r.Count)
					}
					if p.Votes > 0 || len(p.PollCounts) > 0 {
						fmt.Fprintf(out, ", %d voters %v", p.Votes, p.PollCounts)
					}
					fmt.Fprintln(out)
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&days, "days", 30, "days of follower growth to show (at most 90)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts as JSON")
	return cmd
}

func (a *app) adminLeaveCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "leave CHANNEL",
		Short: "Stop being an admin of the channel (the owner then rotates its key)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.LeaveChannelTeam(ctx, args[0]); err != nil {
					return err
				}
				return done(cmd.OutOrStdout(), asJSON, "you are no longer an admin of "+args[0])
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"ok": true} as JSON`)
	return cmd
}
