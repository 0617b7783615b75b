// Package client is Parley's Go SDK: one Client is one device. It keeps
// the device's state in a profile directory (package client/profile),
// keeps one WebSocket to the server open (reconnecting with jittered
// backoff), registers or links the device, manages the account's devices,
// and runs 1:1 conversations as MLS groups of all devices of both
// accounts. Incoming mail is decrypted, stored and only then acknowledged,
// and announced on Events.
//
// The client never sends plaintext: every message, receipt and typing
// indicator is an MLS application message; without an MLS engine the
// send path fails with ErrNoEncryption.
package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/client/rpc"
	"github.com/parleyhq/parley/identity"
	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/mls"
	"github.com/parleyhq/parley/proto"
)

// DefaultServer is the server a new profile talks to.
const DefaultServer = "http://127.0.0.1:8080"

// Defaults of Options.
const (
	// DefaultPingInterval keeps the connection inside the server's idle
	// timeout (90 s by default; the protocol asks for a third of it).
	DefaultPingInterval = 25 * time.Second
	// DefaultEventBuffer is how many events wait for the application
	// before the client stops processing (and acking) incoming mail.
	DefaultEventBuffer = 256
	// callTimeout bounds requests the client makes on its own (acks,
	// pings, key package uploads).
	callTimeout = 30 * time.Second
	// ackEvery acks at least this often during a long burst (the server
	// stops pushing at proto.MaxEventBatch unacked events).
	ackEvery = proto.MaxEventBatch / 2
	// syncQuiet: with no pushed event for this long after connecting,
	// the mailbox counts as drained.
	syncQuiet = 2 * time.Second
)

// Errors callers branch on.
var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("client: closed")
	// ErrRevoked means this device was removed from its account.
	ErrRevoked = errors.New("client: this device was revoked from its account; register or link it again with a new profile")
	// ErrRegistered means the profile already has an account.
	ErrRegistered = errors.New("client: this profile is already registered")
)

// Options configure a Client. Only Profile is required.
type Options struct {
	// Profile is the directory holding this device's state.
	Profile string
	// Server is the server URL. Empty: the one the profile registered
	// with, else DefaultServer.
	Server string
	// DeviceName is shown in device lists (registration and linking).
	DeviceName string
	// InviteCode is needed to register on a server with the invite policy.
	InviteCode string
	Logger     *slog.Logger // default: discard
	Clock      clock.Clock  // default: the wall clock
	// Rand drives reconnect jitter; default: a random source.
	Rand *rand.Rand
	// BackoffMin and BackoffMax bound the reconnect backoff.
	BackoffMin, BackoffMax time.Duration
	// PingInterval is how often an idle connection sends Ping.
	PingInterval time.Duration
	// EventBuffer is the capacity of Events().
	EventBuffer int
	// KeyPackageLifetime is how long this device's key packages are
	// valid (default and maximum mls.DefaultKeyPackageLifetime, 90 days);
	// they are replaced when two thirds of it have passed. Tests shorten
	// it to watch renewal happen.
	KeyPackageLifetime time.Duration
	// HTTPClient dials the WebSocket (tests, proxies).
	HTTPClient *http.Client
	// Hooks inject faults and observe traffic in tests; nil in programs.
	Hooks *Hooks
}

// Hooks let tests inject faults into a client and observe what it gets.
type Hooks struct {
	// BeforeAck is called before the client acknowledges mail up to seq;
	// returning false drops the connection instead (a lost ack).
	BeforeAck func(seq uint64) bool
	// Envelope is called with every envelope received, before processing.
	Envelope func(*proto.Envelope)
	// Response is called with every request the client makes on its
	// authenticated connection and the response it got (nil when none
	// arrived), e.g. to check what the server reveals.
	Response func(req *proto.Request, resp *proto.Response)
	// Event is called with every event pushed to the client, before
	// processing.
	Event func(*proto.Event)
	// LoseResponse, when it returns true for a request the server
	// answered, makes the client lose that answer: it drops the
	// connection as if it broke after sending, and goes on as it would
	// then (repeating the request once reconnected, where that is safe).
	LoseResponse func(*proto.Request) bool
}

// errLostResponse is the error of a request whose answer a test hook
// threw away.
var errLostResponse = errors.New("client: the answer was lost (test hook)")

// EncryptionAvailable reports whether this build has an MLS engine (the
// client refuses to send without one).
func EncryptionAvailable() bool {
	_, none := newEngine(profile.NewDeviceKey(), "d", time.Now, 0).(noEngine)
	return !none
}

