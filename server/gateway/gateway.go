package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/metrics"
	"github.com/parleyhq/parley/store"
)

// Path is where devices connect.
const Path = "/v1/ws"

// Protocol bounds of the gateway itself (the configurable ones are in
// Config).
const (
	// challengeBytes is the size of the Hello challenge: 256 bits, so a
	// signature can never be replayed on another connection.
	challengeBytes = 32
	// maxMalformed is how many unparseable frames a connection may send
	// before it is closed: one is a bug worth an answer, a stream of them
	// is not worth reading.
	maxMalformed = 3
	// maxHandshakeAttempts bounds failed Authenticate/Register/LinkBegin
	// on one connection (each costs a signature check).
	maxHandshakeAttempts = 5
	// maxPipelinedSends is how many Sends of one connection may wait for
	// the delivery batcher at once; the reader stops reading beyond that,
	// which pushes back on the device through TCP.
	maxPipelinedSends = 64
	// drainStep bounds the pause between two lame-duck closes: with few
	// connections there is no reconnect storm to spread, so draining does
	// not take the whole drain period.
	drainStep = 10 * time.Millisecond
)

// Identity is who an authenticated connection speaks for.
type Identity struct {
	AccountID string
	Handle    string
	DeviceID  string
	Primary   bool
}

// Authenticator checks the handshake requests. Errors should be
// *proto.Error; anything else is answered INTERNAL and logged.
type Authenticator interface {
	Authenticate(ctx context.Context, challenge []byte, a *proto.Authenticate) (*proto.AuthResult, error)
	Register(ctx context.Context, challenge []byte, r *proto.Register) (*proto.AuthResult, error)
	// LinkBegin returns the new device's id and the code to show.
	LinkBegin(ctx context.Context, challenge []byte, l *proto.LinkBegin) (deviceID string, code *proto.LinkCode, err error)
}

// InfoAuthenticator is an Authenticator that also tells what the
// authenticate read found beyond the AuthResult (the server's directory):
// with a bus that keeps a channel index (the server's), a connection of
// an account in no channel costs the index no store read, and with a bus
// that counts its mail signals (bus/local), a connection whose mailbox
// was empty needs no first mailbox read.
type InfoAuthenticator interface {
	AuthenticateInfo(ctx context.Context, challenge []byte, a *proto.Authenticate) (*proto.AuthResult, AuthInfo, error)
}

// AuthInfo is what InfoAuthenticator adds to an AuthResult.
type AuthInfo struct {
	InChannels   bool // the account owns, administers or follows a channel
	MailboxEmpty bool // the device's mailbox held nothing
}

// ChannelHint is what a handshake's read found of the account's
// channels, for a bus that keeps a channel index.
type ChannelHint struct {
	// Epoch is the index's ChannelEpoch before the read: the index
	// trusts None only if no membership changed through it since.
	Epoch uint64
	None  bool // the account was in no channel
}

// Handler serves the requests of authenticated devices.
type Handler interface {
	// Serve handles req and calls done exactly once with the response,
	// possibly later and from another goroutine (the delivery batcher).
	// The response's Id is set by the gateway.
	Serve(ctx context.Context, who Identity, req *proto.Request, done func(*proto.Response))
	// Left is called when the last connection of an account closes.
	Left(accountID string, at time.Time)
}

// Mailbox reads a device's mailbox for the pusher.
type Mailbox interface {
	Fetch(ctx context.Context, deviceID string, after uint64, limit int) ([]store.Mail, error)
}

// Config configures a Gateway. Durations and sizes must be positive (the
// server package fills in its documented defaults).
type Config struct {
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	WriteTimeout     time.Duration
	// SendQueue is the per-connection queue of frames waiting for the
	// writer (responses and events other than mailbox pushes).
	SendQueue int
	// SendBuffer is the SO_SNDBUF given to accepted sockets (the kernel
	// doubles it); 0 leaves the kernel's autotuned default.
	SendBuffer int
	// RatePerSecond and RateBurst form each connection's token bucket.
	RatePerSecond float64
	RateBurst     int
	// DrainPeriod is the longest a lame-duck drain spreads its closes
	// over.
	DrainPeriod time.Duration
	// MaxConnections bounds open connections; more are refused with HTTP
	// 503 before the WebSocket upgrade.
	MaxConnections int

	Auth    Authenticator
	Handler Handler
	Mailbox Mailbox
	Bus     bus.Bus
	Metrics *metrics.Metrics
	Clock   clock.Clock
	Logger  *slog.Logger
	Rand    io.Reader // challenges; nil means crypto/rand
}

