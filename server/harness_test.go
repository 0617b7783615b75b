package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/identity"
	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server"
)

// wait bounds every wait for something the server should do promptly.
const wait = 10 * time.Second

var epoch0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testServer runs a server on loopback port 0 with an embedded store in a
// temporary directory, shut down at cleanup.
type testServer struct {
	*server.Server
	url   string
	clock *clock.Fake // nil with the real clock
	dir   string
	// cutShutdown is set by tests that shut down with a deadline on
	// purpose; cleanup then accepts the deadline error.
	cutShutdown bool
}

type option func(*server.Config)

func withFakeClock(c *server.Config) { c.Clock = clock.NewFake(epoch0) }

func startServer(t testing.TB, opts ...option) *testServer {
	t.Helper()
	dir := t.TempDir()
	cfg := server.Config{
		Addr:      "127.0.0.1:0",
		AdminAddr: "127.0.0.1:0",
		DataDir:   dir,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- srv.Run(context.Background()) }()
	<-srv.Ready()
	if srv.Addr() == "" {
		t.Fatalf("server did not listen: %v", <-runErr)
	}
	ts := &testServer{Server: srv, url: "ws://" + srv.Addr() + "/v1/ws", dir: dir}
	if f, ok := cfg.Clock.(*clock.Fake); ok {
		ts.clock = f
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil && !ts.cutShutdown {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ts
}

// testWriter sends server logs to the test log, and drops them once the
// test is over (a late log line must not fail the run).
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { recover() }()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// client is a raw protocol client: frames in, frames out, no SDK.
type client struct {
	t      testing.TB
	ws     *websocket.Conn
	hello  *proto.Hello
	frames chan frameOrErr
	events []*proto.Event // pushed events seen while waiting for responses
	nextID uint64

	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	auth *proto.AuthResult
}

type frameOrErr struct {
	f   *proto.Frame
	err error
}

// dial connects and reads the Hello.
func dial(t testing.TB, ts *testServer) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, ts.url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(2 * proto.MaxFrameBytes)
	c := &client{t: t, ws: ws, frames: make(chan frameOrErr, 4096)}
	var wg sync.WaitGroup
	wg.Go(c.readLoop)
	t.Cleanup(func() {
		ws.CloseNow()
		wg.Wait()
	})
	f := c.next()
	if f.GetHello() == nil {
		t.Fatalf("first frame is %v, want Hello", f)
	}
	c.hello = f.GetHello()
	return c
}

func (c *client) readLoop() {
	for {
		typ, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.frames <- frameOrErr{err: err}
			return
		}
		if typ != websocket.MessageBinary {
			c.frames <- frameOrErr{err: fmt.Errorf("server sent a %v message", typ)}
			return
		}
		var f proto.Frame
		if err := gproto.Unmarshal(b, &f); err != nil {
			c.frames <- frameOrErr{err: fmt.Errorf("server sent a bad frame: %w", err)}
			return
		}
		c.frames <- frameOrErr{f: &f}
	}
}

// next returns the next frame, failing the test on a closed connection.
func (c *client) next() *proto.Frame {
	c.t.Helper()
	f, err := c.nextOrErr()
	if err != nil {
		c.t.Fatalf("connection ended: %v", err)
	}
	return f
}

func (c *client) nextOrErr() (*proto.Frame, error) {
	select {
	case fe := <-c.frames:
		if fe.err != nil {
			// Keep reporting the end to later calls.
			c.frames <- fe
		}
		return fe.f, fe.err
	case <-time.After(wait):
		return nil, errors.New("no frame within the wait bound")
	}
}