// Client is one device connected to a Parley server.
type Client struct {
	opts     Options
	log      *slog.Logger
	clk      clock.Clock
	prof     *profile.Profile
	key      profile.DeviceKey
	deviceID string
	server   string
	engine   groupEngine

	events chan Event
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	self      profile.Self
	conn      *rpc.Conn // authenticated connection, nil while down
	connCh    chan struct{}
	lastErr   error // why the last connection attempt failed
	fatal     error // the client stopped for good (revoked)
	running   bool  // the run loop was started
	closed    bool
	kpLeft    uint32
	kpPending bool
	// mailboxSeq is the AuthResult's highest mailbox sequence: once the
	// inbox has processed up to it, the device is synced.
	mailboxSeq uint64
	synced     chan struct{}
	syncOnce   sync.Once

	kpMu sync.Mutex // one key-package upload at a time

	// groupMu serializes every change to MLS group state: incoming
	// processing and outgoing commits/messages load, change and save
	// group states under it.
	groupMu sync.Mutex
	// advanced is closed and replaced whenever incoming processing
	// changed a group, so a commit that lost a race can wait for the
	// mailbox to catch up.
	advanced chan struct{}
	// reconcileKick asks for a reconciliation pass (reconcile.go).
	reconcileKick chan struct{}

	// adminMu serializes changes to channel teams (admin conversations
	// and key rotations); channelSyncMu serializes channel syncs, so a
	// cursor never moves under a sync in progress. Neither is held while
	// waiting for groupMu's holder to wait on them.
	adminMu       sync.Mutex
	channelSyncMu sync.Mutex
	channelWork   channelWork
}

// Dial opens the profile and, if it has an account, connects and keeps
// connected (reconnecting with backoff) until Close. A new profile stays
// offline until Register or LinkBegin.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if opts.Profile == "" {
		return nil, errors.New("client: no profile directory given")
	}
	prof, err := profile.Open(opts.Profile)
	if err != nil {
		return nil, err
	}
	c, err := newClient(ctx, opts, prof)
	if err != nil {
		prof.Close()
		return nil, err
	}
	if c.Registered() {
		c.start(nil)
	}
	return c, nil
}

func newClient(ctx context.Context, opts Options, prof *profile.Profile) (*Client, error) {
	key, err := prof.DeviceKey(ctx)
	if err != nil {
		return nil, err
	}
	server := opts.Server
	if server == "" {
		if server, err = prof.ServerURL(ctx); err != nil {
			return nil, err
		}
	}
	if server == "" {
		server = DefaultServer
	}
	if _, err := rpc.WebSocketURL(server); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.EventBuffer <= 0 {
		opts.EventBuffer = DefaultEventBuffer
	}
	if opts.KeyPackageLifetime <= 0 || opts.KeyPackageLifetime > mls.DefaultKeyPackageLifetime {
		opts.KeyPackageLifetime = mls.DefaultKeyPackageLifetime
	}
	pub := key.Public()
	c := &Client{
		opts:     opts,
		log:      opts.Logger,
		clk:      clock.OrReal(opts.Clock),
		prof:     prof,
		key:      key,
		deviceID: identity.DeviceID(pub),
		server:   server,
		events:   make(chan Event, opts.EventBuffer),
		connCh:   make(chan struct{}),
		advanced: make(chan struct{}),

		reconcileKick: make(chan struct{}, 1),
		synced:        make(chan struct{}),
	}
	c.engine = newEngine(key, c.deviceID, c.clk.Now, opts.KeyPackageLifetime)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	self, err := prof.Self(ctx)
	switch {
	case err == nil:
		c.self = self
	case errors.Is(err, profile.ErrNotRegistered):
	default:
		return nil, err
	}
	// Ids of mail the server can no longer redeliver need not be kept.
	if err := prof.PruneSeen(ctx, c.clk.Now().Add(-proto.MailboxTTL-24*time.Hour)); err != nil {
		c.log.Warn("pruning seen message ids", "err", err)
	}
	return c, nil
}

// Close stops the client, waits for its goroutines and closes the profile.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return c.prof.Close()
}

// Events delivers what happens, in order. Read it continuously, from a
// goroutine of its own: while it is full the client stops processing
// incoming mail (which then waits, safely, in the server's mailbox).
// Typing events are dropped rather than waited for, and so are warnings
// raised while the client holds its group lock (they are logged).
func (c *Client) Events() <-chan Event { return c.events }

// DeviceID is this device's id.
func (c *Client) DeviceID() string { return c.deviceID }

// Server is the URL the client talks to.
func (c *Client) Server() string { return c.server }

// Profile is the client's local state.
func (c *Client) Profile() *profile.Profile { return c.prof }

// Registered reports whether the profile has an account.
func (c *Client) Registered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.self.AccountID != ""
}

// Self returns this device's account (zero before registration).
func (c *Client) Self() profile.Self {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.self
}

// WaitConnected waits until the client is authenticated to the server.
// When ctx ends first, the error says why the last attempt failed.
func (c *Client) WaitConnected(ctx context.Context) error {
	_, err := c.waitConn(ctx)
	return err
}

func (c *Client) waitConn(ctx context.Context) (*rpc.Conn, error) {
	return c.waitConnAfter(ctx, nil)
}

