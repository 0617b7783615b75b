package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/server"
)

// shutdownTimeout bounds the lame-duck drain after SIGINT/SIGTERM.
const shutdownTimeout = 15 * time.Second

func newServeCmd() *cobra.Command {
	var configFile string
	var flagCfg server.Config
	var logLevel string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Parley server",
		Long: `Run a Parley server. With no flags it listens on ` + server.DefaultAddr + ` for devices and
on ` + server.DefaultAdminAddr + ` for the admin endpoints (health, readiness, Prometheus
metrics, invite codes), and keeps its data in an embedded SQLite store in
` + server.DefaultDataDir + `. No other service is needed.

--config FILE reads a JSON file with the same settings (addr, admin_addr,
data_dir, postgres_dsn, nats_url, nats_prefix, registration, handshake_timeout, idle_timeout,
write_timeout, drain_period, send_queue, send_buffer (bytes; -1: the kernel's), rate_per_second, rate_burst,
max_connections); unknown keys are errors. Flags given on the command line
override the file.

Cluster mode: run several nodes with the same --postgres DSN and --nats
URL (a comma-separated list of the NATS cluster's servers) behind a load
balancer; devices on different nodes then talk as if on one. See
docs/operations.md.

SIGINT or SIGTERM stops the server in lame-duck fashion: it stops
accepting, tells every device to reconnect elsewhere, closes connections
spread over the drain period and flushes pending writes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := server.Config{}
			if configFile != "" {
				var err error
				if cfg, err = server.LoadConfig(configFile); err != nil {
					return err
				}
			}
			f := cmd.Flags()
			if f.Changed("addr") {
				cfg.Addr = flagCfg.Addr
			}
			if f.Changed("admin-addr") {
				cfg.AdminAddr = flagCfg.AdminAddr
			}
			if f.Changed("data") {
				cfg.DataDir = flagCfg.DataDir
			}
			if f.Changed("postgres") {
				cfg.PostgresDSN = flagCfg.PostgresDSN
			}
			if f.Changed("nats") {
				cfg.NATSURL = flagCfg.NATSURL
			}
			if f.Changed("nats-prefix") {
				cfg.NATSPrefix = flagCfg.NATSPrefix
			}
			if f.Changed("registration") {
				cfg.Registration = flagCfg.Registration
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			return runServer(cmd, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "JSON config file (flags override it)")
	f.StringVar(&flagCfg.Addr, "addr", server.DefaultAddr, "address devices connect to (host:port)")
	f.StringVar(&flagCfg.AdminAddr, "admin-addr", server.DefaultAdminAddr,
		`admin listener (health, metrics, invites); keep it private; "`+server.AdminOff+`" disables it`)
	f.StringVar(&flagCfg.DataDir, "data", server.DefaultDataDir, "data directory of the embedded store")
	f.StringVar(&flagCfg.PostgresDSN, "postgres", "", "PostgreSQL DSN; use PostgreSQL instead of the embedded store")
	f.StringVar(&flagCfg.NATSURL, "nats", "", "NATS server URLs (comma-separated); cluster mode, needs --postgres")
	f.StringVar(&flagCfg.NATSPrefix, "nats-prefix", "", `NATS subject prefix of this cluster (default "parley")`)
	f.StringVar(&flagCfg.Registration, "registration", "open", "who may create accounts: open, invite (needs 'parley admin invite' codes) or closed")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

func runServer(cmd *cobra.Command, cfg server.Config) error {
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	runErr := make(chan error, 1)
	go func() { runErr <- srv.Run(context.WithoutCancel(ctx)) }()

	<-srv.Ready()
	if srv.Addr() == "" {
		return <-runErr
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "parley: serving devices on http://%s (WebSocket /v1/ws)\n", srv.Addr())
	if a := srv.AdminAddr(); a != "" {
		fmt.Fprintf(out, "parley: admin on http://%s (/healthz, /readyz, /metrics, POST /v1/invites)\n", a)
	}

	select {
	case err := <-runErr:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(out, "parley: shutting down (lame duck)...")
	sctx, scancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
