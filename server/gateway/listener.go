package gateway

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Listen serves device connections straight off the sockets of ln and
// returns a listener of everything else, for an http.Server. A valid
// WebSocket upgrade to Path is answered here, from one small read of its
// header, without net/http: net/http would read it into a 4 KiB reader
// and answer through a 4 KiB writer that a hijacked connection never
// gives back, plus a goroutine, a header map and a context, all garbage
// a moment later — about half of what a connect allocated. Any other
// request, an upgrade that is not plainly valid (a browser's Origin, a
// header past smallHeader, HTTP/1.0…) and a connection refused because
// the gateway is draining or full go to the returned listener with the
// bytes read so far, and net/http answers them as ServeHTTP would.
//
// headerTimeout bounds the request header from accept, whoever reads it:
// a connection handed on carries what is left of it, which caps the
// header timeout net/http sets (a client trickling a header past 1 KiB is
// closed after headerTimeout, not twice that). 0 means no timeout, as in
// net/http.
//
// Closing the returned listener closes ln and the sockets still being
// read, and waits for their goroutines.
func (g *Gateway) Listen(ln net.Listener, headerTimeout time.Duration) net.Listener {
	d := newDemux(g, ln, headerTimeout)
	d.wg.Go(d.acceptLoop)
	return d
}

func newDemux(g *Gateway, ln net.Listener, headerTimeout time.Duration) *demux {
	return &demux{g: g, ln: ln, timeout: headerTimeout, other: make(chan net.Conn), done: make(chan struct{}),
		reading: make(map[net.Conn]struct{})}
}

// smallHeader bounds the upgrade request the fast path reads; a longer
// one goes to net/http.
const smallHeader = 1024

// acceptRetryMin and acceptRetryMax bound the pause after a temporary
// accept error (EMFILE and the like), doubled from one error to the next,
// as net/http's Serve does: retrying every few milliseconds would spin
// while the process is out of files.
const (
	acceptRetryMin = 5 * time.Millisecond
	acceptRetryMax = time.Second
)

var headerBufs = sync.Pool{New: func() any { return new([smallHeader]byte) }}

type demux struct {
	g       *Gateway
	ln      net.Listener
	timeout time.Duration // for the request header, from accept; 0: none
	other   chan net.Conn // for Accept
	done    chan struct{} // closed by Close

	mu      sync.Mutex
	reading map[net.Conn]struct{} // sockets whose request is being read
	closed  bool
	err     error // why the accept loop ended
	wg      sync.WaitGroup

	sleep func(time.Duration) // for tests; nil: a timer, cut short by Close
}

func (d *demux) acceptLoop() {
	var delay time.Duration // after the last temporary error; 0 after a success
	for {
		nc, err := d.ln.Accept()
		if err != nil {
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				delay = min(max(2*delay, acceptRetryMin), acceptRetryMax)
				d.g.log.Warn("accept failed; retrying", "err", err, "retry_in", delay)
				d.pause(delay)
				continue
			}
			d.mu.Lock()
			d.err = err
			d.closeLocked()
			d.mu.Unlock()
			return
		}
		delay = 0
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			nc.Close()
			continue
		}
		d.reading[nc] = struct{}{}
		d.wg.Go(func() { d.sniff(nc) })
		d.mu.Unlock()
	}
}

// pause waits delay after a temporary accept error, or until Close.
func (d *demux) pause(delay time.Duration) {
	if d.sleep != nil {
		d.sleep(delay)
		return
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-d.done:
	}
}

