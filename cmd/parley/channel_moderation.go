package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Moderation of channels by the server's operator, through the admin
// listener (docs/protocol.md, "Moderation"): the report queue, suspending
// and verifying channels.

// adminCall makes one request to the admin listener and returns the body
// of a 200 answer.
func adminCall(cmd *cobra.Command, adminURL, method, path string, body any) ([]byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(cmd.Context(), method, strings.TrimSuffix(adminURL, "/")+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin listener at %s: %w (is the server running, and --admin right?)", adminURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("admin listener at %s: %s: %s", adminURL, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// addModerationCmds adds the channel moderation commands to 'parley admin'.
func addModerationCmds(admin *cobra.Command, adminURL *string) {
	var asJSON bool
	reports := &cobra.Command{
		Use:   "reports [--resolve ID]",
		Short: "Show the queue of channel and post reports, oldest first",
		Long: `Show what followers reported (a channel, or one of its posts, with their
reason), oldest first. Reporters are not shown. Act with 'parley admin
suspend CHANNEL', then drop the report with --resolve ID.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id, _ := cmd.Flags().GetString("resolve"); id != "" {
				if _, err := adminCall(cmd, *adminURL, http.MethodPost, "/v1/reports/"+url.PathEscape(id)+"/resolve", nil); err != nil {
					return err
				}
				return done(cmd.OutOrStdout(), asJSON, "resolved report "+id)
			}
			b, err := adminCall(cmd, *adminURL, http.MethodGet, "/v1/reports", nil)
			if err != nil {
				return err
			}
			var out struct {
				Reports []struct {
					ID        json.RawMessage `json:"id"`
					ChannelID string          `json:"channel_id"`
					PostID    string          `json:"post_id"`
					Reason    string          `json:"reason"`
					CreatedMs int64           `json:"created_ms"`
				} `json:"reports"`
			}
			if err := json.Unmarshal(b, &out); err != nil {
				return fmt.Errorf("admin listener answered %q: %w", b, err)
			}
			w := cmd.OutOrStdout()
			if asJSON {
				_, err := w.Write(append(bytes.TrimSpace(b), '\n'))
				return err
			}
			if len(out.Reports) == 0 {
				fmt.Fprintln(w, "no open reports")
			}
			for _, r := range out.Reports {
				target := "channel " + r.ChannelID
				if r.PostID != "" {
					target = fmt.Sprintf("post %s of channel %s", r.PostID, r.ChannelID)
				}
				fmt.Fprintf(w, "%s  %s  %s: %s\n", strings.Trim(string(r.ID), `"`),
					time.UnixMilli(r.CreatedMs).Local().Format(time.DateTime), target, r.Reason)
			}
			return nil
		},
	}
	reports.Flags().String("resolve", "", "remove report ID from the queue")
	reports.Flags().BoolVar(&asJSON, "json", false, "print the queue as JSON")
	admin.AddCommand(reports, flagCmd(adminURL, "suspend", "suspended",
		"Suspend a channel: out of the directory, no new posts or follows (--off lifts it)",
		`Suspend CHANNEL: it disappears from the directory, cannot post, edit or
change its info, and nobody can follow it; its followers can still read
what is there. --off lifts the suspension.`),
		flagCmd(adminURL, "verify", "verified",
			"Give a channel the verified badge (--off removes it)",
			`Mark CHANNEL as verified: followers and the directory show a badge (✓).
Check the organisation behind it first. --off removes the badge.`))
}

// flagCmd is 'parley admin suspend|verify CHANNEL [--off]'.
func flagCmd(adminURL *string, name, field, short, long string) *cobra.Command {
	var off, asJSON bool
	cmd := &cobra.Command{
		Use:   name + " CHANNEL [--off]",
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := adminCall(cmd, *adminURL, http.MethodPost, "/v1/channels/"+url.PathEscape(args[0])+"/"+name,
				map[string]bool{field: !off}); err != nil {
				return err
			}
			state := field
			if off {
				state = "not " + field
			}
			return done(cmd.OutOrStdout(), asJSON, fmt.Sprintf("channel %s is %s", args[0], state))
		},
	}
	cmd.Flags().BoolVar(&off, "off", false, "undo")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"ok": true} as JSON`)
	return cmd
}
