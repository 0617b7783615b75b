package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newServeCmd is replaced by serve.go once the server library lands.
func newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run a Parley server",
		RunE:  func(*cobra.Command, []string) error { return errors.New("serve: not built yet") },
	}
}