// Gateway is an http.Handler for Path.
type Gateway struct {
	cfg    Config
	log    *slog.Logger
	clock  clock.Clock
	rand   io.Reader
	node   string // random, names this gateway in connection ids
	nextID atomic.Uint64
	// ctx is what requests of devices run under; it ends when a drain
	// runs out of time, aborting what is still waiting on the store.
	ctx    context.Context
	cancel context.CancelFunc
	// goroutines forces goroutine mode for every connection (see
	// TransportEnv).
	goroutines bool

	mu       sync.Mutex
	conns    map[*conn]struct{}
	online   map[string]int // account id → authenticated connections
	draining bool
	open     int            // connections from the upgrade until their teardown
	engine   *engine        // event loop and sweeper, started by the first connection
	wg       sync.WaitGroup // one per open connection
}

// New returns a gateway; it starts nothing until connections arrive.
func New(cfg Config) (*Gateway, error) {
	switch {
	case cfg.Auth == nil || cfg.Handler == nil || cfg.Mailbox == nil || cfg.Bus == nil || cfg.Metrics == nil:
		return nil, errors.New("gateway: Auth, Handler, Mailbox, Bus and Metrics are required")
	case cfg.HandshakeTimeout <= 0 || cfg.IdleTimeout <= 0 || cfg.WriteTimeout <= 0 || cfg.DrainPeriod <= 0:
		return nil, errors.New("gateway: timeouts must be positive")
	case cfg.SendQueue < 1 || cfg.RatePerSecond <= 0 || cfg.RateBurst < 1 || cfg.MaxConnections < 1:
		return nil, errors.New("gateway: SendQueue, RatePerSecond, RateBurst and MaxConnections must be positive")
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{
		cfg:        cfg,
		ctx:        ctx,
		cancel:     cancel,
		goroutines: os.Getenv(TransportEnv) == TransportGoroutines,
		log:        cfg.Logger,
		clock:      clock.OrReal(cfg.Clock),
		rand:       cfg.Rand,
		conns:      make(map[*conn]struct{}),
		online:     make(map[string]int),
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.rand == nil {
		g.rand = rand.Reader
	}
	var node [6]byte
	if _, err := io.ReadFull(g.rand, node[:]); err != nil {
		return nil, fmt.Errorf("gateway: node id: %w", err)
	}
	g.node = hex.EncodeToString(node[:])
	return g, nil
}

// ConnContext is for http.Server.ConnContext. The gateway takes the
// socket over after the upgrade and no longer needs anything from it; it
// is kept so servers that set it keep building.
func ConnContext(ctx context.Context, _ net.Conn) context.Context { return ctx }

// ServeHTTP upgrades the request to a WebSocket and hands the connection
// to the event loop; the handler returns right away (in goroutine mode it
// serves the connection until it closes). Connections that come through
// Listen are mostly upgraded there, without net/http.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	if g.draining {
		g.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		http.Error(w, "server is shutting down; reconnect to another node or retry shortly", http.StatusServiceUnavailable)
		return
	}
	if g.open >= g.cfg.MaxConnections {
		g.mu.Unlock()
		g.cfg.Metrics.Error(proto.Code_UNAVAILABLE)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "server is at its connection limit; retry later or connect to another node", http.StatusServiceUnavailable)
		return
	}
	eng := g.admitLocked()
	g.mu.Unlock()

	nc, buffered, err := upgrade(w, r)
	if err != nil {
		g.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		g.unadmit()
		return
	}
	g.opened(eng, nc, buffered)
}

// serveFast is ServeHTTP for a request Listen has checked: it answers 101
// on nc and starts the connection. False, with nothing written, when the
// gateway is draining or full: net/http then answers as ServeHTTP does.
func (g *Gateway) serveFast(nc net.Conn, key string, buffered []byte) bool {
	g.mu.Lock()
	if g.draining || g.open >= g.cfg.MaxConnections {
		g.mu.Unlock()
		return false
	}
	eng := g.admitLocked()
	g.mu.Unlock()
	if err := writeSwitching(nc, key); err != nil {
		g.log.Debug("websocket upgrade failed", "remote", nc.RemoteAddr().String(), "err", err)
		nc.Close()
		g.unadmit()
		return true
	}
	if len(buffered) > 0 {
		buffered = append([]byte(nil), buffered...) // the caller's buffer is reused
	}
	g.opened(eng, nc, buffered)
	return true
}

// admitLocked counts a connection about to be upgraded and returns the
// event loop, started by the first connection.
func (g *Gateway) admitLocked() *engine {
	if g.engine == nil {
		g.engine = g.startEngine()
	}
	g.open++
	g.wg.Add(1)
	return g.engine
}

