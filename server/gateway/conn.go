package gateway

import (
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/proto"
)

type connState uint8

const (
	stateHandshake connState = iota // waiting for Authenticate, Register or LinkBegin
	stateLinking                    // LinkBegin done, waiting for approval
	stateAuthed
)

// conn is one device connection. It owns no goroutine while idle: bytes
// arrive through the event loop (or, in goroutine mode, the connection's
// reader), requests are handled by a worker started when a message
// arrives and gone once the inbox is empty, mailbox pushes by a pusher
// that likewise runs only while there is mail. Everything it keeps at rest
// is this struct; buffers exist only while a message is partial or output
// waits for the socket.
//
// Lock order: Gateway.mu before conn.mu before poller.mu. Fields below
// "under mu" are guarded by mu; "reader-owned" ones are touched by the one
// goroutine that reads the socket at a time; "worker-owned" ones by the
// worker (one at a time, handed over through mu).
type conn struct {
	g  *Gateway
	id uint64 // see idString

	// Deadlines as Unix nanoseconds, 0 for none, read by the sweeper.
	// handshakeBy, idleBy and linkBy are on the injected clock; stallSince
	// and closeBy on the wall clock (see sweep.go).
	handshakeBy atomic.Int64
	idleBy      atomic.Int64
	linkBy      atomic.Int64
	stallSince  atomic.Int64 // the head of the output queue has waited for the socket since
	closeBy     atomic.Int64 // our close frame went out; the peer's is due

	ident atomic.Pointer[Identity] // set once authenticated, for the pusher and logs

	mu    sync.Mutex
	waitc chan struct{} // under mu: closed by broadcastLocked (see waitLocked); nil when nobody waits

	// The fields are grouped by size, not by concern, so the struct stays
	// in a small allocation size class (every idle connection keeps one);
	// each says what guards it.

	// under mu: the transport. Event-loop mode uses fd and p; goroutine
	// mode (TLS, or no event loop on this platform) uses nc.
	p  *poller
	nc net.Conn

	out   []outFrame // under mu: waiting for the socket; nil when all went out
	inbox []inMsg    // under mu: waiting for the worker

	win   window
	tasks sync.WaitGroup // worker, pusher and (goroutine mode) writer

	rd        *frameReader          // reader-owned: a partial frame, nil between frames
	challenge *[challengeBytes]byte // worker-owned: nil once authenticated
	limiter   bucket                // worker-owned
	unsub     func()                // worker-owned

	fd         int32 // under mu: -1 once released
	outHead    int32 // under mu: bytes of out[0] already written
	counted    int32 // under mu: frames in out that count against Config.SendQueue
	eventB     int32 // under mu: the bytes of the events among them, bounded by maxQueueBytes (writer.go)
	respB      int32 // under mu: the bytes of the responses among them (waitResponsesLocked)
	inboxBytes int32 // under mu
	inflight   int32 // under mu: Sends waiting for the delivery batcher

	// under mu: the transport and closing
	released   bool // the socket is closed; teardown has been started
	closing    bool
	closeSent  bool // our close frame is queued
	peerClosed bool // the peer sent its close frame (or the stream ended)
	// under mu: output and input
	wantWrite bool // event loop: waiting for writability; goroutine mode: the writer runs
	working   bool // the worker runs
	paused    bool // reading stopped until the worker catches up
	// under mu: pusher
	pushOK      bool // authenticated: mail may be pushed
	pushRunning bool
	pushAgain   bool // new mail or an ack arrived while it ran

	rdDead bool // reader-owned: a framing error: ignore the rest of the stream

	// worker-owned
	state       connState
	malformed   uint8
	attempts    uint8
	authedCount bool // joined was called
}

// outFrame is one WebSocket frame waiting for the socket.
type outFrame struct {
	b       []byte
	counted bool // a response or event, bounded by SendQueue; mailbox pushes are paced instead
	resp    bool // a response to the device's own request (see maxQueueBytes)
}

// inMsg is one WebSocket message waiting for the worker.
type inMsg struct {
	op byte
	b  []byte
}

