package gateway

import (
	"errors"
	"time"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/proto"
)

// serveRequest applies the rate limit and the connection's state to one
// request. It runs on the reader goroutine, so requests are handled in the
// order they arrive.
func (c *conn) serveRequest(req *proto.Request) {
	if !c.limiter.take(c.g.clock.Now(), c.g.cfg.RatePerSecond, c.g.cfg.RateBurst) {
		c.respond(ErrorResponse(req.Id, proto.Code_RATE_LIMITED, "too many requests; slow down and retry in a second"))
		return
	}
	if req.Body == nil {
		c.respond(ErrorResponse(req.Id, proto.Code_UNKNOWN_FRAME, "this server does not know this request type; upgrade the server or the client"))
		return
	}
	switch c.state {
	case stateHandshake:
		c.handshake(req)
	case stateLinking:
		switch req.Body.(type) {
		case *proto.Request_Ping:
			c.respond(&proto.Response{Id: req.Id})
		case *proto.Request_Authenticate:
			c.handshake(req)
		default:
			c.respond(ErrorResponse(req.Id, proto.Code_UNAUTHENTICATED, "this device is waiting for its link to be approved; only Ping and Authenticate are allowed"))
		}
	case stateAuthed:
		c.authed(req)
	}
}

func (c *conn) handshake(req *proto.Request) {
	auth := c.g.cfg.Auth
	switch b := req.Body.(type) {
	case *proto.Request_Authenticate:
		var res *proto.AuthResult
		var pre preRead
		var err error
		if ia, ok := auth.(InfoAuthenticator); ok {
			pre = c.beforeRead() // before the read
			var info AuthInfo
			res, info, err = ia.AuthenticateInfo(c.g.ctx, c.challenge[:], b.Authenticate)
			pre.hint.None = pre.hinted && !info.InChannels
			pre.empty = pre.counted && info.MailboxEmpty
		} else {
			res, err = auth.Authenticate(c.g.ctx, c.challenge[:], b.Authenticate)
		}
		if err != nil {
			c.handshakeFailed(req.Id, err)
			return
		}
		c.authenticated(req.Id, res, pre)
	case *proto.Request_Register:
		pre := c.beforeRead()
		pre.hint.None = pre.hinted // a new account is in no channel
		pre.empty = pre.counted    // and its device has no mail
		res, err := auth.Register(c.g.ctx, c.challenge[:], b.Register)
		if err != nil {
			c.handshakeFailed(req.Id, err)
			return
		}
		c.authenticated(req.Id, res, pre)
	case *proto.Request_LinkBegin:
		dev, code, err := auth.LinkBegin(c.g.ctx, c.challenge[:], b.LinkBegin)
		if err != nil {
			c.handshakeFailed(req.Id, err)
			return
		}
		c.linking(req.Id, dev, code)
	default:
		c.respond(ErrorResponse(req.Id, proto.Code_UNAUTHENTICATED, "authenticate first: send Authenticate, Register or LinkBegin"))
	}
}

// handshakeFailed answers a failed handshake request. The connection may
// try again, except after a revoked device or a version mismatch, and not
// indefinitely.
func (c *conn) handshakeFailed(id uint64, err error) {
	r := c.errorResponse(id, err)
	c.g.cfg.Metrics.HandshakeFailures.WithLabelValues(r.Code.String()).Inc()
	c.respond(r)
	c.attempts++
	switch {
	case r.Code == proto.Code_DEVICE_REVOKED || r.Code == proto.Code_UNSUPPORTED_VERSION:
		c.cut(r.Code, r.Message)
	case c.attempts >= maxHandshakeAttempts:
		c.cut(proto.Code_BAD_REQUEST, "too many failed handshake attempts; fix the client")
	}
}

