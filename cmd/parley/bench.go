package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/bench"
	"github.com/parleyhq/parley/client"
)

// defaultMetricsURL is the metrics endpoint of a default `parley serve`.
const defaultMetricsURL = "http://127.0.0.1:8081/metrics"

// benchCmd wires `parley bench` to package bench; workers are this same
// binary re-executed as `parley bench worker`.
func (a *app) benchCmd() *cobra.Command {
	var o bench.Options
	var asJSON, compare bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a running server: idle connections, message ring, reconnect storm",
		Long: `Load a running Parley server through its real protocol and report what it
costs: 'parley bench idle' holds many authenticated connections, 'parley
bench ring' sends messages from each device to the next around a ring,
'parley bench burst' reconnects every device at once to full mailboxes.

The server must run as its own process ('parley serve --data $(mktemp -d)')
so its figures are its own: server memory and CPU come from its metrics
endpoint (--metrics; '' to skip them). Devices are spread over worker
processes (--procs) and loopback source addresses. Every run ends by
itself, targets loopback addresses only (--allow-remote overrides), shows
progress on stderr and prints a table, or JSON with --json.

MLS is off unless --mls: devices create their conversations with a real
MLS commit and then send random ciphertext. The server never opens
application messages, so this measures its exact path; --mls uses full SDK
clients with real encryption for the end-to-end figure.`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&o.MetricsURL, "metrics", defaultMetricsURL, "the server's Prometheus endpoint ('' skips server memory and CPU)")
	f.IntVar(&o.Procs, "procs", 0, "worker processes (default: one per 19,000 devices; one process may hold 20,000 open files)")
	f.IntVar(&o.DialConcurrency, "dial-concurrency", bench.DefaultDialConcurrency, "connections each worker opens at once")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&o.AllowRemote, "allow-remote", false, "allow a server that is not on a loopback address")
	f.DurationVar(&o.Timeout, "timeout", bench.DefaultTimeout, "upper bound of the whole run")
	f.StringVar(&o.Label, "label", "", "free text copied into the report (e.g. the store)")
	f.StringSliceVar(&o.AlsoCPU, "also-cpu", nil, "ring: add the CPU time of these local processes (command names, e.g. postgres) to the server's")

	run := func(cmd *cobra.Command, scenario string) error {
		o.Scenario = scenario
		o.Server = a.server
		if o.Server == "" {
			o.Server = client.DefaultServer
		}
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding this binary to start workers: %w", err)
		}
		o.Launcher = bench.Exec{Path: exe, Args: []string{"bench", "worker"}, Stderr: cmd.ErrOrStderr()}
		o.Progress = cmd.ErrOrStderr()
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			o.ProgressTTY = true
		}
		if compare && scenario == bench.ScenarioRing {
			return runCompare(cmd, o, asJSON)
		}
		rep, err := bench.Run(cmd.Context(), o)
		if err != nil {
			return err
		}
		if asJSON {
			return rep.WriteJSON(cmd.OutOrStdout())
		}
		return rep.WriteTable(cmd.OutOrStdout())
	}

	idle := &cobra.Command{
		Use:   "idle",
		Short: "Open N authenticated connections and hold them; report connect rate and server memory per connection",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return run(cmd, bench.ScenarioIdle) },
	}
	idle.Flags().IntVar(&o.Devices, "conns", 1000, "connections (one registered device each)")
	idle.Flags().DurationVar(&o.Hold, "hold", bench.DefaultHold, "how long to hold the connections before reading the server's memory")

	ring := &cobra.Command{
		Use:   "ring",
		Short: "Send from each device to the next around a ring; report msgs/s, latency and server CPU per 1,000 messages",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return run(cmd, bench.ScenarioRing) },
	}
	rf := ring.Flags()
	rf.IntVar(&o.Devices, "devices", 100, "devices in the ring (each its own account)")
	rf.Float64Var(&o.Rate, "rate", 1000, "messages per second in total, spread evenly over the devices")
	rf.BoolVar(&o.Max, "max", false, "send as fast as the server answers (--window sends in flight per device) instead of --rate")
	rf.IntVar(&o.Window, "window", bench.DefaultWindow, "sends in flight per device with --max")
	rf.DurationVar(&o.Duration, "duration", 10*time.Second, "how long devices send")
	rf.IntVar(&o.Size, "size", 256, "ciphertext bytes per message (with --mls: text bytes)")
	rf.BoolVar(&o.MLS, "mls", false, "full SDK clients with real MLS encryption (keep --devices small)")
	rf.IntVar(&o.Stalled, "stalled", 0, "extra devices that stop reading their sockets when sending starts while ring devices send to them; they reconnect and drain at the end")
	rf.IntVar(&o.StalledMessages, "stalled-messages", bench.DefaultStalledMessages, "messages each stalled device is sent")
	rf.IntVar(&o.StalledSize, "stalled-size", bench.DefaultStalledSize, "ciphertext bytes of each message to a stalled device")
	rf.BoolVar(&o.StalledReading, "stalled-reading", false, "control run: the --stalled devices get the same mail but keep reading")
	rf.BoolVar(&compare, "compare", false, "with --stalled: first run the same ring without stalled devices, then with them, and report both")

	burst := &cobra.Command{
		Use:   "burst",
		Short: "Fill every device's mailbox, then reconnect all devices at once; report reconnect rate and drain time",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return run(cmd, bench.ScenarioBurst) },
	}
	bf := burst.Flags()
	bf.IntVar(&o.Devices, "devices", 1000, "devices (each its own account, sending to the next around a ring)")
	bf.IntVar(&o.Messages, "messages", 10, "messages waiting in each device's mailbox when the storm starts")
	bf.IntVar(&o.Window, "window", bench.DefaultWindow, "sends in flight per device while filling")
	bf.IntVar(&o.Size, "size", 256, "ciphertext bytes per message")

	worker := &cobra.Command{
		Use:    "worker",
		Short:  "Run one bench worker on stdin/stdout (started by parley bench)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench.ServeWorker(cmd.Context(), os.Stdin, os.Stdout)
		},
	}
	cmd.AddCommand(idle, ring, burst, worker)
	return cmd
}

