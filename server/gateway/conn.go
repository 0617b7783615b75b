package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/proto"
)

type connState int

const (
	stateHandshake connState = iota // waiting for Authenticate, Register or LinkBegin
	stateLinking                    // LinkBegin done, waiting for approval
	stateAuthed
)

// conn is one device connection. Fields below "reader-owned" are touched
// only by the reader goroutine; the rest say how they are shared.
type conn struct {
	g      *Gateway
	ws     *websocket.Conn
	nc     net.Conn                    // the raw socket, nil if the server did not use ConnContext
	id     string                      // unique in the cluster, for bus.Message.Except
	logp   atomic.Pointer[slog.Logger] // replaced at authentication to name the device
	ctx    context.Context             // canceled by kill: aborts socket I/O and handler calls
	cancel context.CancelFunc

	out  sendQueue   // the bounded send queue
	mail chan []byte // pusher → writer, unbuffered: the pusher is flow-controlled by acks
	// The pusher runs only while there is mail to push, so an idle
	// connection costs no goroutine for it.
	pushMu      sync.Mutex
	pushRunning bool
	pushAgain   bool          // new mail or an ack arrived while it ran
	pushStopped bool          // set by finish before it waits for tasks
	quit        chan struct{} // closed by cut

	cutOnce     sync.Once
	closeCode   proto.Code // set before quit is closed, read after
	closeReason string

	win   window
	sends inflight
	tasks sync.WaitGroup // writer and pusher

	// reader-owned
	state       connState
	challenge   []byte
	who         Identity
	malformed   int
	attempts    int
	limiter     *bucket
	subDevice   string
	unsub       func()
	handshakeT  clock.Timer
	idleT       clock.Timer
	linkT       clock.Timer
	authedCount bool // joined was called
}

func (g *Gateway) newConn(ws *websocket.Conn, nc net.Conn, remote string) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		g:       g,
		ws:      ws,
		nc:      nc,
		id:      g.connID(),
		ctx:     ctx,
		cancel:  cancel,
		out:     newSendQueue(g.cfg.SendQueue),
		mail:    make(chan []byte),
		quit:    make(chan struct{}),
		limiter: newBucket(g.cfg.RatePerSecond, g.cfg.RateBurst, g.clock.Now()),
	}
	c.sends.init()
	c.logp.Store(g.log.With("conn", c.id, "remote", remote))
	return c
}

// errTooLarge marks a message over proto.MaxFrameBytes.
var errTooLarge = errors.New("frame over the size limit")

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// serve runs the reader and owns the connection's other goroutines.
func (c *conn) serve() {
	defer c.finish()
	c.tasks.Go(c.writeLoop)

	ch, err := c.g.challenge()
	if err != nil {
		c.log().Error("no randomness for a challenge", "err", err)
		c.cut(proto.Code_UNAVAILABLE, "the server cannot serve connections right now; retry later")
		return
	}
	c.challenge = ch
	c.enqueue(mustMarshal(&proto.Frame{Kind: &proto.Frame_Hello{Hello: &proto.Hello{
		ProtocolVersion: proto.ProtocolVersion,
		Challenge:       ch,
		ServerTimeMs:    c.g.clock.Now().UnixMilli(),
		MaxFrameBytes:   proto.MaxFrameBytes,
	}}}))
	c.handshakeT = c.g.clock.AfterFunc(c.g.cfg.HandshakeTimeout, func() {
		c.g.cfg.Metrics.HandshakeFailures.WithLabelValues(proto.Code_HANDSHAKE_TIMEOUT.String()).Inc()
		c.cut(proto.Code_HANDSHAKE_TIMEOUT, "no authentication in time; authenticate right after Hello")
	})
	c.idleT = c.g.clock.AfterFunc(c.g.cfg.IdleTimeout, func() {
		c.cut(proto.Code_IDLE_TIMEOUT, "nothing received for too long; send Ping to keep the connection")
	})

	// read stops one byte past proto.MaxFrameBytes to detect an oversized
	// message and close with 4010; the library's own limit (which would
	// close with 1009) is set just above that so it never trips first. No
	// more than the limit is ever buffered, whatever length a frame
	// header declares.
	c.ws.SetReadLimit(proto.MaxFrameBytes + 1)
	for {
		select {
		case <-c.quit:
			return
		default:
		}
		typ, buf, err := c.read()
		if err != nil {
			if errors.Is(err, errTooLarge) {
				c.cut(proto.Code_TOO_LARGE, "frame over 1 MiB; split the data or send it as an attachment")
			}
			return
		}
		c.idleT.Reset(c.g.cfg.IdleTimeout)
		c.handleMessage(typ, buf.Bytes())
		if buf.Cap() <= pooledBufferMax {
			bufPool.Put(buf)
		}
	}
}

// read reads one whole message into a pooled buffer.
func (c *conn) read() (websocket.MessageType, *bytes.Buffer, error) {
	typ, r, err := c.ws.Reader(c.ctx)
	if err != nil {
		return 0, nil, err
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(r, proto.MaxFrameBytes+1)); err != nil {
		return 0, nil, err
	}
	if buf.Len() > proto.MaxFrameBytes {
		return 0, nil, errTooLarge // the buffer is dropped: it is too big to keep
	}
	return typ, buf, nil
}

// finish tears the connection down once the reader stops.
func (c *conn) finish() {
	c.cut(proto.Code_OK, "")
	for _, t := range []clock.Timer{c.handshakeT, c.idleT, c.linkT} {
		if t != nil {
			t.Stop()
		}
	}
	if c.unsub != nil {
		c.unsub()
	}
	c.pushMu.Lock()
	c.pushStopped = true
	c.pushMu.Unlock()
	c.tasks.Wait()
	c.kill()
	c.g.cfg.Metrics.MailboxInFlight.Sub(float64(c.win.clear()))
	if c.authedCount {
		c.g.left(c.who.AccountID)
	}
}

