package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/client/rpc"
	"github.com/parleyhq/parley/identity"
	"github.com/parleyhq/parley/proto"
)

// Register creates an account for handle with this device as its primary,
// then stays connected. The server URL is remembered in the profile.
func (c *Client) Register(ctx context.Context, handle string) error {
	if c.Registered() {
		return ErrRegistered
	}
	h, err := identity.CanonicalHandle(handle)
	if err != nil {
		return &proto.Error{Code: proto.Code_INVALID_HANDLE, Message: err.Error()}
	}
	if len(c.opts.DeviceName) > proto.MaxDeviceNameBytes {
		return proto.Errorf(proto.Code_TOO_LARGE, "device name is over %d bytes", proto.MaxDeviceNameBytes)
	}
	list, err := c.key.SignDeviceList(&proto.DeviceList{
		AccountId: identity.AccountID(c.publicKey()),
		Handle:    h,
		Version:   1,
		Devices: []*proto.Device{{DeviceId: c.deviceID, SigningKey: c.publicKey(), Name: c.opts.DeviceName,
			Primary: true, AddedMs: c.clk.Now().UnixMilli()}},
	})
	if err != nil {
		return err
	}
	conn, err := rpc.Dial(ctx, c.server, c.opts.HTTPClient)
	if err != nil {
		return err
	}
	resp, err := conn.Call(ctx, &proto.Request{Body: &proto.Request_Register{Register: &proto.Register{
		Handle:          h,
		SigningKey:      c.publicKey(),
		DeviceList:      list,
		Signature:       c.authSignature(conn),
		InviteCode:      c.opts.InviteCode,
		ProtocolVersion: proto.ProtocolVersion,
		DeviceName:      c.opts.DeviceName,
	}}})
	if err == nil && resp.GetAuth() == nil {
		err = errors.New("register: the server answered without an AuthResult")
	}
	if err != nil {
		conn.Close()
		return err
	}
	if err := c.becomeDevice(ctx, conn, resp.GetAuth()); err != nil {
		return err
	}
	// Trust our own first key-log entry from the start.
	if _, err := c.verifyAccountID(ctx, resp.GetAuth().AccountId); err != nil {
		c.log.Warn("verifying own key log", "err", err)
	}
	return nil
}

// becomeDevice records the account this device now belongs to and starts
// the connection loop on conn.
func (c *Client) becomeDevice(ctx context.Context, conn *rpc.Conn, res *proto.AuthResult) error {
	self := profile.Self{AccountID: res.AccountId, Handle: res.Handle, DeviceID: c.deviceID, Primary: res.Primary}
	if err := c.prof.Update(ctx, func(tx *profile.Tx) error {
		if err := tx.SetServerURL(c.server); err != nil {
			return err
		}
		return tx.SetSelf(self)
	}); err != nil {
		conn.Close()
		return err
	}
	c.mu.Lock()
	c.self = self
	c.mu.Unlock()
	c.noteAuth(res)
	c.start(conn)
	// Upload key packages before returning, so others can start
	// conversations with this device as soon as it exists.
	if err := c.replenishKeyPackages(); err != nil && !errors.Is(err, ErrNoEncryption) {
		c.log.Warn("uploading key packages", "err", err)
	}
	return nil
}

// Link is a pending request to link this (new) device to an account.
type Link struct {
	// Code is the one-time code to enter on the primary device
	// (`parley link --approve CODE --device DEVICE_ID`).
	Code string
	// DeviceID is this device's id, derived from its key: the primary
	// approves only the device with this id, so the user must carry it
	// over with the code (the server could otherwise put its own key
	// behind the code).
	DeviceID string
	Expires  time.Time
	c        *Client
	conn     *rpc.Conn
}