// Input bounds: past them the connection stops reading until the worker
// catches up, which pushes back on the device through TCP (as a blocked
// reader did). A connection buffers at most about inboxPauseBytes plus one
// read (pollBuffer) plus one partial message (proto.MaxFrameBytes).
const (
	inboxPause      = 32
	inboxResume     = 8
	inboxPauseBytes = proto.MaxFrameBytes
)

func (g *Gateway) newConn() *conn {
	c := &conn{g: g, id: g.nextID.Add(1), fd: -1}
	c.limiter = newBucket(g.cfg.RateBurst, g.clock.Now())
	return c
}

// waitLocked releases mu until the next broadcastLocked and takes it
// again. The channel exists only while somebody waits, so an idle
// connection keeps none.
func (c *conn) waitLocked() {
	if c.waitc == nil {
		c.waitc = make(chan struct{})
	}
	ch := c.waitc
	c.mu.Unlock()
	<-ch
	c.mu.Lock()
}

// broadcastLocked wakes every waitLocked: a Send finished, the output
// drained, reading may resume, or the connection is closing.
func (c *conn) broadcastLocked() {
	if c.waitc != nil {
		close(c.waitc)
		c.waitc = nil
	}
}

// idString names the connection uniquely in the cluster (bus.Message.Except).
func (c *conn) idString() string { return c.g.node + "-" + strconv.FormatUint(c.id, 10) }

// log returns a logger naming the connection (built on demand: an idle
// connection keeps no logger).
func (c *conn) log() *slog.Logger {
	l := c.g.log.With("conn", c.idString())
	c.mu.Lock()
	switch {
	case c.nc != nil:
		l = l.With("remote", c.nc.RemoteAddr().String())
	case c.fd >= 0:
		l = l.With("remote", peerName(c.fd))
	}
	c.mu.Unlock()
	if w := c.ident.Load(); w != nil {
		l = l.With("device", w.DeviceID)
	}
	return l
}

// received queues a data message for the worker. It runs on the reading
// goroutine.
func (c *conn) received(op byte, b []byte) {
	now := c.g.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return // a closing connection reads only to find the close frame
	}
	c.idleBy.Store(now.Add(c.g.cfg.IdleTimeout).UnixNano())
	c.inbox = append(c.inbox, inMsg{op: op, b: b})
	c.inboxBytes += int32(len(b))
	if !c.paused && (len(c.inbox) >= inboxPause || c.inboxBytes >= inboxPauseBytes) {
		c.paused = true
		c.readInterestLocked()
	}
	if !c.working {
		c.working = true
		c.tasks.Go(c.work)
	}
}

// work handles queued messages in order and returns when the inbox is
// empty, so an idle connection has no worker.
func (c *conn) work() {
	for {
		c.mu.Lock()
		if len(c.inbox) == 0 || !c.waitResponsesLocked() {
			c.working = false
			c.mu.Unlock()
			return
		}
		m := c.inbox[0]
		c.inbox[0] = inMsg{}
		c.inbox = c.inbox[1:]
		if len(c.inbox) == 0 {
			c.inbox = nil
		}
		c.inboxBytes -= int32(len(m.b))
		if c.paused && len(c.inbox) <= inboxResume && c.inboxBytes < inboxPauseBytes/2 {
			c.paused = false
			c.readInterestLocked()
		}
		c.mu.Unlock()
		c.handleMessage(m.op, m.b)
	}
}

// frame handles one message or control frame of the reader; false stops
// reading.
func (c *conn) frame(op byte, p []byte) bool {
	switch op {
	case opBinary, opText:
		c.received(op, p)
	case opPing:
		c.mu.Lock()
		if !c.closing {
			c.queueLocked(outFrame{b: encodeFrame(opPong, p)})
		}
		c.mu.Unlock()
	case opClose:
		c.peerClose()
		return false
	}
	return true
}

// feed parses bytes read from the socket.
func (c *conn) feed(data []byte) {
	if c.rdDead {
		return
	}
	var r frameReader
	if c.rd != nil {
		r = *c.rd
	}
	err := r.feed(data, proto.MaxFrameBytes, c.frame)
	switch {
	case r.idle():
		c.rd = nil
	case c.rd == nil:
		c.rd = new(frameReader)
		*c.rd = r
	default:
		*c.rd = r
	}
	if err == nil {
		return
	}
	// The rest of the stream cannot be framed: say why and close. What
	// the device still sends is read and dropped (closing a socket with
	// unread data would reset it, and the device might never see why),
	// until it closes its side or closeWait runs out.
	c.rdDead, c.rd = true, nil
	if err == errTooLarge {
		c.cutStatus(proto.Code_TOO_LARGE, 0, "frame over 1 MiB; split the data or send it as an attachment")
	} else {
		c.cutStatus(proto.Code_BAD_REQUEST, statusProtocolError, err.Error())
	}
}