// cut starts closing the connection with code (OK for "the peer went
// away") and a reason for a person. Safe from any goroutine, never blocks;
// only the first call counts.
func (c *conn) cut(code proto.Code, reason string) {
	c.cutOnce.Do(func() {
		c.closeCode, c.closeReason = code, reason
		if code != proto.Code_OK {
			c.g.cfg.Metrics.Error(code)
			c.log().Info("closing connection", "code", code.String(), "reason", reason)
		}
		close(c.quit)
		if code == proto.Code_SLOW_CONSUMER {
			// The socket is full or stuck: a Notice would queue behind
			// what the device is not reading. Drop it now.
			c.g.cfg.Metrics.SlowConsumerCuts.Inc()
			c.kill()
		}
	})
}

func (c *conn) log() *slog.Logger { return c.logp.Load() }

// kill closes the socket outright and aborts handler calls.
func (c *conn) kill() {
	c.cancel()
	if c.nc != nil {
		c.nc.Close()
	}
}

// enqueue puts a frame on the send queue; a full queue means the device is
// not reading, and the connection is cut.
func (c *conn) enqueue(f []byte) {
	select {
	case <-c.quit:
		return
	default:
	}
	if !c.out.push(f) {
		c.cut(proto.Code_SLOW_CONSUMER, "the device did not read fast enough; reconnect, undelivered mail is kept")
	}
}

// respond sends a Response, counting non-OK codes.
func (c *conn) respond(r *proto.Response) {
	if r.Code != proto.Code_OK {
		c.g.cfg.Metrics.Error(r.Code)
	}
	c.enqueue(responseFrame(r))
}

// handleMessage parses one WebSocket message and acts on it.
func (c *conn) handleMessage(typ websocket.MessageType, b []byte) {
	req, code, msg := parseFrame(typ, b)
	switch code {
	case proto.Code_OK:
		c.serveRequest(req)
	case proto.Code_BAD_REQUEST:
		c.malformedFrame(msg)
	default:
		c.respond(ErrorResponse(0, code, msg))
	}
}

// parseFrame decodes a device's message: the Request it carries, or the
// code and message to answer it with (BAD_REQUEST for a malformed frame,
// UNKNOWN_FRAME for a kind this server does not know). It is pure, so
// the decoder can be fuzzed alone.
func parseFrame(typ websocket.MessageType, b []byte) (*proto.Request, proto.Code, string) {
	if typ != websocket.MessageBinary {
		return nil, proto.Code_BAD_REQUEST, "text messages are not part of the protocol; send binary protobuf frames"
	}
	var f proto.Frame
	if err := gproto.Unmarshal(b, &f); err != nil {
		return nil, proto.Code_BAD_REQUEST, "the message is not a valid protobuf Frame"
	}
	switch k := f.Kind.(type) {
	case *proto.Frame_Request:
		if k.Request == nil {
			return &proto.Request{}, proto.Code_OK, ""
		}
		return k.Request, proto.Code_OK, ""
	case nil:
		return nil, proto.Code_UNKNOWN_FRAME, "this server does not know this frame type; upgrade the server or the client"
	default:
		return nil, proto.Code_BAD_REQUEST, "devices send only Request frames"
	}
}

func (c *conn) malformedFrame(msg string) {
	c.malformed++
	c.respond(ErrorResponse(0, proto.Code_BAD_REQUEST, msg))
	if c.malformed >= maxMalformed {
		c.cut(proto.Code_BAD_REQUEST, "too many malformed frames; fix the client")
	}
}

// onBus handles signals for this connection's device. It runs on the
// publisher's goroutine and must not block.
func (c *conn) onBus(m bus.Message) {
	switch m.Kind {
	case bus.KindMail:
		c.wakePusher()
	case bus.KindFrame:
		c.g.cfg.Metrics.MessagesOut.WithLabelValues("event").Inc()
		c.enqueue(m.Frame)
	case bus.KindClose:
		if m.Except != c.id {
			c.cut(proto.Code(m.Code), m.Reason)
		}
	}
}

// wakePusher makes sure the pusher looks at the mailbox again: it starts
// it, or tells the running one to fetch once more before it stops.
func (c *conn) wakePusher() {
	c.pushMu.Lock()
	defer c.pushMu.Unlock()
	if c.pushStopped {
		return // finish is waiting for tasks: start nothing new
	}
	if c.pushRunning {
		c.pushAgain = true
		return
	}
	c.pushRunning = true
	c.tasks.Go(c.pushLoop)
}

// pushDone reports whether the pusher may stop: nothing asked it to look
// again since it last fetched.
func (c *conn) pushDone() bool {
	c.pushMu.Lock()
	defer c.pushMu.Unlock()
	if c.pushAgain {
		c.pushAgain = false
		return false
	}
	c.pushRunning = false
	return true
}

// inflight counts a connection's pipelined Sends.
type inflight struct {
	mu      sync.Mutex
	n       int
	changed chan struct{} // closed and replaced whenever n drops
}

func (f *inflight) init() { f.changed = make(chan struct{}) }

// waitBelow waits until fewer than max are in flight (max 1: none), or
// quit closes; it reports whether the wait succeeded.
func (f *inflight) waitBelow(max int, quit <-chan struct{}) bool {
	for {
		f.mu.Lock()
		if f.n < max {
			f.mu.Unlock()
			return true
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-quit:
			return false
		}
	}
}

func (f *inflight) add() {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
}

func (f *inflight) done() {
	f.mu.Lock()
	f.n--
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}
