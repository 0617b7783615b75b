package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/wsaccept"
)

func TestParseUpgrade(t *testing.T) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	ok := "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
	for _, c := range []struct {
		name, h string
		fast    bool
	}{
		{"valid", ok, true},
		{"header names in any case", "GET /v1/ws HTTP/1.1\r\nhost: x\r\nUPGRADE: WebSocket\r\nconnection: upgrade\r\nsec-websocket-key: " + key + "\r\nsec-websocket-version: 13\r\n", true},
		{"extra headers", ok + "User-Agent: bench\r\nSec-WebSocket-Extensions: permessage-deflate\r\n", true},
		{"other path", "GET /v1/wsx HTTP/1.1\r\nHost: x\r\n", false},
		{"query", "GET /v1/ws?x=1 HTTP/1.1\r\nHost: x\r\n", false},
		{"HTTP/1.0", "GET /v1/ws HTTP/1.0\r\nHost: x\r\n", false},
		{"POST", "POST /v1/ws HTTP/1.1\r\nHost: x\r\n", false},
		{"no upgrade", "GET /v1/ws HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", false},
		{"version 8", "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 8\r\n", false},
		{"short key", "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAA\r\nSec-WebSocket-Version: 13\r\n", false},
		{"two keys", ok + "Sec-WebSocket-Key: " + key + "\r\n", false},
		{"no host", "GET /v1/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", false},
		{"origin (net/http checks it)", ok + "Origin: http://x\r\n", false},
		{"a body", ok + "Content-Length: 3\r\n", false},
		{"folded line", ok + " folded\r\n", false},
		{"no colon", ok + "junk\r\n", false},
		{"bare LF", ok + "X-A: a\nOrigin: http://evil\r\n", false},
		{"bare CR", ok + "X-A: a\rb\r\n", false},
		{"NUL", ok + "X-A: a\x00b\r\n", false},
		{"DEL", ok + "X-A: a\x7fb\r\n", false},
		{"non-ASCII value", ok + "User-Agent: caf\xc3\xa9\r\n", false},
		{"space in a name", ok + "X A: b\r\n", false},
		{"space before the colon", ok + "X-A : b\r\n", false},
		{"empty name", ok + ": b\r\n", false},
		{"host with a space", ok + "Host: a b\r\n", false},
		{"expect", ok + "Expect: 100-continue\r\n", false},
		{"empty key then a valid one", "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key:\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", false},
		{"version and a vertical tab", "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\x0b\r\n", false},
		{"tabs around values", "GET /v1/ws HTTP/1.1\r\nHost:\t[::1]:8080\t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key:\t" + key + "\t\r\nSec-WebSocket-Version: 13 \r\n", true},
	} {
		k, fast := parseUpgrade([]byte(c.h))
		if fast != c.fast || fast && k != key {
			t.Errorf("%s: fast %v key %q, want fast %v", c.name, fast, k, c.fast)
		}
	}
}

func TestCouldUpgrade(t *testing.T) {
	for _, c := range []struct {
		b    string
		want bool
	}{
		{"", true}, {"GE", true}, {"GET /v1/ws HTTP/1.1\r\nHost", true},
		{"GET /healthz", false}, {"POST", false}, {"GET /v1/ws?", false},
		{"GET /v1/ws HTTP/1.1\r\nHost: x\r", true}, {"GET /v1/ws HTTP/1.1\r\nHost:\tx\r\n", true},
		{"GET /v1/ws HTTP/1.1\r\nHost: x\n", false}, {"GET /v1/ws HTTP/1.1\r\nHost: x\rX", false},
		{"GET /v1/ws HTTP/1.1\r\nHost: \x00", false}, {"GET /v1/ws HTTP/1.1\r\nHost: \xc3", false},
	} {
		if got := couldUpgrade([]byte(c.b)); got != c.want {
			t.Errorf("couldUpgrade(%q) = %v", c.b, got)
		}
	}
}