// peerClose handles the device's close frame: answer it (unless we closed
// first) and release the socket once our close frame is out.
func (c *conn) peerClose() {
	c.mu.Lock()
	c.peerClosed = true
	first := c.closeLocked(proto.Code_OK, "", statusNormal, false)
	if c.closeSent && len(c.out) == 0 {
		c.releaseLocked()
	}
	c.mu.Unlock()
	if first {
		c.closed(proto.Code_OK, "")
	}
}

// gone handles the end of the stream or a socket error: the peer is gone.
func (c *conn) gone() {
	c.mu.Lock()
	c.peerClosed = true
	first := c.closeLocked(proto.Code_OK, "", statusNormal, false)
	c.releaseLocked()
	c.mu.Unlock()
	if first {
		c.closed(proto.Code_OK, "")
	}
}

// cut starts closing the connection with code (OK for "the peer went
// away") and a reason for a person: a Notice, then close status 4000+code.
// Safe from any goroutine, never blocks; only the first call counts.
func (c *conn) cut(code proto.Code, reason string) {
	c.cutStatus(code, 0, reason)
}

// cutStatus is cut with an explicit WebSocket status (0: 4000+code, with a
// Notice first).
func (c *conn) cutStatus(code proto.Code, status int, reason string) {
	c.mu.Lock()
	notice := status == 0 && code != proto.Code_OK
	if status == 0 {
		status = statusNormal
		if code != proto.Code_OK {
			status = 4000 + int(code)
		}
	}
	first := c.closeLocked(code, reason, status, notice)
	c.mu.Unlock()
	if first {
		c.closed(code, reason)
	}
}

// closed does the bookkeeping of a first close, outside the lock.
func (c *conn) closed(code proto.Code, reason string) {
	if code == proto.Code_OK {
		return
	}
	c.g.cfg.Metrics.Error(code)
	if code == proto.Code_SLOW_CONSUMER {
		c.g.cfg.Metrics.SlowConsumerCuts.Inc()
	}
	c.log().Info("closing connection", "code", code.String(), "reason", reason)
}

// closeLocked starts closing; false if the connection was already
// closing. A slow consumer gets no Notice and loses what waits for the
// socket, so its close frame goes out next (see dropOutputLocked).
func (c *conn) closeLocked(code proto.Code, reason string, status int, notice bool) bool {
	if c.closing {
		return false
	}
	c.closing = true
	c.inbox, c.inboxBytes = nil, 0
	c.broadcastLocked()
	if c.released {
		return true
	}
	if code == proto.Code_SLOW_CONSUMER {
		c.dropOutputLocked()
		notice, status = false, 4000+int(code)
	}
	if c.paused && !c.rdDead {
		c.paused = false // read on, to see the device's close frame
		c.readInterestLocked()
	}
	if notice {
		c.queueLocked(outFrame{b: encodeFrame(opBinary, noticeFrame(code, reason))})
	}
	c.closeSent = true
	c.queueLocked(outFrame{b: encodeFrame(opClose, closePayload(status, reason))})
	if code == proto.Code_SLOW_CONSUMER && c.nc == nil && c.wantWrite {
		// The socket was full, so queueLocked left the close frame to
		// the event loop; but the kernel reports a socket writable only
		// once half of what it holds is free, which a device that does
		// not read never frees. The grown buffer takes the frame now.
		c.flushLocked()
	}
	return true
}

// kill closes the socket outright.
func (c *conn) kill() {
	c.mu.Lock()
	first := c.closeLocked(proto.Code_OK, "", statusNormal, false)
	c.releaseLocked()
	c.mu.Unlock()
	if first {
		c.closed(proto.Code_OK, "")
	}
}

