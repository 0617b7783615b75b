package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/parleyhq/parley/client/rpc"
	"github.com/parleyhq/parley/proto"
)

// start launches the connection loop; first, if set, is an already
// authenticated connection (from Register or a completed link).
func (c *Client) start(first *rpc.Conn) {
	c.mu.Lock()
	if c.running || c.closed {
		c.mu.Unlock()
		if first != nil {
			first.Close()
		}
		return
	}
	c.running = true
	c.mu.Unlock()
	c.wg.Add(1)
	go c.run(first)
}

// run keeps one authenticated connection to the server until Close or
// until the device is revoked.
func (c *Client) run(first *rpc.Conn) {
	defer c.wg.Done()
	bo := newBackoff(c.opts.BackoffMin, c.opts.BackoffMax, c.opts.Rand)
	for c.ctx.Err() == nil {
		conn := first
		first = nil
		var err error
		if conn == nil {
			conn, err = c.connect()
		}
		if err == nil {
			bo.reset()
			err = c.serve(conn)
		}
		if c.ctx.Err() != nil {
			return
		}
		if isRevoked(err) {
			c.mu.Lock()
			c.fatal = ErrRevoked
			c.mu.Unlock()
			c.setConn(nil, ErrRevoked)
			c.log.Warn("this device was revoked; stopping")
			c.emit(DeviceEvent{DeviceID: c.deviceID, Self: true})
			c.emit(ConnectionEvent{Err: ErrRevoked})
			return
		}
		wait := bo.next()
		c.log.Info("disconnected; reconnecting", "err", err, "retry_in", wait)
		c.emit(ConnectionEvent{Err: err, Retry: wait})
		t := c.clk.NewTimer(wait)
		select {
		case <-t.C():
		case <-c.ctx.Done():
			t.Stop()
			return
		}
	}
}

func isRevoked(err error) bool {
	var pe *proto.Error
	var ce *rpc.CloseError
	return errors.As(err, &pe) && pe.Code == proto.Code_DEVICE_REVOKED ||
		errors.As(err, &ce) && ce.Code == proto.Code_DEVICE_REVOKED
}

// connect dials and authenticates.
func (c *Client) connect() (*rpc.Conn, error) {
	ctx, cancel := context.WithTimeout(c.ctx, callTimeout)
	defer cancel()
	conn, err := rpc.Dial(ctx, c.server, c.opts.HTTPClient)
	if err != nil {
		c.setConn(nil, err)
		return nil, err
	}
	res, err := c.authenticate(ctx, conn)
	if err != nil {
		conn.Close()
		c.setConn(nil, err)
		return nil, err
	}
	c.noteAuth(res)
	return conn, nil
}

func (c *Client) authenticate(ctx context.Context, conn *rpc.Conn) (*proto.AuthResult, error) {
	resp, err := conn.Call(ctx, &proto.Request{Body: &proto.Request_Authenticate{Authenticate: &proto.Authenticate{
		DeviceId:        c.deviceID,
		Signature:       c.authSignature(conn),
		ProtocolVersion: proto.ProtocolVersion,
	}}})
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if resp.GetAuth() == nil {
		return nil, errors.New("authenticate: the server answered without an AuthResult")
	}
	return resp.GetAuth(), nil
}

func (c *Client) noteAuth(res *proto.AuthResult) {
	c.mu.Lock()
	c.kpLeft = res.KeyPackagesLeft
	c.mailboxSeq = res.MailboxSeq
	c.mu.Unlock()
}

// serve runs one authenticated connection: publishes it, keeps it alive
// with pings, and processes pushed events until it ends.
func (c *Client) serve(conn *rpc.Conn) error {
	defer conn.Close()
	c.setConn(conn, nil)
	defer c.setConn(nil, nil)
	c.emit(ConnectionEvent{Connected: true})

	// connCtx ends with the connection, so requests made while processing
	// (key fetches, acks) fail fast instead of waiting for a reconnect
	// that only this goroutine could make.
	connCtx, cancelConn := context.WithCancel(c.ctx)
	defer cancelConn()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer func() { close(stop); cancelConn(); wg.Wait() }()
	wg.Add(5)
	go func() { defer wg.Done(); c.pingLoop(conn, stop) }()
	go func() { defer wg.Done(); c.reconciler(connCtx) }()
	go func() { defer wg.Done(); c.channelWorker(connCtx) }()
	go func() { defer wg.Done(); c.maintainKeyPackages(stop) }()
	go func() {
		defer wg.Done()
		select {
		case <-conn.Done():
			cancelConn()
		case <-stop:
		}
	}()

	in := &inbox{c: c, conn: conn, ctx: connCtx}
	c.mu.Lock()
	target := c.mailboxSeq
	c.mu.Unlock()
	if acked, err := c.prof.AckedSeq(connCtx); err == nil && acked >= target {
		c.markSynced()
	}
	// Mail may have expired on the server below the announced sequence;
	// after a quiet spell the device counts as synced anyway.
	quiet := c.clk.NewTimer(syncQuiet)
	defer quiet.Stop()
	for {
		select {
		case <-quiet.C():
			c.markSynced()
		case ev, ok := <-conn.Events():
			if !ok {
				in.flush()
				if err := conn.Err(); err != nil && !errors.Is(err, rpc.ErrClosed) {
					return err
				}
				return errors.New("connection closed")
			}
			if err := in.handle(ev); err != nil {
				// A local failure (disk full): stop acking, drop the
				// connection, and let the mail come back later.
				c.log.Error("processing incoming mail failed; will retry after reconnect", "err", err)
				return err
			}
			if len(conn.Events()) == 0 || in.unacked >= ackEvery {
				in.flush()
			}
			if in.persisted >= target {
				c.markSynced()
			}
			quiet.Reset(syncQuiet)
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
}

func (c *Client) pingLoop(conn *rpc.Conn, stop <-chan struct{}) {
	t := c.clk.NewTicker(c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C():
			ctx, cancel := context.WithTimeout(c.ctx, callTimeout)
			_, err := conn.Call(ctx, &proto.Request{Body: &proto.Request_Ping{Ping: &proto.Ping{}}})
			cancel()
			if err != nil {
				c.log.Debug("ping failed", "err", err)
			}
		case <-stop:
			return
		case <-conn.Done():
			return
		}
	}
}