// unadmit undoes admitLocked after a failed upgrade.
func (g *Gateway) unadmit() {
	g.mu.Lock()
	g.open--
	g.mu.Unlock()
	g.wg.Done()
}

// opened starts an upgraded connection.
func (g *Gateway) opened(eng *engine, nc net.Conn, buffered []byte) {
	c := g.newConn()
	g.mu.Lock()
	draining := g.draining
	g.conns[c] = struct{}{}
	g.mu.Unlock()
	g.cfg.Metrics.Connections.Inc()
	// From here the connection is counted in wg until its teardown.
	c.start(eng, nc, buffered)
	if draining { // Drain began during the upgrade and did not see c
		c.cut(proto.Code_SHUTTING_DOWN, "the server is shutting down; reconnect in a moment")
	}
}

// Start starts the event loop and the deadline sweeper, so their
// goroutines exist from the server's start rather than from its first
// connection (which starts them itself if Start was not called). Drain
// stops them.
func (g *Gateway) Start() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.engine == nil && !g.draining {
		g.engine = g.startEngine()
	}
}

// forget drops a torn-down connection.
func (g *Gateway) forget(c *conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.open--
	g.mu.Unlock()
	g.cfg.Metrics.Connections.Dec()
}

// Online reports whether any device of the account is connected to this
// gateway.
func (g *Gateway) Online(accountID string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.online[accountID] > 0
}

// joined records an authenticated connection of the account.
func (g *Gateway) joined(accountID string) {
	g.mu.Lock()
	g.online[accountID]++
	g.mu.Unlock()
	g.cfg.Metrics.Authenticated.Inc()
}

// left undoes joined and tells the handler when the account's last
// connection went away (for last-seen).
func (g *Gateway) left(accountID string) {
	g.mu.Lock()
	g.online[accountID]--
	last := g.online[accountID] <= 0
	if last {
		delete(g.online, accountID)
	}
	g.mu.Unlock()
	g.cfg.Metrics.Authenticated.Dec()
	if last {
		g.cfg.Handler.Left(accountID, g.clock.Now())
	}
}

// Drain is the lame-duck close: it refuses new connections, then sends
// every connection Notice{SHUTTING_DOWN} and closes it, spreading the
// closes over at most DrainPeriod (and at most half of what is left of
// ctx) so clients do not all reconnect at once. It returns when every
// connection handler has finished; if ctx ends first, it closes the
// remaining sockets outright, waits for their handlers and returns
// ctx.Err().
func (g *Gateway) Drain(ctx context.Context) error {
	g.mu.Lock()
	g.draining = true
	conns := make([]*conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()

	period := g.cfg.DrainPeriod
	if dl, ok := ctx.Deadline(); ok {
		period = min(period, time.Until(dl)/2)
	}
	var step time.Duration
	if n := len(conns); n > 1 && period > 0 {
		step = min(period/time.Duration(n), drainStep)
	}
	// Pacing uses the wall clock on purpose: it spreads real reconnects,
	// and a fake clock in a test must not stall shutdown.
	pace := time.NewTimer(0)
	defer pace.Stop()
	<-pace.C
	for i, c := range conns {
		if i > 0 && step > 0 {
			pace.Reset(step)
			select {
			case <-pace.C:
			case <-ctx.Done():
			}
		}
		c.cut(proto.Code_SHUTTING_DOWN, "the server is shutting down; reconnect in a moment")
	}

	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		g.stopEngine()
		return nil
	case <-ctx.Done():
	}
	g.cancel() // abort requests still waiting on the store
	g.mu.Lock()
	left := make([]*conn, 0, len(g.conns))
	for c := range g.conns {
		left = append(left, c)
	}
	g.mu.Unlock()
	for _, c := range left {
		c.kill()
	}
	<-done
	g.stopEngine()
	return fmt.Errorf("gateway: drain: %w", ctx.Err())
}

// stopEngine stops the event loop and the sweeper once no connection is
// left; the gateway is draining, so none starts them again.
func (g *Gateway) stopEngine() {
	g.mu.Lock()
	eng := g.engine
	g.engine = nil
	g.mu.Unlock()
	if eng != nil {
		eng.stop()
	}
	g.cancel()
}

// Draining reports whether Drain has begun.
func (g *Gateway) Draining() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.draining
}

// challenge returns fresh random bytes for a Hello.
func (g *Gateway) challenge() (*[challengeBytes]byte, error) {
	b := new([challengeBytes]byte)
	if _, err := io.ReadFull(g.rand, b[:]); err != nil {
		return nil, fmt.Errorf("gateway: challenge: %w", err)
	}
	return b, nil
}