// A connection handed to net/http replays what the fast path read, then
// reads the socket; once replayed, the upgrade gets the socket itself.
func TestReplayConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	rc := &replayConn{Conn: a, pre: []byte("GET /")}
	if unwrapReplay(rc) != rc {
		t.Fatal("unwrapped before its bytes were read")
	}
	go b.Write([]byte("x HTTP/1.1"))
	buf := make([]byte, 15)
	if _, err := io.ReadFull(rc, buf); err != nil || string(buf) != "GET /x HTTP/1.1" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if unwrapReplay(rc) != a {
		t.Fatal("not unwrapped once replayed")
	}
}

// listenHTTP serves an http.Server answering 200 behind g.Listen on a
// loopback port, with the server's ReadHeaderTimeout equal to Listen's
// header timeout, and returns the address.
func listenHTTP(t *testing.T, timeout time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{log: slog.New(slog.DiscardHandler)} // the requests below never reach it
	srv := &http.Server{ReadHeaderTimeout: timeout, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(g.Listen(ln, timeout))
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return ln.Addr().String()
}

// A client trickling its request header is closed once the header
// timeout has passed since it connected, even when the fast path hands it
// to net/http late: net/http gets only what is left of it, not a timeout
// of its own on top.
func TestListenHeaderTimeoutOnce(t *testing.T) {
	const timeout = time.Second
	addr := listenHTTP(t, timeout)
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan time.Duration, 1)
	go func() {
		io.Copy(io.Discard, conn)
		closed <- time.Since(start)
	}()
	conn.Write([]byte("GET /v1/ws"))
	select { // still a possible upgrade: the listener reads it
	case d := <-closed:
		t.Fatalf("closed after %v, before the header timeout", d)
	case <-time.After(timeout * 6 / 10):
	}
	conn.Write([]byte("x HTTP/1.1\r\nHost: x\r\n")) // no upgrade now: handed on
	tick := time.NewTicker(timeout / 20)
	defer tick.Stop()
	for {
		select {
		case d := <-closed:
			// On time it closes at timeout; with a fresh timeout in
			// net/http, at 1.6×timeout.
			if d > timeout*13/10 {
				t.Errorf("closed %v after connecting; the header timeout is %v", d, timeout)
			}
			return
		case <-tick.C:
			conn.Write([]byte("X-A: b\r\n"))
		case <-time.After(5 * timeout):
			t.Fatal("not closed")
		}
	}
}

// Listen with no header timeout (0, as in net/http) serves requests
// rather than closing every connection at once.
func TestListenNoHeaderTimeout(t *testing.T) {
	addr := listenHTTP(t, 0)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// deadlineConn records the read deadlines set on it.
type deadlineConn struct {
	net.Conn
	set []time.Time
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.set = append(c.set, t)
	return nil
}

func (c *deadlineConn) Read([]byte) (int, error) { return 0, io.EOF }

// The read deadlines net/http sets before it reads (the header's) are
// capped by the header deadline Listen started at accept; those set once
// it reads (after the header) are its own.
func TestReplayConnCapsHeaderDeadline(t *testing.T) {
	d := time.Now().Add(time.Hour)
	dc := &deadlineConn{}
	rc := &replayConn{Conn: dc, pre: []byte("GET"), headerDeadline: d}
	rc.SetReadDeadline(d.Add(time.Second))
	rc.SetReadDeadline(time.Time{})
	rc.SetReadDeadline(d.Add(-time.Second))
	io.ReadAll(rc)
	rc.SetReadDeadline(time.Time{})
	rc.SetReadDeadline(d.Add(time.Second))
	want := []time.Time{d, d, d.Add(-time.Second), {}, d.Add(time.Second)}
	if len(dc.set) != len(want) {
		t.Fatalf("deadlines %v, want %v", dc.set, want)
	}
	for i := range want {
		if !dc.set[i].Equal(want[i]) {
			t.Errorf("deadline %d: %v, want %v", i, dc.set[i], want[i])
		}
	}
	// Without a header deadline (Listen's timeout 0) nothing is capped.
	dc = &deadlineConn{}
	rc = &replayConn{Conn: dc, pre: []byte("GET")}
	rc.SetReadDeadline(time.Time{})
	if len(dc.set) != 1 || !dc.set[0].IsZero() {
		t.Errorf("deadlines %v, want the zero one as set", dc.set)
	}
}

// tempErr is a temporary accept error, like EMFILE.
type tempErr struct{}

func (tempErr) Error() string   { return "too many open files" }
func (tempErr) Temporary() bool { return true }

// scriptListener answers Accept from a script: an error, or nil for a
// connection whose client has gone; then net.ErrClosed.
type scriptListener struct{ script []error }

func (l *scriptListener) Accept() (net.Conn, error) {
	if len(l.script) == 0 {
		return nil, net.ErrClosed
	}
	err := l.script[0]
	l.script = l.script[1:]
	if err != nil {
		return nil, err
	}
	a, b := net.Pipe()
	b.Close()
	return a, nil
}

func (l *scriptListener) Close() error   { return nil }
func (l *scriptListener) Addr() net.Addr { return nil }

// After a temporary accept error the listener waits 5 ms, doubled on each
// error that follows up to 1 s, and back to 5 ms after a connection, as
// net/http does.
func TestListenAcceptBackoff(t *testing.T) {
	var script []error
	for range 11 {
		script = append(script, tempErr{})
	}
	script = append(script, nil, tempErr{}, tempErr{})
	var slept []time.Duration
	d := newDemux(&Gateway{log: slog.New(slog.DiscardHandler)}, &scriptListener{script: script}, time.Second)
	d.sleep = func(delay time.Duration) { slept = append(slept, delay) }
	d.wg.Go(d.acceptLoop)
	if _, err := d.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept: %v, want the listener's net.ErrClosed", err)
	}
	d.Close() // waits for the loop
	ms := time.Millisecond
	want := []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second, time.Second, 5 * ms, 10 * ms}
	if !slices.Equal(slept, want) {
		t.Errorf("waited %v, want %v", slept, want)
	}
}

