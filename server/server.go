// Package server is the Parley server as a library: New validates a
// Config and opens the store, Run listens and serves until the server is
// shut down, Shutdown drains it lame-duck fashion. `parley serve` is a
// thin wrapper around it, and tests run it in-process on port 0.
//
// The server talks to storage only through store.Store and to other nodes
// only through bus.Bus, so one node on SQLite and many nodes on PostgreSQL
// and NATS run the same code. Its domains are packages of their own:
// gateway (connections), directory (accounts and keys), delivery
// (mailboxes and the MLS delivery service) and admin (operator HTTP).
//
// Lifecycle: New → Run (blocks) → Shutdown (from another goroutine, or
// when Run's context ends). Every goroutine the server starts is joined
// before Shutdown returns.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/server/admin"
	"github.com/parleyhq/parley/server/channels"
	"github.com/parleyhq/parley/server/delivery"
	"github.com/parleyhq/parley/server/directory"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/server/media"
	"github.com/parleyhq/parley/server/metrics"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/cache"
	"github.com/parleyhq/parley/store/postgres"
	"github.com/parleyhq/parley/store/sqlite"
)

// Timeouts of the server's own lifecycle.
const (
	// SharedStoreCacheTTL is how long a node in a cluster (or on a store
	// the caller shares) uses a group's state or a block it read: a change
	// made on another node reaches this node's Sends at most this late.
	SharedStoreCacheTTL = time.Second
	// openTimeout bounds opening (and migrating) the store in New.
	openTimeout = time.Minute
	// shutdownGrace is what Run gives Shutdown beyond the drain period
	// when Run's own context ends.
	shutdownGrace = 10 * time.Second
	// readHeaderTimeout bounds a slow HTTP request header, before any
	// WebSocket exists.
	readHeaderTimeout = 10 * time.Second
)

// ErrRunning is returned by a second call to Run.
var ErrRunning = errors.New("server: already running or shut down")

// Server is one Parley node.
type Server struct {
	cfg       Config
	log       *slog.Logger
	clock     clock.Clock
	st        store.Store
	ownsStore bool
	bus       bus.Bus
	ownsBus   bool
	prober    bus.Prober // other nodes' connections; nil on one node
	metrics   *metrics.Metrics
	dir       *directory.Service
	del       *delivery.Service
	fan       *channels.Fanout  // the gateway's bus: the node's bus plus the channel index
	ch        *channels.Service // broadcast channels
	media     *media.Disk
	gw        *gateway.Gateway
	router    *router // the gateway's Handler; the fuzz targets drive it directly

	mu       sync.Mutex
	started  bool
	closing  bool // Shutdown began: listen must not publish listeners
	ln, adln net.Listener
	httpSrv  *http.Server
	adminSrv *http.Server
	ready    chan struct{} // closed once Run listens (or fails to)
	serving  sync.WaitGroup

	shutdownOnce sync.Once
	shutdownDone chan struct{}
	shutdownErr  error
}

// New validates cfg, opens the store (migrating it) and wires the server.
// It starts no goroutine and listens on nothing.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, clock: cfg.Clock, metrics: metrics.New(),
		ready: make(chan struct{}), shutdownDone: make(chan struct{}),
	}
	if err := s.openStore(); err != nil {
		return nil, err
	}
	if err := s.openBus(); err != nil {
		s.closeOwned()
		return nil, err
	}
	if err := s.wire(); err != nil {
		s.closeOwned()
		return nil, err
	}
	return s, nil
}

func (s *Server) openStore() error {
	if s.cfg.Store != nil {
		s.st = s.cfg.Store
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	if s.cfg.PostgresDSN != "" {
		st, err := postgres.Open(ctx, s.cfg.PostgresDSN)
		if err != nil {
			return fmt.Errorf("server: open PostgreSQL store %s: %w", redactDSN(s.cfg.PostgresDSN), err)
		}
		s.st, s.ownsStore = st, true
		return nil
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("server: data directory: %w", err)
	}
	path := filepath.Join(s.cfg.DataDir, DatabaseFile)
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return fmt.Errorf("server: open embedded store %s: %w", path, err)
	}
	s.st, s.ownsStore = st, true
	return nil
}

func (s *Server) wire() error {
	var err error
	// Group state and blocks are read on every Send; keep them in memory.
	// Exact on a single node that owns its store (every change passes
	// through here); bounded by a lifetime when other nodes or the caller
	// may change the store behind this node's back.
	ttl := SharedStoreCacheTTL
	if s.ownsStore && s.cfg.Bus == nil && s.cfg.NATSURL == "" {
		ttl = 0
	}
	s.st = cache.New(s.st, ttl, s.clock)
	s.dir, err = directory.New(directory.Config{
		Store: s.st, Bus: s.bus, Metrics: s.metrics, Registration: directory.Policy(s.cfg.Registration),
		Online: s.online,
		Clock:  s.clock, Logger: s.log.With("pkg", "directory"),
	})
	if err != nil {
		return err
	}
	if err := s.wireChannels(); err != nil {
		return err
	}
	s.del, err = delivery.New(delivery.Config{
		Store: s.st, Bus: s.bus, Metrics: s.metrics, Clock: s.clock, Logger: s.log.With("pkg", "delivery"),
		Channels: s.ch,
	})
	if err != nil {
		return err
	}
	s.router = &router{dir: s.dir, del: s.del, ch: s.ch, log: s.log.With("pkg", "router")}
	s.gw, err = gateway.New(gateway.Config{
		HandshakeTimeout: s.cfg.HandshakeTimeout, IdleTimeout: s.cfg.IdleTimeout,
		WriteTimeout: s.cfg.WriteTimeout, DrainPeriod: s.cfg.DrainPeriod,
		SendQueue: s.cfg.SendQueue, SendBuffer: max(s.cfg.SendBuffer, 0), RatePerSecond: s.cfg.RatePerSecond, RateBurst: s.cfg.RateBurst,
		MaxConnections: s.cfg.MaxConnections,
		Auth:           s.dir, Handler: s.router,
		Mailbox: s.del, Bus: s.fan, Metrics: s.metrics, Clock: s.clock, Logger: s.log.With("pkg", "gateway"),
	})
	return err
}

