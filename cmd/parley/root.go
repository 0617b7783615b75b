package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/client"
)

// connectTimeout bounds how long a command waits to reach the server.
const connectTimeout = 15 * time.Second

// app holds the global flags.
type app struct {
	profile    string
	server     string
	deviceName string
	verbose    bool
	stderr     io.Writer
}

func newRoot() *cobra.Command {
	a := &app{}
	root := &cobra.Command{
		Use:   "parley",
		Short: "Parley: an end-to-end-encrypted messenger (server and client in one binary)",
		Long: `Parley is a self-hostable, end-to-end-encrypted messenger.

'parley serve' runs a server. Every other command acts as one device whose
keys, conversations and history live in a profile directory (--profile);
the server only ever sees ciphertext.

A first session:
  parley serve                                   # in one terminal
  parley --profile ./alice register @alice
  parley --profile ./bob register @bob
  parley --profile ./alice send @bob "hello"
  parley --profile ./bob recv --wait 5s          # prints: @alice: hello`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			a.stderr = cmd.ErrOrStderr()
		},
	}
	defProfile := os.Getenv("PARLEY_PROFILE")
	if defProfile == "" {
		defProfile = "./parley-profile"
	}
	root.PersistentFlags().StringVar(&a.profile, "profile", defProfile,
		"profile directory: this device's keys and history (env PARLEY_PROFILE)")
	root.PersistentFlags().StringVar(&a.server, "server", os.Getenv("PARLEY_SERVER"),
		"server URL (env PARLEY_SERVER; default: the server the profile registered with, else "+client.DefaultServer+")")
	root.PersistentFlags().StringVar(&a.deviceName, "device-name", "",
		"name of this device in device lists (register and link; default: the host name)")
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log what the client does to stderr")

	root.AddCommand(
		newServeCmd(),
		a.registerCmd(), a.linkCmd(), a.devicesCmd(), a.safetyNumberCmd(),
		a.sendCmd(), a.recvCmd(), a.chatCmd(),
		a.contactsCmd(), a.blockCmd(true), a.blockCmd(false), a.presenceCmd(), a.privacyCmd(),
		a.channelCmd(), newAdminCmd(), a.benchCmd(),
	)
	return root
}

// dial opens the profile and starts the client (offline for a new
// profile until register or link).
func (a *app) dial(ctx context.Context, opts client.Options) (*client.Client, error) {
	opts.Profile = a.profile
	opts.Server = a.server
	opts.DeviceName = a.deviceName
	if opts.DeviceName == "" {
		opts.DeviceName, _ = os.Hostname()
		if len(opts.DeviceName) > 64 {
			opts.DeviceName = opts.DeviceName[:64]
		}
	}
	if a.verbose {
		opts.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return client.Dial(ctx, opts)
}

// online dials a registered profile and waits until the mail that arrived
// while it was offline has been processed.
func (a *app) online(ctx context.Context) (*client.Client, error) {
	c, err := a.dial(ctx, client.Options{})
	if err != nil {
		return nil, err
	}
	if !c.Registered() {
		c.Close()
		return nil, fmt.Errorf("profile %s has no account yet: run 'parley --profile %s register @handle' or 'parley --profile %s link'", a.profile, a.profile, a.profile)
	}
	wctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := c.WaitSynced(wctx); err != nil {
		c.Close()
		if errors.Is(err, client.ErrRevoked) {
			return nil, err
		}
		return nil, fmt.Errorf("%w (is 'parley serve' running at %s?)", err, c.Server())
	}
	return c, nil
}

// withClient runs fn with an online client whose events it does not
// display drained (warnings go to stderr), and closes the client after.
func (a *app) withClient(cmd *cobra.Command, fn func(ctx context.Context, c *client.Client) error) error {
	ctx := cmd.Context()
	c, err := a.online(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	defer a.drain(c)()
	return fn(ctx, c)
}

// drain consumes events a command does not display, printing warnings,
// until the client closes. The returned function stops it.
func (a *app) drain(c *client.Client) (stop func()) {
	return drainWith(c, a.warn)
}

// drainWith passes each of the client's events to handle until stopped:
// a client whose events nobody reads would block once its buffer fills.
// The returned function stops the goroutine and waits for it.
func drainWith(c *client.Client, handle func(client.Event)) (stop func()) {
	done := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case ev := <-c.Events():
				handle(ev)
			case <-quit:
				return
			}
		}
	}()
	return func() { close(quit); <-done }
}

// warn prints key-change and device warnings to stderr.
func (a *app) warn(ev client.Event) {
	switch e := ev.(type) {
	case client.KeyChangeEvent:
		fmt.Fprintln(a.stderr, keyChangeText(e))
	case client.DeviceEvent:
		if e.Self {
			fmt.Fprintln(a.stderr, "warning: this device was revoked from its account")
		}
	}
}

func keyChangeText(e client.KeyChangeEvent) string {
	if e.Err != nil {
		return fmt.Sprintf("WARNING: the keys of %s could not be verified: %v. Compare safety numbers ('parley safety-number %s') before trusting this conversation.", e.Handle, e.Err, e.Handle)
	}
	s := fmt.Sprintf("warning: the devices of %s changed", e.Handle)
	if len(e.Added) > 0 {
		s += fmt.Sprintf("; added %v", e.Added)
	}
	if len(e.Removed) > 0 {
		s += fmt.Sprintf("; removed %v", e.Removed)
	}
	return s + fmt.Sprintf(". If you did not expect this, compare safety numbers: parley safety-number %s", e.Handle)
}
