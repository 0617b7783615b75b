package parleytest

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
)

// WaitTimeout bounds every wait of the harness: long enough for a loaded
// CI machine, short enough that a hung test fails with a message.
const WaitTimeout = 20 * time.Second

// Client is a registered (or linked) device with its own profile.
type Client struct {
	*client.Client
	t       testing.TB
	Handle  string
	Dir     string // profile directory
	srv     *Server
	opts    client.Options
	mu      sync.Mutex
	backlog []client.Event // events seen by waits that did not match
}

// ClientOption configures NewClient and LinkDevice.
type ClientOption func(*client.Options)

// WithOptions edits the client options.
func WithOptions(edit func(*client.Options)) ClientOption {
	return func(o *client.Options) { edit(o) }
}

func clientOptions(t testing.TB, srv *Server, name, dir string, opts []ClientOption) client.Options {
	o := client.Options{
		Profile:    dir,
		Server:     srv.URL,
		DeviceName: name,
		Logger:     slog.New(slog.NewTextHandler(&tlog{t: t, prefix: name}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		BackoffMin: 10 * time.Millisecond,
		BackoffMax: 200 * time.Millisecond,
	}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// NewClient registers handle on srv with a fresh profile and waits until
// its first connection is up and synced.
func NewClient(t testing.TB, srv *Server, handle string, opts ...ClientOption) *Client {
	t.Helper()
	dir := filepath.Join(t.TempDir(), strings.TrimPrefix(handle, "@"))
	o := clientOptions(t, srv, handle, dir, opts)
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, o)
	if err != nil {
		t.Fatalf("dial %s: %v", handle, err)
	}
	pc := &Client{Client: c, t: t, Handle: handle, Dir: dir, srv: srv, opts: o}
	t.Cleanup(func() { pc.Close() })
	if err := c.Register(ctx, handle); err != nil {
		t.Fatalf("register %s: %v", handle, err)
	}
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatalf("%s: %v", handle, err)
	}
	return pc
}

// NewDevice dials a fresh profile on srv without registering it: a new
// device of handle's account before it is linked (see LinkDevice).
func NewDevice(t testing.TB, srv *Server, handle string, opts ...ClientOption) *Client {
	t.Helper()
	name := handle + "-" + randomSuffix()
	dir := filepath.Join(t.TempDir(), strings.TrimPrefix(name, "@"))
	o := clientOptions(t, srv, name, dir, opts)
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, o)
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	pc := &Client{Client: c, t: t, Handle: handle, Dir: dir, srv: srv, opts: o}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// LinkDevice links a new device (its own profile) to primary's account:
// the new device asks for a code, primary approves it (adding it to every
// conversation), and the new device is returned connected and synced.
func LinkDevice(t testing.TB, primary *Client, opts ...ClientOption) *Client {
	t.Helper()
	pc := NewDevice(t, primary.srv, primary.Handle, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	link, err := pc.LinkBegin(ctx)
	if err != nil {
		t.Fatalf("link begin: %v", err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- link.Wait(ctx) }()
	if _, err := primary.LinkApprove(ctx, link.Code, link.DeviceID); err != nil {
		t.Fatalf("link approve: %v", err)
	}
	if err := <-waitErr; err != nil {
		t.Fatalf("link wait: %v", err)
	}
	if err := pc.WaitSynced(ctx); err != nil {
		t.Fatalf("%s: %v", pc.Handle, err)
	}
	return pc
}

// Reopen closes the client and dials its profile again (a restart).
func (c *Client) Reopen() {
	c.t.Helper()
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	nc, err := client.Dial(ctx, c.opts)
	if err != nil {
		c.t.Fatalf("reopen %s: %v", c.Handle, err)
	}
	c.Client = nc
	c.mu.Lock()
	c.backlog = nil
	c.mu.Unlock()
	if err := nc.WaitSynced(ctx); err != nil {
		c.t.Fatalf("reopen %s: %v", c.Handle, err)
	}
}

// Ctx is a context bounded by WaitTimeout.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// WaitEvent waits for the first event of type T (seen by no earlier wait)
// that matches, and fails the test after WaitTimeout.
func WaitEvent[T client.Event](t testing.TB, c *Client, match func(T) bool) T {
	t.Helper()
	ev, ok := waitEvent(c, WaitTimeout, match)
	if !ok {
		var zero T
		t.Fatalf("%s: no %T event within %v", c.Handle, zero, WaitTimeout)
	}
	return ev
}

// NoEvent checks that no matching event of type T arrives within d.
func NoEvent[T client.Event](t testing.TB, c *Client, d time.Duration, match func(T) bool) {
	t.Helper()
	if ev, ok := waitEvent(c, d, match); ok {
		t.Fatalf("%s: unexpected event %+v", c.Handle, ev)
	}
}

func waitEvent[T client.Event](c *Client, d time.Duration, match func(T) bool) (T, bool) {
	try := func(ev client.Event) (T, bool) {
		e, ok := ev.(T)
		if ok && (match == nil || match(e)) {
			return e, true
		}
		var zero T
		return zero, false
	}
	c.mu.Lock()
	for i, ev := range c.backlog {
		if e, ok := try(ev); ok {
			c.backlog = append(c.backlog[:i:i], c.backlog[i+1:]...)
			c.mu.Unlock()
			return e, true
		}
	}
	c.mu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-c.Events():
			if e, ok := try(ev); ok {
				return e, true
			}
			c.mu.Lock()
			if len(c.backlog) < 10000 {
				c.backlog = append(c.backlog, ev)
			}
			c.mu.Unlock()
		case <-timer.C:
			var zero T
			return zero, false
		}
	}
}

// WaitMessage waits for a text message with this text.
func WaitMessage(t testing.TB, c *Client, text string) client.Message {
	t.Helper()
	return WaitEvent(t, c, func(e client.MessageEvent) bool { return e.Message.Text == text }).Message
}

// tlog writes a client's log lines to t.Logf.
type tlog struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	done   bool
}

func (l *tlog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer func() { recover() }() // t.Logf after the test ended panics
	l.t.Logf("%s: %s", l.prefix, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
