package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
)

func (a *app) sendCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "send @handle TEXT",
		Short: "Send an end-to-end-encrypted message",
		Long: `Send TEXT to every device of @handle (and to this account's other devices).
The first message starts the conversation. Messages that arrived for this
device meanwhile are stored and shown by the next 'parley recv'.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if _, err := c.Send(ctx, args[0], args[1]); err != nil {
					return fmt.Errorf("send to %s: %w", args[0], err)
				}
				return nil
			})
		},
	}
}

// jsonMessage is one line of `recv --json`.
type jsonMessage struct {
	ID           string    `json:"id"`
	Conversation string    `json:"conversation"`
	Sender       string    `json:"sender"`
	SenderDevice string    `json:"sender_device"`
	Text         string    `json:"text"`
	Sent         time.Time `json:"sent"`
	Received     time.Time `json:"received"`
}

func printMessage(w io.Writer, m client.Message, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(jsonMessage{ID: hex.EncodeToString(m.ID), Conversation: hex.EncodeToString(m.GroupID),
			Sender: m.SenderHandle, SenderDevice: m.SenderDevice, Text: m.Text, Sent: m.Sent.UTC(), Received: m.Received.UTC()})
		fmt.Fprintln(w, string(b))
		return
	}
	fmt.Fprintf(w, "%s: %s\n", m.SenderHandle, m.Text)
}

// recvLinger: once a message was printed, recv waits this long for more
// before it exits, so a burst is printed whole.
const recvLinger = 300 * time.Millisecond

func (a *app) recvCmd() *cobra.Command {
	var wait time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "recv [--wait 5s] [--json]",
		Short: "Print messages that arrived for this device",
		Long: `Fetch, decrypt and print the messages waiting for this device, one per line
as "@sender: text". With --wait D, wait up to D for a message when none is
waiting. With --json, print one JSON object per message with id,
conversation, sender, sender_device, text, sent and received times.
Printed messages are marked read (the senders get read receipts). Warnings
about changed keys are printed to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.online(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			out := cmd.OutOrStdout()
			printed := map[string]bool{}
			var shown []client.Message
			show := func(m client.Message) {
				if m.Outgoing || printed[string(m.ID)] {
					return
				}
				printed[string(m.ID)] = true
				printMessage(out, m, asJSON)
				shown = append(shown, m)
			}
			// Drain events that came in while syncing: the messages are in
			// the profile, Unshown returns them.
			for len(c.Events()) > 0 {
				a.warn(<-c.Events())
			}
			waiting, err := c.Unshown(ctx)
			if err != nil {
				return err
			}
			for _, m := range waiting {
				show(m)
			}
			deadline := time.NewTimer(wait)
			defer deadline.Stop()
			if len(shown) > 0 {
				deadline.Reset(recvLinger)
			}
		loop:
			for {
				select {
				case ev := <-c.Events():
					if me, ok := ev.(client.MessageEvent); ok {
						before := len(shown)
						show(me.Message)
						if len(shown) > before {
							deadline.Reset(recvLinger)
						}
					} else {
						a.warn(ev)
					}
				case <-deadline.C:
					break loop
				case <-ctx.Done():
					break loop
				}
			}
			if len(shown) > 0 {
				// Keep taking events while the receipts go out.
				defer a.drain(c)()
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), connectTimeout)
				defer cancel()
				if err := c.MarkRead(rctx, shown...); err != nil {
					fmt.Fprintln(a.stderr, "warning: read receipts not sent:", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "how long to wait for a message when none is waiting")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per message")
	return cmd
}

func (a *app) chatCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "chat @handle",
		Short: "Chat interactively with @handle in the terminal",
		Long: `Open an interactive chat with @handle: the last messages are shown, each
line you type is sent, and incoming messages, typing indicators, receipts
and key-change warnings are printed as they arrive.

Commands: /typing (tell @handle you are typing), /quit (or Ctrl-D).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.online(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			return runChat(ctx, c, args[0], cmd.InOrStdin(), cmd.OutOrStdout(), a)
		},
	}
}

// historyLines is how much of the conversation chat shows on start.
const historyLines = 20

func runChat(ctx context.Context, c *client.Client, handle string, in io.Reader, out io.Writer, a *app) error {
	peer, history, err := c.History(ctx, handle, historyLines)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "chat with %s; type a message and Enter to send, /quit to leave\n", peer.Handle)
	for _, m := range history {
		fmt.Fprintf(out, "%s %s: %s\n", m.Received.Local().Format("15:04"), m.SenderHandle, m.Text)
	}
	var unread []client.Message
	for _, m := range history {
		if !m.Outgoing && !m.Shown {
			unread = append(unread, m)
		}
	}
	if len(unread) > 0 {
		c.MarkRead(ctx, unread...)
	}

	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		// The reader goroutine ends at EOF; when chat ends first it stays
		// blocked on the terminal until the process exits.
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 4096), client.MaxTextBytes)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()

	for {
		select {
		case line := <-lines:
			line = strings.TrimSpace(line)
			switch {
			case line == "":
			case line == "/quit":
				return nil
			case line == "/typing":
				if err := c.SetTyping(ctx, handle, true); err != nil {
					fmt.Fprintln(out, "! typing not sent:", err)
				}
			default:
				if _, err := c.Send(ctx, handle, line); err != nil {
					fmt.Fprintln(out, "! not sent:", err)
				}
			}
		case err := <-readErr:
			return err
		case ev := <-c.Events():
			switch e := ev.(type) {
			case client.MessageEvent:
				m := e.Message
				if p, err := c.PeerOf(ctx, m.GroupID); err != nil || p.AccountID != peer.AccountID {
					continue // another conversation; recv shows it later
				}
				fmt.Fprintf(out, "%s %s: %s\n", m.Received.Local().Format("15:04"), m.SenderHandle, m.Text)
				if !m.Outgoing {
					c.MarkRead(ctx, m)
				}
			case client.TypingEvent:
				if e.From == peer.Handle && e.Typing {
					fmt.Fprintf(out, "(%s is typing...)\n", e.From)
				}
			case client.ReceiptEvent:
				if e.From == peer.Handle {
					word := "delivered"
					if e.Kind == proto.Receipt_READ {
						word = "read"
					}
					fmt.Fprintf(out, "(%d message(s) %s by %s)\n", len(e.MessageIDs), word, e.From)
				}
			case client.KeyChangeEvent:
				fmt.Fprintln(out, "!", keyChangeText(e))
			case client.ConnectionEvent:
				if !e.Connected && e.Err != nil {
					fmt.Fprintf(out, "(disconnected: %v; reconnecting)\n", e.Err)
				}
			case client.DeviceEvent:
				a.warn(ev)
			}
		case <-ctx.Done():
			return nil
		}
	}
}