// LinkBegin asks the server to link this new device to an account and
// returns the code to show; Wait then waits for the primary's approval.
func (c *Client) LinkBegin(ctx context.Context) (*Link, error) {
	if c.Registered() {
		return nil, ErrRegistered
	}
	conn, err := rpc.Dial(ctx, c.server, c.opts.HTTPClient)
	if err != nil {
		return nil, err
	}
	resp, err := conn.Call(ctx, &proto.Request{Body: &proto.Request_LinkBegin{LinkBegin: &proto.LinkBegin{
		SigningKey:      c.publicKey(),
		DeviceName:      c.opts.DeviceName,
		Signature:       c.authSignature(conn),
		ProtocolVersion: proto.ProtocolVersion,
	}}})
	if err == nil && resp.GetLinkCode() == nil {
		err = errors.New("link: the server answered without a code")
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	lc := resp.GetLinkCode()
	return &Link{Code: lc.Code, DeviceID: c.deviceID, Expires: time.UnixMilli(lc.ExpiresMs), c: c, conn: conn}, nil
}

// Wait blocks until the primary approves the link, then authenticates and
// stays connected as the new device. It pings while waiting so the server
// keeps the connection.
func (l *Link) Wait(ctx context.Context) error {
	c := l.c
	t := c.clk.NewTicker(c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-l.conn.Events():
			if !ok {
				return l.reconnect(ctx)
			}
			if n := ev.GetNotice(); n != nil {
				c.log.Info("server notice while linking", "code", n.Code, "message", n.Message)
			}
			if ev.GetLinkApproved() == nil {
				continue
			}
			res, err := c.authenticate(ctx, l.conn)
			if err != nil {
				l.conn.Close()
				return err
			}
			return c.becomeDevice(ctx, l.conn, res)
		case <-l.conn.Done():
			return l.reconnect(ctx)
		case <-t.C():
			pctx, cancel := context.WithTimeout(ctx, callTimeout)
			l.conn.Call(pctx, &proto.Request{Body: &proto.Request_Ping{Ping: &proto.Ping{}}})
			cancel()
		case <-ctx.Done():
			l.conn.Close()
			return ctx.Err()
		}
	}
}

// reconnect handles a connection lost while waiting: the approval may
// have happened meanwhile, and the device exists once approved, so it
// tries to log in once.
func (l *Link) reconnect(ctx context.Context) error {
	c := l.c
	cause := l.conn.Err()
	l.conn.Close()
	var ce *rpc.CloseError
	if errors.As(cause, &ce) && ce.Code == proto.Code_EXPIRED {
		return fmt.Errorf("the link code expired before it was approved; run link again")
	}
	conn, err := rpc.Dial(ctx, c.server, c.opts.HTTPClient)
	if err != nil {
		return fmt.Errorf("connection lost (%v); run link again", cause)
	}
	res, err := c.authenticate(ctx, conn)
	if err != nil {
		conn.Close()
		return fmt.Errorf("connection lost before approval (%v); run link again", cause)
	}
	return c.becomeDevice(ctx, conn, res)
}

// Close abandons a link that was not approved.
func (l *Link) Close() { l.conn.Close() }

// Device is one device of this account.
type Device struct {
	ID      string
	Name    string
	Primary bool
	Added   time.Time
	This    bool // the device this client runs on
}

// Devices lists this account's devices from its verified key log.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	me, err := c.ownAccount(ctx)
	if err != nil {
		return nil, err
	}
	var out []Device
	for _, d := range me.Head.List.Devices {
		out = append(out, Device{ID: d.DeviceId, Name: d.Name, Primary: d.Primary,
			Added: time.UnixMilli(d.AddedMs), This: d.DeviceId == c.deviceID})
	}
	return out, nil
}

func (c *Client) ownAccount(ctx context.Context) (*account, error) {
	self := c.Self()
	if self.AccountID == "" {
		return nil, profile.ErrNotRegistered
	}
	return c.verifyAccountID(ctx, self.AccountID)
}

func (c *Client) requirePrimary(op string) error {
	if !c.Self().Primary {
		return proto.Errorf(proto.Code_FORBIDDEN, "%s needs the primary device of the account; this is a linked device", op)
	}
	return nil
}

// nextList returns the account's device list, one version up, changed by
// edit and signed by this (primary) device.
func (c *Client) nextList(me *account, edit func(l *proto.DeviceList)) (*proto.SignedDeviceList, error) {
	l := gproto.Clone(me.Head.List).(*proto.DeviceList)
	l.Version++
	edit(l)
	return c.key.SignDeviceList(l)
}

// ErrLinkMismatch means the device waiting behind a link code is not the
// one the user said to approve: the code may have been intercepted, or the
// server put another key behind it. Nothing was approved.
var ErrLinkMismatch = errors.New("client: the device waiting behind this link code is not the one you are approving")