// Accept implements net.Listener: the connections net/http serves.
func (d *demux) Accept() (net.Conn, error) {
	select {
	case nc := <-d.other:
		return nc, nil
	case <-d.done:
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.err != nil {
			return nil, d.err
		}
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (d *demux) Close() error {
	d.mu.Lock()
	d.closeLocked()
	d.mu.Unlock()
	err := d.ln.Close()
	d.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil // closed already (the accept loop ended)
	}
	return err
}

// closeLocked stops handing out connections and closes the sockets still
// being read.
func (d *demux) closeLocked() {
	if d.closed {
		return
	}
	d.closed = true
	close(d.done)
	for nc := range d.reading {
		nc.Close()
	}
}

func (d *demux) Addr() net.Addr { return d.ln.Addr() }

// sniff reads the request's header and serves it here or hands it on.
func (d *demux) sniff(nc net.Conn) {
	buf := headerBufs.Get().(*[smallHeader]byte)
	defer headerBufs.Put(buf)
	var deadline time.Time // for the whole header; zero: none
	if d.timeout > 0 {
		deadline = time.Now().Add(d.timeout)
		nc.SetReadDeadline(deadline)
	}
	n, end := 0, -1
	for n < len(buf) {
		m, err := nc.Read(buf[n:])
		n += m
		if end = bytes.Index(buf[:n], []byte("\r\n\r\n")); end >= 0 || !couldUpgrade(buf[:n]) {
			break
		}
		if err != nil {
			d.done1(nc)
			nc.Close()
			return
		}
	}
	d.done1(nc) // from here the gateway or net/http closes it
	if end >= 0 {
		// serveFast's 101 clears the deadline.
		if key, ok := parseUpgrade(buf[:end+2]); ok && d.g.serveFast(nc, key, buf[end+4:n]) {
			return
		}
	}
	d.handOn(nc, append([]byte(nil), buf[:n]...), deadline) // the deadline stays on nc
}

// done1 drops nc from the sockets being read.
func (d *demux) done1(nc net.Conn) {
	d.mu.Lock()
	delete(d.reading, nc)
	d.mu.Unlock()
}

// handOn gives the connection to net/http, which reads pre first and
// must have read the header by deadline (zero: no deadline).
func (d *demux) handOn(nc net.Conn, pre []byte, deadline time.Time) {
	rc := &replayConn{Conn: nc, pre: pre, headerDeadline: deadline}
	select {
	case d.other <- rc:
	case <-d.done:
		nc.Close()
	}
}

// replayConn is a connection whose first bytes were already read.
type replayConn struct {
	net.Conn
	pre []byte
	// headerDeadline, if not zero, caps the read deadlines set before the
	// first Read: net/http sets its header timeout then, counted from
	// when it got the connection, and would otherwise give a client that
	// trickled its header to the listener a second timeout. The deadlines
	// it sets once it has read (after the header: the body's, the idle
	// one) are its own.
	headerDeadline time.Time
	read           atomic.Bool // Read was called
}

// unwrapReplay returns the socket under a replayConn whose replayed bytes
// were all read (net/http reads them into its own buffer, which the
// upgrade hands on), so a device whose upgrade went through net/http (a
// browser's) still gets the event loop, which needs the *net.TCPConn.
func unwrapReplay(nc net.Conn) net.Conn {
	if rc, ok := nc.(*replayConn); ok && len(rc.pre) == 0 {
		return rc.Conn
	}
	return nc
}

func (c *replayConn) Read(p []byte) (int, error) {
	if !c.read.Load() {
		c.read.Store(true)
	}
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *replayConn) SetReadDeadline(t time.Time) error {
	if d := c.headerDeadline; !d.IsZero() && !c.read.Load() && (t.IsZero() || t.After(d)) {
		t = d
	}
	return c.Conn.SetReadDeadline(t)
}

// fastPrefix starts every request line the fast path serves.
var fastPrefix = []byte("GET " + Path + " HTTP/1.1\r\n")

// couldUpgrade reports whether the bytes read so far may still be a
// request the fast path serves: its request line, then printable ASCII,
// tabs and CRLFs. Any other byte (a bare LF, which may end the header for
// net/http) hands the request on at once rather than after the timeout.
func couldUpgrade(b []byte) bool {
	if len(b) < len(fastPrefix) {
		return bytes.HasPrefix(fastPrefix, b)
	}
	if !bytes.HasPrefix(b, fastPrefix) {
		return false
	}
	for i, c := range b {
		switch {
		case c == '\t' || ' ' <= c && c <= '~':
		case c == '\r' && (i+1 == len(b) || b[i+1] == '\n'):
		case c == '\n' && i > 0 && b[i-1] == '\r':
		default:
			return false
		}
	}
	return true
}

// parseUpgrade checks a request header (request line and header lines,
// each ending in CRLF) the way upgrade does and returns its
// Sec-WebSocket-Key; false for anything the fast path leaves to net/http.
// It takes a strict subset of what net/http serves as ServeHTTP would:
// header lines of printable ASCII and tabs only (a bare LF or CR would end
// a line for net/http and could hide an Origin from the check; other
// control bytes make it answer 400), names of RFC 9110 token characters,
// values trimmed of spaces and tabs only, as net/http does, a Host of
// plain host characters, each of Host, Sec-WebSocket-Key and
// Sec-WebSocket-Version at most once, and no Origin, body or Expect.
func parseUpgrade(h []byte) (key string, ok bool) {
	if !bytes.HasPrefix(h, fastPrefix) {
		return "", false
	}
	h = h[len(fastPrefix):]
	var conn, upg, version, host, keySeen bool
	for len(h) > 0 {
		i := bytes.Index(h, []byte("\r\n"))
		if i < 0 {
			return "", false
		}
		line := h[:i]
		h = h[i+2:]
		for _, c := range line {
			if c != '\t' && (c < ' ' || c > '~') {
				return "", false
			}
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return "", false // no name, folding or a malformed name: net/http decides
		}
		name, value := line[:colon], trimSpaceTab(line[colon+1:])
		switch {
		case asciiEqualFold(name, "connection"):
			conn = conn || hasToken(value, "upgrade")
		case asciiEqualFold(name, "upgrade"):
			upg = upg || hasToken(value, "websocket")
		case asciiEqualFold(name, "sec-websocket-version"):
			if version || string(value) != "13" {
				return "", false
			}
			version = true
		case asciiEqualFold(name, "sec-websocket-key"):
			if keySeen {
				return "", false
			}
			key, keySeen = string(value), true
		case asciiEqualFold(name, "host"):
			if host || !isHost(value) {
				return "", false
			}
			host = true
		case asciiEqualFold(name, "origin"), asciiEqualFold(name, "content-length"),
			asciiEqualFold(name, "transfer-encoding"), asciiEqualFold(name, "expect"):
			return "", false // a browser (sameOrigin), a body, or a 417: net/http
		}
	}
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return "", false
	}
	return key, conn && upg && version && host
}

// isToken reports whether b is a non-empty RFC 9110 token (a header
// name net/http takes).
func isToken(b []byte) bool {
	for _, c := range b {
		if !tokenBytes[c] {
			return false
		}
	}
	return len(b) > 0
}

// isHost reports whether a Host value holds only letters, digits and
// "-._~:[]%" (names, IPv4 and IPv6 addresses, ports and zones): a subset of
// what net/http accepts.
func isHost(b []byte) bool {
	for _, c := range b {
		if !hostBytes[c] {
			return false
		}
	}
	return true
}

var (
	tokenBytes = byteSet("!#$%&'*+-.^_`|~")
	hostBytes  = byteSet("-._~:[]%")
)

// byteSet is the set of ASCII letters, digits and the bytes of extra.
func byteSet(extra string) *[256]bool {
	var set [256]bool
	for c := range 256 {
		set[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	for i := range len(extra) {
		set[extra[i]] = true
	}
	return &set
}

// trimSpaceTab trims spaces and tabs, the whitespace net/http trims around
// a header value.
func trimSpaceTab(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// hasToken reports whether a comma-separated header value holds token
// (case-insensitively).
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		t := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if asciiEqualFold(bytes.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
