// Package parleytest is Parley's in-process test harness: a real server
// (server.New on a random loopback port with a temporary embedded store,
// optionally on a fake clock, logging through t.Logf) and real clients
// (the client SDK, each with its own temporary profile). End-to-end tests
// drive the full path — WebSocket, authentication, mailbox, MLS — with it,
// and wait for conditions instead of sleeping.
package parleytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/server"
)

// startTimeout bounds how long NewServer waits for the server to listen.
const startTimeout = 10 * time.Second

// Server is a running in-process server.
type Server struct {
	*server.Server
	// URL is the client-facing base URL (http://127.0.0.1:port).
	URL string
	// AdminURL is the admin listener's base URL.
	AdminURL string
	// DataDir is the server's data directory (its embedded store).
	DataDir string
	// Clock is the server's fake clock, nil unless WithFakeClock.
	Clock *clock.Fake

	logs    *logBuffer
	cfg     server.Config
	stopped chan struct{} // closed when the current instance has shut down
	runErr  chan error
}

// Option configures NewServer.
type Option func(*server.Config, *Server)

// WithFakeClock runs the server on a fake clock starting at start.
func WithFakeClock(start time.Time) Option {
	return func(cfg *server.Config, s *Server) {
		s.Clock = clock.NewFake(start)
		cfg.Clock = s.Clock
	}
}

// WithRegistration sets the registration policy ("open", "invite", "closed").
func WithRegistration(policy string) Option {
	return func(cfg *server.Config, _ *Server) { cfg.Registration = policy }
}

// WithConfig edits the configuration directly.
func WithConfig(edit func(*server.Config)) Option {
	return func(cfg *server.Config, _ *Server) { edit(cfg) }
}

// NewServer starts a server on random loopback ports with its data in a
// temporary directory. It is shut down (lame duck, bounded) at cleanup.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{DataDir: filepath.Join(t.TempDir(), "data"), logs: &logBuffer{t: t}}
	cfg := server.Config{
		Addr:         "127.0.0.1:0",
		AdminAddr:    "localhost:0", // a different string: the config refuses identical addresses
		DataDir:      s.DataDir,
		Registration: "open",
		// Tests have few connections; a short drain keeps shutdown fast.
		DrainPeriod: 200 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg, s)
	}
	s.cfg = cfg
	s.start(t)
	t.Cleanup(func() {
		s.stop(t)
		s.logs.stop()
	})
	return s
}

// start runs a server instance with s.cfg.
func (s *Server) start(t testing.TB) {
	t.Helper()
	srv, err := server.New(s.cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	s.Server = srv
	runErr := make(chan error, 1)
	stopped := make(chan struct{})
	s.stopped = stopped
	go func() {
		defer close(stopped)
		runErr <- srv.Run(context.Background())
	}()
	select {
	case <-srv.Ready():
	case <-time.After(startTimeout):
		t.Fatalf("server did not start listening within %v", startTimeout)
	}
	if srv.Addr() == "" {
		t.Fatalf("server did not start: %v", <-runErr)
	}
	s.URL = "http://" + srv.Addr()
	if a := srv.AdminAddr(); a != "" {
		s.AdminURL = "http://" + a
	}
	s.runErr = runErr
}

// stop shuts the current instance down (lame duck, bounded).
func (s *Server) stop(t testing.TB) {
	t.Helper()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Server.Shutdown(sctx); err != nil {
		t.Errorf("server shutdown: %v", err)
	}
	<-s.stopped
	if err := <-s.runErr; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("server run: %v", err)
	}
}

// Restart shuts the server down and starts a new instance on the same
// address and data directory, as an operator's restart would.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.stop(t)
	s.cfg.Addr = strings.TrimPrefix(s.URL, "http://")
	s.start(t)
}

// Logs returns everything the server logged so far.
func (s *Server) Logs() string { return s.logs.String() }

// FilesContaining lists the files under the data directory whose bytes
// contain needle (for plaintext-leak checks).
func (s *Server) FilesContaining(t testing.TB, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(s.DataDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scanning %s: %v", s.DataDir, err)
	}
	return hits
}

// logBuffer keeps the server's log output and echoes it to t.Logf while
// the test runs.
type logBuffer struct {
	t       testing.TB
	mu      sync.Mutex
	buf     bytes.Buffer
	stopped bool
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.stopped {
		l.t.Logf("server: %s", strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// stop ends echoing: t.Logf after a test returned panics.
func (l *logBuffer) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}

func randomSuffix() string {
	var b [3]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Invite creates a registration invite code through the admin endpoint.
func (s *Server) Invite(t testing.TB) string {
	t.Helper()
	if s.AdminURL == "" {
		t.Fatal("the admin listener is off")
	}
	resp, err := http.Post(s.AdminURL+"/v1/invites", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatalf("create invite: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Code string `json:"code"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Code == "" {
		t.Fatalf("create invite: %s, %v", resp.Status, err)
	}
	return out.Code
}
