package gateway

import (
	"time"

	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/proto"
)

// The sweeper replaces per-connection timers: each connection keeps its
// deadlines as numbers, and one goroutine looks at them all a few times a
// second. Handshake, idle and link-code deadlines are on the injected
// clock, so tests move them with a fake clock; a stalled write and the
// wait for a device's close frame are on the wall clock (see writer.go).

const (
	// maxSweep and minSweep bound the sweeper's period; it looks about ten
	// times per shortest timeout, so a deadline is honoured within a
	// tenth of it.
	maxSweep = time.Second
	minSweep = time.Millisecond
)

func sweepPeriod(d time.Duration) time.Duration { return min(max(d/10, minSweep), maxSweep) }

// sweepLoop runs the sweeps until stop closes. The caller makes
// clockTick before starting it, so a fake clock advanced right after the
// gateway starts always has the ticker to fire (made inside the
// goroutine, an early Advance could find none and no timeout would ever
// fire).
func (g *Gateway) sweepLoop(clockTick clock.Ticker, stop <-chan struct{}) {
	defer clockTick.Stop()
	wallTick := time.NewTicker(sweepPeriod(min(g.cfg.WriteTimeout, closeWait)))
	defer wallTick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-clockTick.C():
			// Now, not the tick's time: with a fake clock a tick may be
			// read late, and then the clock has moved on.
			g.sweepClock(g.clock.Now().UnixNano())
		case now := <-wallTick.C:
			g.sweepWall(now.UnixNano())
		}
	}
}

// expired is a connection to close and why.
type expired struct {
	c      *conn
	code   proto.Code
	reason string
}

// sweepClock closes connections past a deadline of the injected clock.
func (g *Gateway) sweepClock(now int64) {
	due := func(d int64) bool { return d != 0 && now >= d }
	var cut []expired
	g.mu.Lock()
	for c := range g.conns {
		switch {
		case due(c.handshakeBy.Load()):
			cut = append(cut, expired{c, proto.Code_HANDSHAKE_TIMEOUT, "no authentication in time; authenticate right after Hello"})
		case due(c.linkBy.Load()):
			cut = append(cut, expired{c, proto.Code_EXPIRED, "the link code expired before it was approved; start linking again"})
		case due(c.idleBy.Load()):
			cut = append(cut, expired{c, proto.Code_IDLE_TIMEOUT, "nothing received for too long; send Ping to keep the connection"})
		}
	}
	g.mu.Unlock()
	for _, e := range cut {
		if e.code == proto.Code_HANDSHAKE_TIMEOUT {
			e.c.handshakeBy.Store(0)
			g.cfg.Metrics.HandshakeFailures.WithLabelValues(proto.Code_HANDSHAKE_TIMEOUT.String()).Inc()
		}
		e.c.linkBy.Store(0)
		e.c.idleBy.Store(0)
		e.c.cut(e.code, e.reason)
	}
}

// sweepWall cuts connections whose writes stalled and releases those
// whose device never answered the close handshake.
func (g *Gateway) sweepWall(now int64) {
	stallLimit := int64(g.cfg.WriteTimeout)
	var slow, gone []*conn
	g.mu.Lock()
	for c := range g.conns {
		if s := c.stallSince.Load(); s != 0 && now-s >= stallLimit {
			slow = append(slow, c)
		} else if d := c.closeBy.Load(); d != 0 && now >= d {
			gone = append(gone, c)
		}
	}
	g.mu.Unlock()
	for _, c := range slow {
		c.mu.Lock()
		first := c.closeLocked(proto.Code_SLOW_CONSUMER, slowConsumerReason, 0, false)
		c.mu.Unlock()
		if first {
			// Its close frame gets one more WriteTimeout to go out
			// (dropOutputLocked).
			c.closed(proto.Code_SLOW_CONSUMER, slowConsumerReason)
		} else {
			c.kill() // already closing, and its close frame is stuck too
		}
	}
	for _, c := range gone {
		c.kill()
	}
}