// errorResponse turns an error of the domain layer into a Response. Only a
// *proto.Error's message reaches the device; anything else is logged and
// answered INTERNAL (or UNAVAILABLE when the connection is going away).
func (c *conn) errorResponse(id uint64, err error) *proto.Response {
	var pe *proto.Error
	if errors.As(err, &pe) {
		return ErrorResponse(id, pe.Code, pe.Message)
	}
	if c.isClosing() || c.g.ctx.Err() != nil {
		return ErrorResponse(id, proto.Code_UNAVAILABLE, "the connection is closing; retry")
	}
	c.log().Error("request failed", "err", err)
	return ErrorResponse(id, proto.Code_INTERNAL, "internal server error; it has been logged")
}

// MailCounter is a bus that counts the mail signals published through it
// (bus/local's MailSignals; ok false: it cannot, its publishers being on
// other nodes too).
type MailCounter interface {
	MailSignals() (n uint64, ok bool)
}

// preRead is what a handshake notes of the bus before the store read
// that authenticates the device, and what that read found.
type preRead struct {
	hint    ChannelHint // for the channel index
	hinted  bool        // the bus keeps a channel index
	mails   uint64      // the bus's MailSignals count
	counted bool        // the bus counts them
	empty   bool        // counted, and the read found the mailbox empty
}

func (c *conn) beforeRead() preRead {
	var p preRead
	if ab, ok := c.g.cfg.Bus.(accountBus); ok {
		p.hint.Epoch, p.hinted = ab.ChannelEpoch(), true
	}
	if mc, ok := c.g.cfg.Bus.(MailCounter); ok {
		p.mails, p.counted = mc.MailSignals()
	}
	return p
}

// accountBus is a bus that keeps a channel index (the server's) and can
// be told the account of an authenticated device's subscription (the
// index then needs no store read to find it) and what the handshake read
// of the account's channels (none: no read at all).
type accountBus interface {
	// ChannelEpoch counts the membership changes the index has seen.
	ChannelEpoch() uint64
	SubscribeAccount(deviceID, accountID string, hint ChannelHint, fn func(bus.Message)) (func(), error)
}

// subscribe routes the device's bus messages to this connection,
// replacing an earlier subscription: a device whose link was just
// approved is now an account's device, and the bus (the server's channel
// index wraps it) learns that from a new subscription, made before the
// old one ends so nothing published in between is lost. accountID is the
// device's account, "" while it waits to be linked.
func (c *conn) subscribe(deviceID, accountID string, hint ChannelHint) error {
	var unsub func()
	var err error
	if ab, ok := c.g.cfg.Bus.(accountBus); ok && accountID != "" {
		unsub, err = ab.SubscribeAccount(deviceID, accountID, hint, c.onBus)
	} else {
		unsub, err = c.g.cfg.Bus.Subscribe(deviceID, c.onBus)
	}
	if err != nil {
		return err
	}
	if c.unsub != nil {
		c.unsub()
	}
	c.unsub = unsub
	return nil
}

