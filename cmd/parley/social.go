package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/client"
)

func (a *app) contactsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contacts",
		Short: "List, add or remove contacts",
		Long: `Without a subcommand, list this profile's contacts. Contacts matter for
presence: with 'parley privacy presence contacts' only they see when you
are online.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.dial(cmd.Context(), client.Options{})
			if err != nil {
				return err
			}
			defer c.Close()
			cs, err := c.Contacts(cmd.Context())
			if err != nil {
				return err
			}
			for _, ct := range cs {
				fmt.Fprintln(cmd.OutOrStdout(), ct.Handle)
			}
			return nil
		},
	}
	for _, add := range []bool{true, false} {
		use, short := "add @handle", "Add @handle to your contacts"
		if !add {
			use, short = "remove @handle", "Remove @handle from your contacts"
		}
		cmd.AddCommand(&cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
					return c.SetContact(ctx, args[0], add)
				})
			},
		})
	}
	return cmd
}

func (a *app) blockCmd(block bool) *cobra.Command {
	use, short := "block @handle", "Block @handle: it can no longer message you or see your presence"
	if !block {
		use, short = "unblock @handle", "Unblock @handle"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return c.SetBlocked(ctx, args[0], block)
			})
		},
	}
}

func (a *app) presenceCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "presence @handle",
		Short: "Show whether @handle is online, or when it was last seen",
		Long: `Show @handle's presence: online, last seen at a time, or hidden (when
@handle's privacy setting does not let you see it, or it blocked you).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				p, err := c.Presence(ctx, args[0])
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				switch {
				case !p.Visible:
					fmt.Fprintf(out, "%s: hidden\n", args[0])
				case p.Online:
					fmt.Fprintf(out, "%s: online\n", args[0])
				case p.LastSeen.IsZero():
					fmt.Fprintf(out, "%s: offline\n", args[0])
				default:
					fmt.Fprintf(out, "%s: last seen %s\n", args[0], p.LastSeen.Local().Format(time.DateTime))
				}
				return nil
			})
		},
	}
}

func (a *app) privacyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "privacy",
		Short: "Change privacy settings",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "presence everyone|contacts|nobody",
		Short: "Choose who may see when you are online",
		Long: `Choose who may see whether you are online and when you were last seen:
everyone (the default), only your contacts ('parley contacts add'), or
nobody. Blocked accounts never see it.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"everyone", "contacts", "nobody"},
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := client.ParseVisibility(args[0])
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				return c.SetPresenceVisibility(ctx, v)
			})
		},
	})
	return cmd
}