// chanListener hands out the connections sent on it.
type chanListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// netHTTPUpgrade returns a function that sends a request to net/http,
// which upgrades it as ServeHTTP does (upgrade), and returns its status
// and Sec-WebSocket-Accept.
func netHTTPUpgrade(t testing.TB) func(req []byte) (int, string) {
	ln := &chanListener{conns: make(chan net.Conn), done: make(chan struct{})}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != Path {
			http.NotFound(w, r)
			return
		}
		if nc, _, err := upgrade(w, r); err == nil {
			nc.Close()
		}
	})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return func(req []byte) (int, string) {
		client, server := net.Pipe()
		defer client.Close()
		client.SetDeadline(time.Now().Add(10 * time.Second))
		ln.conns <- server
		go client.Write(req)
		resp, err := http.ReadResponse(bufio.NewReader(client), nil)
		if err != nil {
			t.Fatalf("%q: no answer from net/http: %v", req, err)
		}
		return resp.StatusCode, resp.Header.Get("Sec-WebSocket-Accept")
	}
}

// Whatever header the fast path takes, net/http upgrades too, with the
// same key: the fast path serves a subset of what ServeHTTP does. The
// fuzzed bytes follow the request line.
func FuzzParseUpgrade(f *testing.F) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	ok := "Host: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
	for _, s := range []string{
		ok, ok + "User-Agent: bench\r\n", ok + "X-A: a\nOrigin: http://evil\r\n", ok + "X A: b\r\n",
		ok + "X-A: a\x00b\r\n", "Host: a b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n",
		"Host:\t[::1]:80\t\r\nUPGRADE: WebSocket\r\nconnection: upgrade\r\nsec-websocket-key:\t" + key + " \r\nsec-websocket-version: 13\r\n",
	} {
		f.Add([]byte(s))
	}
	send := netHTTPUpgrade(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		req := append(append([]byte(nil), fastPrefix...), b...)
		end := bytes.Index(req, []byte("\r\n\r\n"))
		if end < 0 {
			req = append(req, "\r\n"...)
			if end = bytes.Index(req, []byte("\r\n\r\n")); end < 0 {
				return
			}
		}
		key, fast := parseUpgrade(req[:end+2])
		if !fast {
			return
		}
		if status, accept := send(req[:end+4]); status != http.StatusSwitchingProtocols || accept != wsaccept.Key(key) {
			t.Fatalf("%q: fast path takes it (key %q), net/http answers %d with accept %q", req[:end+4], key, status, accept)
		}
	})
}
