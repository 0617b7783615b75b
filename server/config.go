package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/server/directory"
	"github.com/parleyhq/parley/store"
)

// Defaults for the zero Config. They are what `parley serve` runs with.
const (
	DefaultAddr      = "127.0.0.1:8080"
	DefaultAdminAddr = "127.0.0.1:8081"
	DefaultDataDir   = "./parley-data"
	// AdminOff as AdminAddr disables the admin listener.
	AdminOff = "off"

	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultIdleTimeout is three of the clients' 30-second pings.
	DefaultIdleTimeout  = 90 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	// DefaultDrainPeriod spreads lame-duck closes; Shutdown's context may
	// shorten it.
	DefaultDrainPeriod = 5 * time.Second
	// DefaultSendQueue leaves room, beyond a full batch of pushed mail,
	// for responses and ephemeral events of a device that reads normally.
	DefaultSendQueue = 512
	// DefaultSendBuffer is the SO_SNDBUF of device sockets (the kernel
	// doubles it, and stops autotuning it): a device that stops reading
	// pins at most twice this much kernel memory, and its writes stall,
	// so the write timeout cuts it, once about that much waits for it.
	// 256 KiB in flight is 2.5 MB/s a device at 100 ms of round trip;
	// it is about what the kernel's autotuning reached for the bench's
	// stalled devices (docs/BENCHMARKS.md, Slow consumers), where 64 KiB
	// moved the mail they did not read from the kernel into the heap.
	DefaultSendBuffer = 128 << 10
	// SendBufferKernel as SendBuffer leaves the kernel's default (up to
	// net.ipv4.tcp_wmem's maximum, 4 MiB, a socket).
	SendBufferKernel = -1
	// DefaultRatePerSecond and DefaultRateBurst allow far more than a
	// person types, and bound what a runaway or hostile client costs.
	DefaultRatePerSecond = 100
	DefaultRateBurst     = 200
	// DefaultMaxConnections is the connection limit where the process's
	// open-file limit cannot be read; elsewhere the default is that limit
	// (raised to the hard limit) less a reserve of 1,000 files for the
	// store, listeners and logs, at most 100,000 (see filelimit.go):
	// 19,000 on the reference machine's 20,000 files.
	DefaultMaxConnections = 15000
	// DatabaseFile is the embedded store's file inside DataDir.
	DatabaseFile = "parley.db"
)

// Config configures a Server. Its zero value is a useful single-node
// server: the fields say what zero means.
type Config struct {
	// Addr is where devices connect (host:port; port 0 picks one, see
	// Server.Addr). Zero: DefaultAddr.
	Addr string
	// AdminAddr is the admin listener (health, readiness, metrics,
	// invites). Zero: DefaultAdminAddr; AdminOff disables it. Keep it on
	// loopback or a private network: it has no authentication.
	AdminAddr string
	// DataDir holds the embedded store. Zero: DefaultDataDir. Created
	// with mode 0700 if missing. Unused with PostgresDSN.
	DataDir string
	// PostgresDSN selects the PostgreSQL store. Zero: the embedded SQLite
	// store at DataDir/parley.db. It may hold a password; the server never
	// logs it.
	PostgresDSN string
	// NATSURL selects the cluster bus: the NATS servers (comma-separated
	// URLs) through which nodes sharing one PostgreSQL store reach each
	// other's devices. Zero: the in-process bus of a single node. It
	// needs PostgresDSN (or Store): nodes of a cluster share one store.
	// It may hold credentials; the server never logs them.
	NATSURL string
	// NATSPrefix starts every NATS subject of this cluster, so several
	// clusters (or tests) can share NATS servers. Zero: "parley".
	NATSPrefix string
	// Registration is the account policy: "open", "invite" or "closed".
	// Zero: "open".
	Registration string
	// MediaDir holds channel media files. Zero: DataDir/media. The nodes
	// of a cluster must share it (a network file system), or use an
	// S3-compatible media.Store.
	MediaDir string

	// Connection limits. Zero: the Default… constant of the same name.
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	WriteTimeout     time.Duration
	DrainPeriod      time.Duration
	SendQueue        int     // frames queued per connection
	SendBuffer       int     // SO_SNDBUF bytes of device sockets; SendBufferKernel: the kernel's default
	RatePerSecond    float64 // requests per device per second
	RateBurst        int
	MaxConnections   int // zero: the open-file limit less a reserve (see DefaultMaxConnections)

	// Logger receives the server's logs. Zero: discard.
	Logger *slog.Logger
	// Clock drives every timeout, expiry and timestamp. Zero: the wall
	// clock.
	Clock clock.Clock
	// Store replaces the configured store (tests). The caller keeps
	// ownership: Shutdown does not close it.
	Store store.Store
	// Bus replaces the in-process bus (tests, several nodes). The caller
	// keeps ownership.
	Bus bus.Bus
}

