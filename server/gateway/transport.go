package gateway

import (
	"net"
	"runtime"
	"sync"

	"github.com/parleyhq/parley/proto"
)

// Transport modes. Plain TCP connections on Linux are served by the event
// loop (poll_linux.go): no goroutine per idle connection. Anything else —
// a TLS connection, a platform without the event loop, or
// TransportEnv=goroutines — is served in goroutine mode: a reader
// goroutine per connection and a writer while output waits. Both modes
// share every other line of the connection code.
const (
	// TransportEnv names the environment variable that selects goroutine
	// mode for every connection when set to TransportGoroutines (for
	// comparing the modes and for running the tests against both).
	TransportEnv        = "PARLEY_GATEWAY_TRANSPORT"
	TransportGoroutines = "goroutines"

	// goroutineReadBuffer is a goroutine-mode reader's buffer.
	goroutineReadBuffer = 16 << 10
	// maxPollers bounds the event loop's goroutines.
	maxPollers = 8
)

// engine is what the first connection starts and the end of a drain
// stops: the event loop (nil in goroutine mode) and the sweeper.
type engine struct {
	polls *pollSet
	stopc chan struct{}
	wg    sync.WaitGroup
}

func (g *Gateway) startEngine() *engine {
	e := &engine{stopc: make(chan struct{})}
	if pollSupported && !g.goroutines {
		ps, err := newPollSet(min(max(runtime.GOMAXPROCS(0), 1), maxPollers))
		if err != nil {
			g.log.Warn("no event loop; serving connections with goroutines", "err", err)
		} else {
			e.polls = ps
		}
	}
	tick := g.clock.NewTicker(sweepPeriod(min(g.cfg.HandshakeTimeout, g.cfg.IdleTimeout)))
	e.wg.Go(func() { g.sweepLoop(tick, e.stopc) })
	return e
}

func (e *engine) stop() {
	close(e.stopc)
	e.wg.Wait()
	if e.polls != nil {
		e.polls.stop()
	}
}

// start sends the Hello, arms the handshake and idle deadlines and hands
// the socket to the event loop (or, in goroutine mode, to a reader).
// buffered is what the client sent right after its upgrade request.
func (c *conn) start(eng *engine, nc net.Conn, buffered []byte) {
	if err := setSendBuffer(nc, c.g.cfg.SendBuffer); err != nil {
		c.log().Warn("could not bound the socket's send buffer", "err", err)
	}
	if eng.polls != nil {
		if fd, ok := takeFD(nc); ok {
			c.fd = int32(fd)
		}
	}
	if c.fd < 0 {
		c.nc = nc
	}
	now := c.g.clock.Now()
	c.handshakeBy.Store(now.Add(c.g.cfg.HandshakeTimeout).UnixNano())
	c.idleBy.Store(now.Add(c.g.cfg.IdleTimeout).UnixNano())
	ch, err := c.g.challenge()
	if err != nil {
		c.log().Error("no randomness for a challenge", "err", err)
		c.cut(proto.Code_UNAVAILABLE, "the server cannot serve connections right now; retry later")
	} else {
		c.challenge = ch
		c.enqueue(mustMarshal(&proto.Frame{Kind: &proto.Frame_Hello{Hello: &proto.Hello{
			ProtocolVersion: proto.ProtocolVersion,
			Challenge:       ch[:],
			ServerTimeMs:    now.UnixMilli(),
			MaxFrameBytes:   proto.MaxFrameBytes,
		}}}))
	}
	if c.nc != nil {
		c.tasks.Go(func() { c.readLoop(buffered) })
		return
	}
	if len(buffered) > 0 {
		c.feed(buffered)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return
	}
	if err := eng.polls.add(c); err != nil {
		c.log().Error("event loop refused the connection", "err", err)
		c.closeLocked(proto.Code_UNAVAILABLE, "", statusNormal, false)
		c.releaseLocked()
	}
}

// setSendBuffer sets SO_SNDBUF of the TCP socket under nc (a TLS
// connection's too) to n bytes; n == 0 leaves the kernel's default. A
// bounded send buffer is what makes a device that stops reading visible:
// with the kernel's default, autotuned up to net.ipv4.tcp_wmem's maximum
// (4 MiB), that much mail can wait in the kernel, outside the server's
// accounting, before a write stalls and the write timeout cuts it.
func setSendBuffer(nc net.Conn, n int) error {
	if n <= 0 {
		return nil
	}
	for {
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		nc = u.NetConn()
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		return tc.SetWriteBuffer(n)
	}
	return nil
}

// readLoop is goroutine mode's reader.
func (c *conn) readLoop(buffered []byte) {
	if len(buffered) > 0 {
		c.feed(buffered)
	}
	buf := make([]byte, goroutineReadBuffer)
	for {
		c.mu.Lock()
		for c.paused && !c.released {
			c.waitLocked()
		}
		released, nc := c.released, c.nc
		c.mu.Unlock()
		if released {
			return
		}
		n, err := nc.Read(buf)
		if n > 0 {
			c.feed(buf[:n])
		}
		if err != nil {
			c.gone()
			return
		}
	}
}