// runCompare runs the ring undisturbed and then with its stalled
// devices, against the same server, and reports both and the ratio of
// their p99 latencies.
func runCompare(cmd *cobra.Command, o bench.Options, asJSON bool) error {
	if o.Stalled == 0 {
		return fmt.Errorf("--compare needs --stalled N: it compares a ring with N stalled devices to the same ring without them")
	}
	calm := o
	calm.Stalled = 0
	base, err := bench.Run(cmd.Context(), calm)
	if err != nil {
		return fmt.Errorf("undisturbed run: %w", err)
	}
	stalled, err := bench.Run(cmd.Context(), o)
	if err != nil {
		return fmt.Errorf("run with %d stalled devices: %w", o.Stalled, err)
	}
	ratio, lateRatio := 0.0, 0.0
	if base.Latency.P99 > 0 {
		ratio = stalled.Latency.P99 / base.Latency.P99
	}
	if base.LateLatency.P99 > 0 {
		lateRatio = stalled.LateLatency.P99 / base.LateLatency.P99
	}
	out := cmd.OutOrStdout()
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"undisturbed": base, "stalled": stalled, "p99_ratio": ratio, "late_p99_ratio": lateRatio})
	}
	fmt.Fprintln(out, "== undisturbed ==")
	if err := base.WriteTable(out); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n== with %d stalled devices ==\n", o.Stalled)
	if err := stalled.WriteTable(out); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "\nring p99 with stalled devices / undisturbed: %.2f ms / %.2f ms = %.2f× (target ≤ 2×); "+
		"last 40%% of the send phase (after their mail was sent): %.2f ms / %.2f ms = %.2f×\n",
		stalled.Latency.P99, base.Latency.P99, ratio, stalled.LateLatency.P99, base.LateLatency.P99, lateRatio)
	return err
}