// withDefaults returns c with zero fields filled in.
func (c Config) withDefaults() Config {
	or := func(s *string, def string) {
		if *s == "" {
			*s = def
		}
	}
	or(&c.Addr, DefaultAddr)
	or(&c.AdminAddr, DefaultAdminAddr)
	or(&c.DataDir, DefaultDataDir)
	or(&c.Registration, string(directory.PolicyOpen))
	ord := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	ord(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	ord(&c.IdleTimeout, DefaultIdleTimeout)
	ord(&c.WriteTimeout, DefaultWriteTimeout)
	ord(&c.DrainPeriod, DefaultDrainPeriod)
	if c.SendQueue == 0 {
		c.SendQueue = DefaultSendQueue
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = DefaultSendBuffer
	}
	if c.RatePerSecond == 0 {
		c.RatePerSecond = DefaultRatePerSecond
	}
	if c.RateBurst == 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = defaultMaxConnections()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Clock = clock.OrReal(c.Clock)
	return c
}

// validate checks a config with defaults applied.
func (c Config) validate() error {
	var errs []error
	if !directory.Policy(c.Registration).Valid() {
		errs = append(errs, fmt.Errorf("registration %q: want open, invite or closed", c.Registration))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"handshake timeout", c.HandshakeTimeout}, {"idle timeout", c.IdleTimeout}, {"write timeout", c.WriteTimeout}, {"drain period", c.DrainPeriod}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v must be positive", d.name, d.v))
		}
	}
	if c.SendQueue < 1 || c.RatePerSecond < 0 || c.RateBurst < 1 || c.MaxConnections < 1 {
		errs = append(errs, errors.New("send queue, rate, burst and max connections must be positive"))
	}
	if c.SendBuffer < 0 && c.SendBuffer != SendBufferKernel {
		errs = append(errs, fmt.Errorf("send buffer %d: want a size in bytes, or %d for the kernel's default", c.SendBuffer, SendBufferKernel))
	}
	if c.NATSURL != "" && c.PostgresDSN == "" && c.Store == nil {
		errs = append(errs, errors.New("nats url without a postgres dsn: the nodes of a cluster must share one PostgreSQL store (add --postgres)"))
	}
	if c.Addr == c.AdminAddr && !strings.HasSuffix(c.Addr, ":0") {
		errs = append(errs, fmt.Errorf("addr and admin addr are both %s", c.Addr))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("server: config: %w", err)
	}
	return nil
}

// LogValue describes the config for logs with the DSN's password removed.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("addr", c.Addr), slog.String("admin_addr", c.AdminAddr),
		slog.String("registration", c.Registration),
	}
	if c.PostgresDSN != "" {
		attrs = append(attrs, slog.String("postgres", redactDSN(c.PostgresDSN)))
	} else {
		attrs = append(attrs, slog.String("data_dir", c.DataDir))
	}
	if c.NATSURL != "" {
		attrs = append(attrs, slog.String("nats", redactNATS(c.NATSURL)))
	}
	return slog.GroupValue(attrs...)
}

// redactDSN hides the password of a URL-form DSN; a keyword-form DSN
// ("host=… password=…") is hidden entirely, since it cannot be parsed
// safely here.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "(set)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// redactNATS hides credentials in a comma-separated list of NATS URLs.
func redactNATS(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = url.User("xxxxx")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// fileConfig is the JSON form of Config: durations are strings like
// "10s", and only what an operator sets is here.
type fileConfig struct {
	Addr             string  `json:"addr"`
	AdminAddr        string  `json:"admin_addr"`
	DataDir          string  `json:"data_dir"`
	PostgresDSN      string  `json:"postgres_dsn"`
	NATSURL          string  `json:"nats_url"`
	NATSPrefix       string  `json:"nats_prefix"`
	Registration     string  `json:"registration"`
	MediaDir         string  `json:"media_dir"`
	HandshakeTimeout string  `json:"handshake_timeout"`
	IdleTimeout      string  `json:"idle_timeout"`
	WriteTimeout     string  `json:"write_timeout"`
	DrainPeriod      string  `json:"drain_period"`
	SendQueue        int     `json:"send_queue"`
	SendBuffer       int     `json:"send_buffer"`
	RatePerSecond    float64 `json:"rate_per_second"`
	RateBurst        int     `json:"rate_burst"`
	MaxConnections   int     `json:"max_connections"`
}

// LoadConfig reads a JSON config file strictly: an unknown field, a
// malformed duration or trailing data is an error naming the problem, so
// a typo never silently falls back to a default.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("server: config: %w", err)
	}
	return parseConfig(b, path)
}

func parseConfig(b []byte, name string) (Config, error) {
	var f fileConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Config{}, fmt.Errorf("server: config %s: %w", name, err)
	}
	if dec.More() {
		return Config{}, fmt.Errorf("server: config %s: trailing data after the JSON object", name)
	}
	c := Config{
		Addr: f.Addr, AdminAddr: f.AdminAddr, DataDir: f.DataDir, PostgresDSN: f.PostgresDSN,
		NATSURL: f.NATSURL, NATSPrefix: f.NATSPrefix, MediaDir: f.MediaDir,
		Registration: f.Registration, SendQueue: f.SendQueue, SendBuffer: f.SendBuffer, RatePerSecond: f.RatePerSecond,
		RateBurst: f.RateBurst, MaxConnections: f.MaxConnections,
	}
	for _, d := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{
		{"handshake_timeout", f.HandshakeTimeout, &c.HandshakeTimeout},
		{"idle_timeout", f.IdleTimeout, &c.IdleTimeout},
		{"write_timeout", f.WriteTimeout, &c.WriteTimeout},
		{"drain_period", f.DrainPeriod, &c.DrainPeriod},
	} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil || v <= 0 {
			return Config{}, fmt.Errorf("server: config %s: %s %q: want a positive duration like \"10s\"", name, d.name, d.s)
		}
		*d.dst = v
	}
	return c, nil
}
