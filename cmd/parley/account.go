package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/client"
)

func (a *app) registerCmd() *cobra.Command {
	var invite string
	cmd := &cobra.Command{
		Use:   "register @handle",
		Short: "Create an account with this profile's device as its primary device",
		Long: `Create an account named @handle on the server, with this profile's device
as its primary device (the one that approves and revokes other devices).

Handles are @ followed by 3 to 30 letters, digits, _ or ., starting with a
letter; they are case-insensitive. A server with the invite policy needs
--invite CODE (an operator creates one with 'parley admin invite').`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), connectTimeout)
			defer cancel()
			c, err := a.dial(ctx, client.Options{InviteCode: invite})
			if err != nil {
				return err
			}
			defer c.Close()
			defer a.drain(c)()
			if err := c.Register(ctx, args[0]); err != nil {
				return fmt.Errorf("register %s: %w", args[0], err)
			}
			self := c.Self()
			// Let the key packages reach the server so others can start
			// conversations with this device right away.
			c.WaitSynced(ctx)
			fmt.Fprintf(cmd.OutOrStdout(), "registered %s (device %s) on %s\n", self.Handle, self.DeviceID, c.Server())
			return nil
		},
	}
	cmd.Flags().StringVar(&invite, "invite", "", "invite code, for a server that requires one")
	return cmd
}

func (a *app) linkCmd() *cobra.Command {
	var approve, device string
	cmd := &cobra.Command{
		Use:   "link [--approve CODE --device DEVICE_ID]",
		Short: "Link this profile as a new device of an account, or approve one",
		Long: `Without flags, on the NEW device: print a one-time code and this device's
id, and wait (up to the code's lifetime, 10 minutes) until the account's
primary device approves it.

With --approve CODE --device DEVICE_ID, on the PRIMARY device: add the
device waiting behind CODE to the account, if and only if its id is
DEVICE_ID (the id the new device printed). The id is derived from the new
device's key, so checking it makes sure the primary signs that device's key
and not one the server (or whoever saw the code) put behind the code.
Without --device, in a terminal, the waiting device's id and name are shown
and you approve by typing "yes" after comparing the id.

The primary signs the new device list (so the server cannot add devices on
its own) and adds the device to every conversation; from then on messages
to and from the account reach it too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if approve != "" {
				return a.linkApprove(cmd, approve, device)
			}
			if device != "" {
				return errors.New("--device goes with --approve CODE, on the primary device")
			}
			return a.linkBegin(cmd)
		},
	}
	cmd.Flags().StringVar(&approve, "approve", "", "on the primary device: approve the device showing this code")
	cmd.Flags().StringVar(&device, "device", "", "with --approve: the id the new device shows; approval fails if the code belongs to another device")
	return cmd
}

func (a *app) linkBegin(cmd *cobra.Command) error {
	ctx := cmd.Context()
	c, err := a.dial(ctx, client.Options{})
	if err != nil {
		return err
	}
	defer c.Close()
	defer a.drain(c)()
	dctx, cancel := context.WithTimeout(ctx, connectTimeout)
	link, err := c.LinkBegin(dctx)
	cancel()
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "link code: %s\n", link.Code)
	fmt.Fprintf(out, "this device: %s\n", link.DeviceID)
	fmt.Fprintf(out, "On your primary device run: parley link --approve %s --device %s\n", link.Code, link.DeviceID)
	fmt.Fprintf(out, "Waiting for approval (the code expires at %s)...\n", link.Expires.Format(time.Kitchen))
	wctx, cancel := context.WithDeadline(ctx, link.Expires.Add(5*time.Second))
	defer cancel()
	if err := link.Wait(wctx); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	self := c.Self()
	// Upload key packages and take in the conversations the primary adds
	// this device to.
	sctx, cancel2 := context.WithTimeout(ctx, connectTimeout)
	defer cancel2()
	c.WaitSynced(sctx)
	fmt.Fprintf(out, "linked: this device (%s) now belongs to %s\n", self.DeviceID, self.Handle)
	return nil
}

// stdinIsTerminal reports whether r is an interactive terminal (a
// variable so tests can answer the confirmation prompt).
var stdinIsTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (a *app) linkApprove(cmd *cobra.Command, code, device string) error {
	if device == "" && !stdinIsTerminal(cmd.InOrStdin()) {
		return errors.New("link --approve: give --device DEVICE_ID, the id the new device printed next to the code (or run this in a terminal to compare the id and confirm)")
	}
	return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
		out := cmd.OutOrStdout()
		if device == "" {
			lctx, cancel := context.WithTimeout(ctx, connectTimeout)
			dev, err := c.LinkLookup(lctx, code)
			cancel()
			if err != nil {
				return fmt.Errorf("link --approve: %w", err)
			}
			fmt.Fprintf(out, "The device waiting behind code %s is:\n  %s  %q\n", code, dev.ID, dev.Name)
			fmt.Fprint(out, "Approve it only if the new device shows this same id. Type yes to approve: ")
			answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if strings.TrimSpace(answer) != "yes" {
				return errors.New("link --approve: not approved")
			}
			device = dev.ID
		}
		// Adding the device to conversations waits for it to upload its
		// key packages, which it does right after approval.
		actx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		dev, err := c.LinkApprove(actx, code, device)
		if dev.ID != "" {
			fmt.Fprintf(out, "linked device %s (%s)\n", dev.ID, dev.Name)
		}
		if err != nil {
			return fmt.Errorf("link --approve: %w", err)
		}
		return nil
	})
}

func (a *app) devicesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List this account's devices",
		Long: `List the devices of this profile's account, from the account's key log as
verified by this device. "*" marks this device.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				devs, err := c.Devices(ctx)
				if err != nil {
					return err
				}
				for _, d := range devs {
					mark, role := " ", "linked"
					if d.This {
						mark = "*"
					}
					if d.Primary {
						role = "primary"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s  %-7s  %-20s  added %s\n", mark, d.ID, role, d.Name, d.Added.Format(time.DateTime))
				}
				return nil
			})
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "revoke ID",
		Short: "Remove a device from this account (primary device only)",
		Long: `Remove the device ID (see 'parley devices') from the account. The primary
signs the new device list, the server disconnects the device and deletes
its mail, and the primary removes it from every conversation, so it cannot
decrypt anything sent afterwards.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.RevokeDevice(ctx, args[0]); err != nil {
					return fmt.Errorf("revoke %s: %w", args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
				return nil
			})
		},
	})
	return cmd
}

func (a *app) safetyNumberCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "safety-number @handle",
		Short: "Print the safety number to compare with @handle",
		Long: `Print the 60-digit safety number of this account and @handle. Compare it
with the number @handle's device shows (in person or over another channel):
if both match, nobody swapped either account's keys.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				n, err := c.SafetyNumber(ctx, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), n)
				return nil
			})
		},
	}
}
