package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/parleyhq/parley/client/rpc"
	"github.com/parleyhq/parley/proto"
)

// Scenario names.
const (
	ScenarioIdle = "idle"
	ScenarioRing = "ring"
	// ScenarioBurst is a reconnect storm: every device's mailbox is
	// filled while it does not acknowledge, then all devices reconnect
	// at once and drain it.
	ScenarioBurst = "burst"
)

// Bounds and defaults. Every run ends by itself: counts, durations and
// the whole run are bounded.
const (
	// MaxDevices bounds connections or ring devices of one run.
	MaxDevices = 1_000_000
	// MaxMLSDevices bounds full SDK clients: each holds a profile
	// database and MLS state, so rings with MLS on stay small.
	MaxMLSDevices = 1000
	// MaxProcs bounds worker processes.
	MaxProcs = 64
	// MaxDuration bounds a ring's send phase and an idle hold.
	MaxDuration = time.Hour
	// DefaultTimeout bounds a whole run unless Options.Timeout says
	// otherwise.
	DefaultTimeout = 15 * time.Minute
	// MaxTimeout bounds Options.Timeout.
	MaxTimeout = 6 * time.Hour
	// DefaultDialConcurrency is how many connections one worker opens at
	// once: enough to keep a server busy, few enough that handshakes do
	// not pile past its handshake timeout.
	DefaultDialConcurrency = 32
	// MaxDialConcurrency bounds DialConcurrency.
	MaxDialConcurrency = 1024
	// DefaultWindow is how many sends one device may have unanswered
	// with --max; the server reads at most 64 pipelined sends per
	// connection (gateway.maxPipelinedSends) before pushing back.
	DefaultWindow = 8
	// MaxWindow bounds Window.
	MaxWindow = 64
	// rateWindow is the window in rate mode: sends fire on schedule, and
	// only a server that falls far behind makes a device wait.
	rateWindow = 64
	// MinSize is the smallest payload: it carries the send timestamp.
	MinSize = payloadHeader
	// maxMLSSize is the largest text an SDK client sends
	// (client.MaxTextBytes).
	maxMLSSize = 16 << 10
	// drainTimeout bounds the wait, after a ring's senders stop, for the
	// last messages to arrive.
	drainTimeout = 30 * time.Second
	// DefaultHold is how long idle holds its connections before reading
	// the server's memory, so connection setup garbage is collected.
	DefaultHold = 5 * time.Second
	// MaxMessages bounds the mail waiting per device in a burst.
	MaxMessages = 10_000
	// burstDrainTimeout bounds the wait, after a burst's devices are
	// back, for their mailboxes to drain.
	burstDrainTimeout = 5 * time.Minute
	// maxFilesSlack is the open files a worker keeps for itself (the
	// binary, pipes, profile databases) beyond one per connection.
	maxFilesSlack = 200
)