// waitConnAfter is waitConn for a request that broke on the connection
// broken: it waits for the next one (the run loop may not have noticed
// the break yet).
func (c *Client) waitConnAfter(ctx context.Context, broken *rpc.Conn) (*rpc.Conn, error) {
	for {
		c.mu.Lock()
		conn, ch, fatal, last, closed, running := c.conn, c.connCh, c.fatal, c.lastErr, c.closed, c.running
		c.mu.Unlock()
		switch {
		case fatal != nil:
			return nil, fatal
		case closed:
			return nil, ErrClosed
		case !running:
			return nil, profile.ErrNotRegistered
		case conn != nil && conn != broken:
			return conn, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if last != nil {
				return nil, fmt.Errorf("not connected to %s: %w", c.server, last)
			}
			return nil, fmt.Errorf("not connected to %s: %w", c.server, ctx.Err())
		case <-c.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// WaitSynced waits until the mail that waited on the server when the
// client first connected has been processed (so a command sees the
// conversations and messages that arrived while it was offline).
func (c *Client) WaitSynced(ctx context.Context) error {
	if err := c.WaitConnected(ctx); err != nil {
		return err
	}
	select {
	case <-c.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return ErrClosed
	}
}

func (c *Client) markSynced() { c.syncOnce.Do(func() { close(c.synced) }) }

// setConn publishes the current connection (nil: down) and wakes waiters.
func (c *Client) setConn(conn *rpc.Conn, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn = conn
	if err != nil {
		c.lastErr = err
	}
	close(c.connCh)
	c.connCh = make(chan struct{})
}

// call sends a request on the authenticated connection, waiting for one
// if the client is reconnecting. Requests that are safe to repeat (all
// but device-list changes) are retried once the connection is back when
// it broke under them; Send and Commit repeat with the same message id,
// and the server's DUPLICATE then means the first attempt was stored.
func (c *Client) call(ctx context.Context, req *proto.Request) (*proto.Response, error) {
	const attempts = 3
	retryable := req.GetLinkApprove() == nil && req.GetRevokeDevice() == nil
	var broken *rpc.Conn
	for i := 0; ; i++ {
		conn, err := c.waitConnAfter(ctx, broken)
		if err != nil {
			return nil, err
		}
		resp, err := conn.Call(ctx, req)
		if h := c.opts.Hooks; h != nil && h.Response != nil {
			h.Response(req, resp)
		}
		if h := c.opts.Hooks; h != nil && h.LoseResponse != nil && resp != nil && h.LoseResponse(req) {
			conn.Close()
			resp, err = nil, errLostResponse
		}
		var pe *proto.Error
		if err == nil || errors.As(err, &pe) || ctx.Err() != nil || !retryable || i+1 == attempts {
			return resp, err
		}
		// The connection broke under the request; wait for the next one.
		// (The connection's goroutine never waits for groupMu beyond the
		// connection's life, see lockGroups, so a caller holding it does
		// not keep the run loop from reconnecting.)
		broken = conn
		c.log.Debug("retrying request after reconnect", "err", err)
	}
}

// groupLockPoll is how often lockGroups retries while another holder has
// groupMu.
const groupLockPoll = 5 * time.Millisecond

// lockGroups takes groupMu unless ctx ends first. The goroutines of a
// connection (incoming mail, delivery receipts, reconciliation) lock this
// way, with contexts that end with the connection: a holder of groupMu
// may be waiting for a request on a connection that just broke, and the
// broken connection can only be replaced once they all gave up. Other
// callers use it too, so that their context bounds the wait. (sync.Mutex cannot be waited on with a context;
// polling TryLock is the small price. The poll runs on the wall clock: it
// is a retry interval, not a time the client reasons about, and must tick
// under a test's fake clock too.)
func (c *Client) lockGroups(ctx context.Context) error {
	if c.groupMu.TryLock() {
		return nil
	}
	t := time.NewTicker(groupLockPoll)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if c.groupMu.TryLock() {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tryEmit hands an event to the application without waiting: it is used
// where the client holds the group lock, which must never wait on the
// application. A warning that does not fit is still logged.
func (c *Client) tryEmit(ev Event) {
	select {
	case c.events <- ev:
	default:
		c.log.Warn("event dropped: the application is not reading Events", "event", fmt.Sprintf("%+v", ev))
	}
}

// emit hands an event to the application, waiting while Events is full
// (typing indicators are dropped instead). Never call it with groupMu
// held.
func (c *Client) emit(ev Event) {
	if _, ephemeral := ev.(TypingEvent); ephemeral {
		select {
		case c.events <- ev:
		default:
		}
		return
	}
	select {
	case c.events <- ev:
	case <-c.ctx.Done():
	}
}

// authMessage signs this connection's challenge.
func (c *Client) authSignature(conn *rpc.Conn) []byte {
	return c.key.Sign(identity.AuthMessage(conn.Hello().Challenge, c.deviceID))
}

func (c *Client) publicKey() ed25519.PublicKey { return c.key.Public() }