// releaseLocked closes the socket and starts the teardown. Every path to
// the end of a connection comes here exactly once.
func (c *conn) releaseLocked() {
	if c.released {
		return
	}
	c.released = true
	c.closing = true
	switch {
	case c.nc != nil:
		c.nc.Close()
	case c.fd >= 0:
		if c.p != nil {
			c.p.remove(c)
		}
		sysClose(c.fd)
		c.fd = -1
	}
	c.out, c.outHead, c.counted, c.eventB, c.respB = nil, 0, 0, 0, 0
	c.inbox, c.inboxBytes = nil, 0
	c.stallSince.Store(0)
	c.closeBy.Store(0)
	c.broadcastLocked()
	go c.teardown()
}

// teardown runs once the socket is closed: it waits for the worker and
// the pusher and undoes the connection's registrations. The gateway's
// WaitGroup counts the connection until it is done.
func (c *conn) teardown() {
	defer c.g.wg.Done()
	c.tasks.Wait()
	if c.unsub != nil {
		c.unsub()
	}
	c.g.forget(c)
	c.g.cfg.Metrics.MailboxInFlight.Sub(float64(c.win.clear()))
	if c.authedCount {
		c.g.left(c.ident.Load().AccountID)
	}
}

// isClosing reports whether the connection is closing.
func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// enqueue queues a serialized proto.Frame, an event, for the device; a
// full queue means the device is not reading, and the connection is cut.
func (c *conn) enqueue(f []byte) { c.enqueueFrame(f, false) }

// enqueueFrame is enqueue for an event or (resp) a response.
func (c *conn) enqueueFrame(f []byte, resp bool) {
	w := encodeFrame(opBinary, f)
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	if c.queueFullLocked(len(w), resp) {
		first := c.closeLocked(proto.Code_SLOW_CONSUMER, slowConsumerReason, 0, false)
		c.mu.Unlock()
		if first {
			c.closed(proto.Code_SLOW_CONSUMER, slowConsumerReason)
		}
		return
	}
	c.queueLocked(outFrame{b: w, counted: true, resp: resp})
	c.mu.Unlock()
}

const slowConsumerReason = "the device did not read fast enough; reconnect, undelivered mail is kept"

// respond sends a Response, counting non-OK codes.
func (c *conn) respond(r *proto.Response) {
	if r.Code != proto.Code_OK {
		c.g.cfg.Metrics.Error(r.Code)
	}
	c.enqueueFrame(responseFrame(r), true)
}

// onBus handles signals for this connection's device. It runs on the
// publisher's goroutine and must not block.
func (c *conn) onBus(m bus.Message) {
	switch m.Kind {
	case bus.KindMail:
		c.win.signal(m.Seq)
		if m.Envelope == nil || !c.pushDirect(m.Seq, m.Envelope) {
			c.wakePusher()
		}
	case bus.KindFrame:
		c.g.cfg.Metrics.MessagesOut.WithLabelValues("event").Inc()
		c.enqueue(m.Frame)
	case bus.KindClose:
		if m.Except != c.idString() {
			c.cut(proto.Code(m.Code), m.Reason)
		}
	}
}

// handleMessage parses one WebSocket message and acts on it.
func (c *conn) handleMessage(op byte, b []byte) {
	req, code, msg := parseFrame(op == opBinary, b)
	switch code {
	case proto.Code_OK:
		c.serveRequest(req)
	case proto.Code_BAD_REQUEST:
		c.malformedFrame(msg)
	default:
		c.respond(ErrorResponse(0, code, msg))
	}
}

func (c *conn) malformedFrame(msg string) {
	c.malformed++
	c.respond(ErrorResponse(0, proto.Code_BAD_REQUEST, msg))
	if c.malformed >= maxMalformed {
		c.cut(proto.Code_BAD_REQUEST, "too many malformed frames; fix the client")
	}
}

// waitSends waits until fewer than max Sends are in flight (max 1: none);
// false if the connection closed meanwhile.
func (c *conn) waitSends(max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for int(c.inflight) >= max && !c.closing {
		c.waitLocked()
	}
	return !c.closing
}

func (c *conn) sendStarted() {
	c.mu.Lock()
	c.inflight++
	c.mu.Unlock()
}

func (c *conn) sendDone() {
	c.mu.Lock()
	c.inflight--
	c.broadcastLocked()
	c.mu.Unlock()
}