// Options configure a run. Zero values take the documented defaults.
type Options struct {
	// Scenario is ScenarioIdle, ScenarioRing or ScenarioBurst.
	Scenario string
	// Server is the Parley server's URL (http://host:port).
	Server string
	// MetricsURL is the server's Prometheus endpoint (the admin
	// listener's /metrics). Empty: no server-side figures.
	MetricsURL string
	// AllowRemote permits a non-loopback server. Latency is measured
	// against this host's clock, so remote figures need care.
	AllowRemote bool
	// Label is free text copied into the report (e.g. the store).
	Label string
	// AlsoCPU names processes on this host (command names, like
	// "postgres") whose CPU time a ring adds to the server's: work of a
	// store in another process.
	AlsoCPU []string

	// Devices is the number of idle connections or ring devices.
	Devices int
	// Procs is the number of workers. Zero: enough that each holds at
	// most maxConnsPerWorker connections.
	Procs int
	// DialConcurrency is connections opened at once per worker.
	DialConcurrency int
	// Hold (idle) is how long connections are held before the server's
	// memory is read. Zero: DefaultHold.
	Hold time.Duration

	// Rate (ring) is the total sends per second across the ring; Max
	// ignores it and sends as fast as the server answers, with Window
	// sends in flight per device.
	Rate   float64
	Max    bool
	Window int
	// Duration (ring) is how long devices send.
	Duration time.Duration
	// Size (ring) is the ciphertext size with MLS off, the text size
	// with MLS on.
	Size int
	// MLS (ring) uses full SDK clients with real MLS encryption.
	MLS bool
	// Messages (burst) is how many messages wait in each device's
	// mailbox when the devices reconnect; they are sent with Window in
	// flight per device and Size bytes each.
	Messages int
	// Stalled (ring, MLS off) adds that many devices that stop reading
	// their sockets when the send phase starts, each sent
	// StalledMessages messages of StalledSize bytes by a ring device;
	// afterwards they reconnect and drain. Zero values of the last two
	// take DefaultStalledMessages and DefaultStalledSize.
	Stalled         int
	StalledMessages int
	StalledSize     int
	// StalledReading keeps the stalled devices reading: a control run
	// with the same mail and no stall, to tell what the stall costs the
	// ring from what the extra mail costs.
	StalledReading bool

	// Timeout bounds the whole run. Zero: DefaultTimeout.
	Timeout time.Duration
	// Launcher starts workers. Nil: InProcess.
	Launcher Launcher
	// Progress receives a progress line; nil for none. ProgressTTY
	// rewrites one line in place instead of printing a line now and
	// then.
	Progress    io.Writer
	ProgressTTY bool
}

// maxConnsPerWorker is what one process may hold here: 20,000 open
// files is the hard limit on the reference machine.
const maxConnsPerWorker = 19_000