// authenticated moves the connection to the authenticated state and starts
// pushing the mailbox.
func (c *conn) authenticated(id uint64, res *proto.AuthResult, pre preRead) {
	who := newIdentity(res)
	if err := c.subscribe(who.DeviceID, who.AccountID, pre.hint); err != nil {
		c.log().Error("bus subscribe failed", "err", err)
		c.respond(ErrorResponse(id, proto.Code_UNAVAILABLE, "the server cannot route messages right now; retry later"))
		c.cut(proto.Code_UNAVAILABLE, "the server cannot route messages right now; retry later")
		return
	}
	c.handshakeBy.Store(0)
	c.linkBy.Store(0)
	c.ident.Store(who)
	c.challenge = nil // signed once; an idle connection does not keep it
	c.state = stateAuthed
	c.g.joined(who.AccountID)
	c.authedCount = true
	// One device, one connection: close an older connection of this
	// device wherever it is. Failure only leaves the old one to time out.
	if err := c.g.cfg.Bus.Publish(c.g.ctx, res.DeviceId, bus.Message{
		Kind: bus.KindClose, Code: int32(proto.Code_FORBIDDEN),
		Reason: "replaced by a newer connection of this device", Except: c.idString(),
	}); err != nil {
		c.log().Warn("could not close older connections of the device", "err", err)
	}
	// The mailbox needs a first read unless the authenticate read found
	// it empty and the bus signalled no mail at all since (then any mail
	// after that read is signalled to this subscription). Mail signalled
	// in between may have gone to nobody or to an older connection of the
	// device that is being replaced.
	fetch := true
	if mc, ok := c.g.cfg.Bus.(MailCounter); ok && pre.empty {
		n, _ := mc.MailSignals()
		fetch = n != pre.mails
	}
	c.respond(&proto.Response{Id: id, Body: &proto.Response_Auth{Auth: res}})
	c.mu.Lock()
	c.pushOK = true
	// Signalled before pushOK (onBus records the signal in the window
	// before it looks at pushOK): wakePusher did not start.
	fetch = fetch || c.win.signalled()
	c.mu.Unlock()
	if fetch {
		c.wakePusher() // redeliver what is waiting
	}
}

// newIdentity is who an AuthResult names, its three ids in one
// allocation: the connection keeps them (and the bus, the channel index
// and the online map share them) for as long as it is open.
func newIdentity(res *proto.AuthResult) *Identity {
	ids := res.AccountId + res.DeviceId + res.Handle
	a, d := len(res.AccountId), len(res.AccountId)+len(res.DeviceId)
	return &Identity{AccountID: ids[:a], DeviceID: ids[a:d], Handle: ids[d:], Primary: res.Primary}
}

// linking parks the connection until the primary approves the device.
func (c *conn) linking(id uint64, deviceID string, code *proto.LinkCode) {
	if err := c.subscribe(deviceID, "", ChannelHint{}); err != nil {
		c.log().Error("bus subscribe failed", "err", err)
		c.respond(ErrorResponse(id, proto.Code_UNAVAILABLE, "the server cannot route messages right now; retry later"))
		return
	}
	c.handshakeBy.Store(0)
	c.state = stateLinking
	c.linkBy.Store(time.UnixMilli(code.ExpiresMs).UnixNano())
	c.respond(&proto.Response{Id: id, Body: &proto.Response_LinkCode{LinkCode: code}})
}

// authed dispatches a request of an authenticated device. Sends are
// pipelined through the delivery batcher; every other request waits until
// the earlier Sends are answered, so requests take effect in order.
func (c *conn) authed(req *proto.Request) {
	switch b := req.Body.(type) {
	case *proto.Request_Authenticate, *proto.Request_Register, *proto.Request_LinkBegin:
		c.respond(ErrorResponse(req.Id, proto.Code_BAD_REQUEST, "this connection is already authenticated"))
		return
	case *proto.Request_Ping:
		c.respond(&proto.Response{Id: req.Id})
		return
	case *proto.Request_Send:
		if b.Send != nil && !b.Send.Ephemeral {
			if !c.waitSends(maxPipelinedSends) {
				return
			}
			c.sendStarted()
			c.g.cfg.Handler.Serve(c.g.ctx, *c.ident.Load(), req, func(r *proto.Response) {
				r.Id = req.Id
				c.respond(r)
				c.sendDone()
			})
			return
		}
	}
	if !c.waitSends(1) {
		return
	}
	done := make(chan *proto.Response, 1)
	c.g.cfg.Handler.Serve(c.g.ctx, *c.ident.Load(), req, func(r *proto.Response) { done <- r })
	r := <-done
	r.Id = req.Id
	if a := req.GetAck(); a != nil && r.Code == proto.Code_OK {
		c.g.cfg.Metrics.MailboxInFlight.Sub(float64(c.win.ack(a.UpToSeq)))
		c.wakePusher()
	}
	c.respond(r)
}