// Run listens on Addr (and AdminAddr unless disabled) and serves until
// Shutdown, or until ctx ends, in which case Run shuts the server down
// itself (bounded by DrainPeriod plus a grace period) before returning.
// It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return ErrRunning
	}
	s.started = true
	s.mu.Unlock()
	s.gw.Start()
	if err := s.listen(); err != nil {
		close(s.ready)
		s.Shutdown(context.Background())
		return err
	}
	s.del.Start()
	s.fan.Start()
	s.ch.Start()
	s.log.Info("parley server listening", "addr", s.Addr(), "admin", s.AdminAddr(), "config", s.cfg)
	close(s.ready)

	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainPeriod+shutdownGrace)
		defer cancel()
		return s.Shutdown(sctx)
	case <-s.shutdownDone:
		return nil
	}
}

// listen opens both listeners and starts serving; on failure it closes
// what it opened.
func (s *Server) listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: listen on %s: %w", s.cfg.Addr, err)
	}
	var adln net.Listener
	if s.cfg.AdminAddr != AdminOff {
		if adln, err = net.Listen("tcp", s.cfg.AdminAddr); err != nil {
			ln.Close()
			return fmt.Errorf("server: admin listen on %s: %w", s.cfg.AdminAddr, err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle(gateway.Path, s.gw)
	s.mediaRoutes(mux)
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ConnContext: gateway.ConnContext, ErrorLog: errLog}
	var adminSrv *http.Server
	if adln != nil {
		adminSrv = &http.Server{ReadHeaderTimeout: readHeaderTimeout, ErrorLog: errLog, Handler: admin.Handler(admin.Config{
			Metrics: s.metrics, Ready: s.readyCheck, CreateInvite: s.dir.CreateInvite, Moderation: s.ch, Logger: s.log.With("pkg", "admin"),
		})}
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		if adln != nil {
			adln.Close()
		}
		return errors.New("server: shut down before it listened")
	}
	s.ln, s.adln, s.httpSrv, s.adminSrv = ln, adln, httpSrv, adminSrv
	s.mu.Unlock()
	serve := func(srv *http.Server, l net.Listener) {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("listener failed", "addr", l.Addr().String(), "err", err)
		}
	}
	// Device connections are upgraded off the socket; the rest (and
	// what the gateway leaves to net/http) is served by httpSrv, which
	// closes dl (and with it ln) when it shuts down. Listen starts its
	// accept loop now, before Ready.
	dl := s.gw.Listen(ln, readHeaderTimeout)
	s.serving.Go(func() { serve(httpSrv, dl) })
	if adminSrv != nil {
		s.serving.Go(func() { serve(adminSrv, adln) })
	}
	return nil
}

// Ready is closed once Run listens (Addr is then known) or has failed.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the address devices connect to, once Run listens ("" before).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// AdminAddr is the admin listener's address ("" before Run listens or when
// disabled).
func (s *Server) AdminAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.adln == nil {
		return ""
	}
	return s.adln.Addr().String()
}

// Metrics exposes the server's metrics (for tests and benchmarks).
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// readyCheck backs /readyz: not draining, and the store answers (a lookup
// of an account that cannot exist must come back "not found").
func (s *Server) readyCheck(ctx context.Context) error {
	if s.gw.Draining() {
		return errors.New("draining")
	}
	if _, err := s.st.AccountByID(ctx, "readyz-probe"); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Shutdown stops the server lame-duck fashion: it stops accepting
// connections, sends each one Notice{SHUTTING_DOWN} and closes it (spread
// over the drain period, bounded by ctx), writes the Sends already queued,
// and closes the store and bus it opened. It is idempotent: later calls
// wait for the first and return its result. If ctx ends first, remaining
// connections are cut and Shutdown returns ctx's error once every
// goroutine has stopped.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.shutdownErr = s.shutdown(ctx)
		close(s.shutdownDone)
	})
	select {
	case <-s.shutdownDone:
		return s.shutdownErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	httpSrv, adminSrv := s.httpSrv, s.adminSrv
	s.started = true // a Run after Shutdown must not start
	s.closing = true
	s.mu.Unlock()
	var errs []error
	if httpSrv != nil {
		// Closes the listener; upgraded connections are the gateway's.
		if err := httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http: %w", err))
		}
	}
	if err := s.gw.Drain(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.del.Stop(ctx); err != nil {
		errs = append(errs, err)
	}
	s.ch.Stop()
	s.fan.Stop()
	if adminSrv != nil {
		if err := adminSrv.Shutdown(ctx); err != nil {
			adminSrv.Close()
		}
	}
	s.serving.Wait()
	errs = append(errs, s.closeOwned())
	err := errors.Join(errs...)
	if err != nil {
		s.log.Warn("shutdown finished with errors", "err", err)
	} else {
		s.log.Info("parley server stopped")
	}
	return err
}

// closeOwned closes the bus and store the server opened itself.
func (s *Server) closeOwned() error {
	var errs []error
	if s.ownsBus && s.bus != nil {
		errs = append(errs, s.bus.Close())
	}
	if s.ownsStore && s.st != nil {
		errs = append(errs, s.st.Close())
	}
	return errors.Join(errs...)
}
