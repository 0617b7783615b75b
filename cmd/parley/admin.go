package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newAdminCmd() *cobra.Command {
	var adminURL string
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Operator commands (talk to the server's admin listener)",
	}
	cmd.PersistentFlags().StringVar(&adminURL, "admin", "http://127.0.0.1:8081",
		"URL of the server's admin listener ('parley serve --admin-addr')")
	var ttl time.Duration
	invite := &cobra.Command{
		Use:   "invite",
		Short: "Create a single-use registration invite code",
		Long: `Create a single-use invite code for a server whose registration policy is
"invite". A new user passes it to 'parley register @handle --invite CODE'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, _ := json.Marshal(map[string]int64{"ttl_seconds": int64(ttl / time.Second)})
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost,
				strings.TrimSuffix(adminURL, "/")+"/v1/invites", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("admin listener at %s: %w (is the server running, and --admin right?)", adminURL, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("admin listener at %s: %s: %s", adminURL, resp.Status, strings.TrimSpace(string(b)))
			}
			var out struct {
				Code      string `json:"code"`
				ExpiresMs int64  `json:"expires_ms"`
			}
			if err := json.Unmarshal(b, &out); err != nil || out.Code == "" {
				return fmt.Errorf("admin listener at %s answered %q", adminURL, b)
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Code)
			fmt.Fprintf(cmd.ErrOrStderr(), "single use; expires %s\n", time.UnixMilli(out.ExpiresMs).Local().Format(time.DateTime))
			return nil
		},
	}
	invite.Flags().DurationVar(&ttl, "ttl", 7*24*time.Hour, "how long the code stays valid")
	cmd.AddCommand(invite)
	addModerationCmds(cmd, &adminURL)
	return cmd
}