func (o Options) withDefaults() Options {
	if o.Procs == 0 {
		o.Procs = max(1, (o.Devices+maxConnsPerWorker-1)/maxConnsPerWorker)
	}
	if o.DialConcurrency == 0 {
		o.DialConcurrency = DefaultDialConcurrency
	}
	if o.Hold == 0 {
		o.Hold = DefaultHold
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Launcher == nil {
		o.Launcher = InProcess{}
	}
	if o.Stalled > 0 {
		if o.StalledMessages == 0 {
			o.StalledMessages = DefaultStalledMessages
		}
		if o.StalledSize == 0 {
			o.StalledSize = DefaultStalledSize
		}
	}
	return o
}

// validate checks options with defaults applied; each message says what
// to change.
func (o Options) validate(ctx context.Context) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch o.Scenario {
	case ScenarioIdle, ScenarioRing, ScenarioBurst:
	default:
		bad("scenario %q: want %s, %s or %s", o.Scenario, ScenarioIdle, ScenarioRing, ScenarioBurst)
	}
	if err := checkTarget(ctx, "server", o.Server, o.AllowRemote); err != nil {
		errs = append(errs, err)
	} else if _, err := rpc.WebSocketURL(o.Server); err != nil {
		errs = append(errs, err)
	}
	if o.MetricsURL != "" {
		if err := checkTarget(ctx, "metrics", o.MetricsURL, o.AllowRemote); err != nil {
			errs = append(errs, err)
		}
	}
	maxDev := MaxDevices
	if o.MLS {
		maxDev = MaxMLSDevices
	}
	switch {
	case o.Scenario != ScenarioIdle && o.Devices < 2:
		bad("a ring needs at least 2 devices (--devices)")
	case o.Devices < 1:
		bad("at least 1 connection (--conns)")
	case o.Devices > maxDev:
		bad("%d devices is over the limit of %d for this mode", o.Devices, maxDev)
	}
	if o.Procs < 1 || o.Procs > MaxProcs {
		bad("--procs %d: want 1 to %d", o.Procs, MaxProcs)
	} else if o.Procs > o.Devices {
		bad("--procs %d is more than the %d devices", o.Procs, o.Devices)
	} else if conns := o.Devices + max(o.Stalled, 0); (conns+o.Procs-1)/o.Procs > maxConnsPerWorker {
		bad("%d devices per process is over the %d one process may hold here; raise --procs to at least %d",
			(conns+o.Procs-1)/o.Procs, maxConnsPerWorker, (conns+maxConnsPerWorker-1)/maxConnsPerWorker)
	}
	if o.Stalled != 0 {
		switch {
		case o.Scenario != ScenarioRing || o.MLS:
			bad("--stalled applies to ring with MLS off only")
		case o.Stalled < 0 || o.Stalled > MaxDevices:
			bad("--stalled %d: want 0 to %d", o.Stalled, MaxDevices)
		case o.StalledMessages < 1 || o.StalledMessages > MaxMessages:
			bad("--stalled-messages %d: want 1 to %d", o.StalledMessages, MaxMessages)
		case o.StalledSize < MinSize || o.StalledSize > proto.MaxCiphertextBytes:
			bad("--stalled-size %d: want %d to %d bytes", o.StalledSize, MinSize, proto.MaxCiphertextBytes)
		}
	}
	if o.DialConcurrency < 1 || o.DialConcurrency > MaxDialConcurrency {
		bad("dial concurrency %d: want 1 to %d", o.DialConcurrency, MaxDialConcurrency)
	}
	if o.Hold < 0 || o.Hold > MaxDuration {
		bad("--hold %v: want up to %v", o.Hold, MaxDuration)
	}
	if o.Timeout < 0 || o.Timeout > MaxTimeout {
		bad("--timeout %v: want up to %v", o.Timeout, MaxTimeout)
	}
	if o.Scenario == ScenarioRing {
		if o.Duration <= 0 || o.Duration > MaxDuration {
			bad("--duration %v: want more than 0 and at most %v", o.Duration, MaxDuration)
		}
		if !o.Max && o.Rate <= 0 {
			bad("give --rate (total messages per second) or --max")
		}
		if o.Window < 1 || o.Window > MaxWindow {
			bad("--window %d: want 1 to %d", o.Window, MaxWindow)
		}
		maxSize := proto.MaxCiphertextBytes
		if o.MLS {
			maxSize = maxMLSSize
		}
		if o.Size < MinSize || o.Size > maxSize {
			bad("--size %d: want %d to %d bytes", o.Size, MinSize, maxSize)
		}
		// Rate timers per device cannot usefully fire faster than this.
		if !o.Max && o.Rate/float64(max(o.Devices, 1)) > 10_000 {
			bad("--rate %.0f over %d devices is more than 10,000 per device per second; use more devices or --max", o.Rate, o.Devices)
		}
	}
	if o.Scenario == ScenarioBurst {
		if o.Messages < 1 || o.Messages > MaxMessages {
			bad("--messages %d: want 1 to %d per device", o.Messages, MaxMessages)
		}
		if o.Window < 1 || o.Window > MaxWindow {
			bad("--window %d: want 1 to %d", o.Window, MaxWindow)
		}
		if o.Size < MinSize || o.Size > proto.MaxCiphertextBytes {
			bad("--size %d: want %d to %d bytes", o.Size, MinSize, proto.MaxCiphertextBytes)
		}
	}
	if o.Scenario != ScenarioRing && o.MLS {
		bad("--mls applies to ring only")
	}
	return errors.Join(errs...)
}

// checkTarget refuses a URL whose host is not a loopback address unless
// remote targets are allowed: a load generator pointed at someone else's
// server by a typo is an attack.
func checkTarget(ctx context.Context, what, raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s URL %q: want http://host:port", what, raw)
	}
	if allowRemote {
		return nil
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("%s %s is not a loopback address; the bench targets this machine only (--allow-remote overrides)", what, host)
		}
		return nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("%s host %q: %w", what, host, err)
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return fmt.Errorf("%s host %q resolves to %s, not a loopback address; the bench targets this machine only (--allow-remote overrides)", what, host, ip.IP)
		}
	}
	return nil
}