func (c *client) sendRaw(typ websocket.MessageType, b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.ws.Write(ctx, typ, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) sendFrame(f *proto.Frame) {
	c.t.Helper()
	b, err := gproto.Marshal(f)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(websocket.MessageBinary, b)
}

// send sends a request and returns its id without waiting.
func (c *client) send(req *proto.Request) uint64 {
	c.t.Helper()
	c.nextID++
	req.Id = c.nextID
	c.sendFrame(&proto.Frame{Kind: &proto.Frame_Request{Request: req}})
	return req.Id
}

// response waits for the response to id, keeping events for later.
func (c *client) response(id uint64) *proto.Response {
	c.t.Helper()
	for {
		f := c.next()
		if r := f.GetResponse(); r != nil && r.Id == id {
			return r
		}
		if r := f.GetResponse(); r != nil {
			c.t.Fatalf("response to %d (%v) while waiting for %d", r.Id, r.Code, id)
		}
		if e := f.GetEvent(); e != nil {
			c.events = append(c.events, e)
		}
	}
}

// call sends a request and waits for its response.
func (c *client) call(req *proto.Request) *proto.Response {
	c.t.Helper()
	return c.response(c.send(req))
}

// mustCall is call that fails the test unless the code is OK.
func (c *client) mustCall(req *proto.Request) *proto.Response {
	c.t.Helper()
	r := c.call(req)
	if r.Code != proto.Code_OK {
		c.t.Fatalf("request %T: %v %q", req.Body, r.Code, r.Message)
	}
	return r
}

// expectCode calls and checks the response code.
func (c *client) expectCode(req *proto.Request, want proto.Code) *proto.Response {
	c.t.Helper()
	r := c.call(req)
	if r.Code != want {
		c.t.Fatalf("request %T: got %v %q, want %v", req.Body, r.Code, r.Message, want)
	}
	if want != proto.Code_OK && r.Message == "" {
		c.t.Fatalf("request %T: %v without a message for a person", req.Body, r.Code)
	}
	return r
}

// event returns the next pushed event.
func (c *client) event() *proto.Event {
	c.t.Helper()
	if len(c.events) > 0 {
		e := c.events[0]
		c.events = c.events[1:]
		return e
	}
	for {
		f := c.next()
		if e := f.GetEvent(); e != nil {
			return e
		}
		c.t.Fatalf("unexpected frame while waiting for an event: %v", f)
	}
}

// closed waits for the connection to end and returns the close code
// (status − 4000) and whether a Notice with that code came first.
func (c *client) closed() (proto.Code, bool) {
	c.t.Helper()
	notice := false
	for {
		f, err := c.nextOrErr()
		if err != nil {
			st := websocket.CloseStatus(err)
			if st < 4000 {
				c.t.Fatalf("connection ended with %v (status %d), want a 4000+code close", err, st)
			}
			code := proto.Code(st - 4000)
			return code, notice
		}
		if n := f.GetEvent().GetNotice(); n != nil {
			notice = true
		}
	}
}

func (c *client) expectClosed(want proto.Code) {
	c.t.Helper()
	code, notice := c.closed()
	if code != want {
		c.t.Fatalf("closed with %v, want %v", code, want)
	}
	if !notice {
		c.t.Fatalf("closed with %v without a Notice first", code)
	}
}

func (c *client) newKey() {
	c.t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		c.t.Fatal(err)
	}
	c.pub, c.priv = pub, priv
}

func (c *client) deviceID() string { return identity.DeviceID(c.pub) }

func (c *client) sign() []byte {
	return ed25519.Sign(c.priv, identity.AuthMessage(c.hello.Challenge, c.deviceID()))
}

// registerReq builds a valid Register request for handle with a new key.
func (c *client) registerReq(handle string) *proto.Request {
	c.t.Helper()
	if c.priv == nil {
		c.newKey()
	}
	canon, err := identity.CanonicalHandle(handle)
	if err != nil {
		canon = handle
	}
	list, err := identity.SignDeviceList(c.priv, &proto.DeviceList{
		AccountId: identity.AccountID(c.pub), Handle: canon, Version: 1,
		Devices: []*proto.Device{{DeviceId: c.deviceID(), SigningKey: c.pub, Name: "test", Primary: true}},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return &proto.Request{Body: &proto.Request_Register{Register: &proto.Register{
		Handle: handle, SigningKey: c.pub, DeviceList: list, Signature: c.sign(),
		ProtocolVersion: proto.ProtocolVersion, DeviceName: "test",
	}}}
}

// register creates an account on a fresh connection.
func register(t testing.TB, ts *testServer, handle string) *client {
	t.Helper()
	c := dial(t, ts)
	r := c.mustCall(c.registerReq(handle))
	c.auth = r.GetAuth()
	return c
}

func (c *client) authReq() *proto.Request {
	return &proto.Request{Body: &proto.Request_Authenticate{Authenticate: &proto.Authenticate{
		DeviceId: c.deviceID(), Signature: c.sign(), ProtocolVersion: proto.ProtocolVersion,
	}}}
}

// reconnect opens a new connection for the same device and authenticates.
func (c *client) reconnect(ts *testServer) *client {
	c.t.Helper()
	n := dial(c.t, ts)
	n.pub, n.priv = c.pub, c.priv
	r := n.mustCall(n.authReq())
	n.auth = r.GetAuth()
	if len(n.events) != 0 {
		c.t.Fatalf("%d events arrived before the AuthResult", len(n.events))
	}
	return n
}

// waitFor polls cond until it holds, failing after the wait bound.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// goroutinesSettle waits until the goroutine count is back to at most
// base (plus slack for runtime helpers).
func goroutinesSettle(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		n := runtime.NumGoroutine()
		if n <= base+2 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, %d before the server started:\n%s", n, base, buf)
		}
		<-tick.C
	}
}
func mustMarshalFrame(t *testing.T, f *proto.Frame) []byte {
	t.Helper()
	b, err := gproto.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// counterValue reads a counter (or gauge) of the server's registry with
// the given label value ("" for none).
func counterValue(t *testing.T, ts *testServer, name, label string) float64 {
	t.Helper()
	mfs, err := ts.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