// LinkLookup, on the primary, describes the device waiting behind code
// without approving it, so the user can compare its id with the one the
// new device shows.
func (c *Client) LinkLookup(ctx context.Context, code string) (Device, error) {
	if err := c.requirePrimary("approving a link"); err != nil {
		return Device{}, err
	}
	p, err := c.linkPending(ctx, code)
	if err != nil {
		return Device{}, err
	}
	return Device{ID: p.DeviceId, Name: p.DeviceName}, nil
}

func (c *Client) linkPending(ctx context.Context, code string) (*proto.LinkPending, error) {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_LinkLookup{LinkLookup: &proto.LinkLookup{Code: code}}})
	if err != nil {
		return nil, err
	}
	p := resp.GetLinkPending()
	if p == nil || len(p.SigningKey) != ed25519.PublicKeySize || identity.DeviceID(p.SigningKey) != p.DeviceId {
		return nil, errors.New("link: the server described the waiting device inconsistently; not approving")
	}
	return p, nil
}

// LinkApprove, on the primary, approves the device waiting behind code,
// which must be deviceID (the id the new device shows; a different one
// fails with ErrLinkMismatch and approves nothing). It signs the new
// device list, has the server add the device, and adds the device to every
// conversation of the account by MLS commit (waiting, within ctx, for the
// new device to upload its key packages).
func (c *Client) LinkApprove(ctx context.Context, code, deviceID string) (Device, error) {
	if err := c.requirePrimary("approving a link"); err != nil {
		return Device{}, err
	}
	if deviceID == "" {
		return Device{}, proto.Errorf(proto.Code_BAD_REQUEST, "give the id of the device to approve (the new device shows it with the code)")
	}
	p, err := c.linkPending(ctx, code)
	if err != nil {
		return Device{}, err
	}
	if p.DeviceId != deviceID {
		return Device{}, fmt.Errorf("%w: the code belongs to device %s (%q), you expected %s; do not approve it, and run link again on the new device",
			ErrLinkMismatch, p.DeviceId, p.DeviceName, deviceID)
	}
	me, err := c.ownAccount(ctx)
	if err != nil {
		return Device{}, err
	}
	now := c.clk.Now()
	signed, err := c.nextList(me, func(l *proto.DeviceList) {
		l.Devices = append(l.Devices, &proto.Device{DeviceId: p.DeviceId, SigningKey: p.SigningKey,
			Name: p.DeviceName, AddedMs: now.UnixMilli()})
	})
	if err != nil {
		return Device{}, err
	}
	if _, err := c.call(ctx, &proto.Request{Body: &proto.Request_LinkApprove{LinkApprove: &proto.LinkApprove{
		Code: code, DeviceList: signed}}}); err != nil {
		return Device{}, err
	}
	dev := Device{ID: p.DeviceId, Name: p.DeviceName, Added: now}
	if _, err := c.ownAccount(ctx); err != nil {
		return dev, err
	}
	return dev, c.addDeviceEverywhere(ctx, me.ID, p.DeviceId)
}

// RevokeDevice, on the primary, removes a device from the account and
// from every conversation (by MLS commit), so it cannot decrypt anything
// sent afterwards.
func (c *Client) RevokeDevice(ctx context.Context, deviceID string) error {
	if err := c.requirePrimary("revoking a device"); err != nil {
		return err
	}
	if deviceID == c.deviceID {
		return proto.Errorf(proto.Code_FORBIDDEN, "the primary device cannot revoke itself")
	}
	me, err := c.ownAccount(ctx)
	if err != nil {
		return err
	}
	if _, ok := me.Devices[deviceID]; !ok {
		return proto.Errorf(proto.Code_NOT_FOUND, "no device %s in this account; see `parley devices`", deviceID)
	}
	signed, err := c.nextList(me, func(l *proto.DeviceList) {
		for i, d := range l.Devices {
			if d.DeviceId == deviceID {
				l.Devices = append(l.Devices[:i], l.Devices[i+1:]...)
				break
			}
		}
	})
	if err != nil {
		return err
	}
	if _, err := c.call(ctx, &proto.Request{Body: &proto.Request_RevokeDevice{RevokeDevice: &proto.RevokeDevice{
		DeviceId: deviceID, DeviceList: signed}}}); err != nil {
		return err
	}
	if _, err := c.ownAccount(ctx); err != nil {
		return err
	}
	return c.removeDeviceEverywhere(ctx, deviceID)
}
