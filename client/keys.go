package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/identity"
	"github.com/parleyhq/parley/proto"
)

// ErrKeyLog means an account's key log failed verification against what
// this device saw before: the server (or someone in its place) may be
// trying to slip in a device. Nothing is sent to such an account.
var ErrKeyLog = errors.New("client: key log verification failed")

// account is a verified view of an account: its handle and the device
// list of its key-log head.
type account struct {
	ID      string
	Handle  string
	Head    *identity.Head
	Devices map[string]*proto.Device
}

func (a *account) primaryKey() ed25519.PublicKey { return a.Head.PrimaryKey }

func newAccount(h *identity.Head) *account {
	a := &account{ID: h.AccountID, Handle: h.List.Handle, Head: h, Devices: map[string]*proto.Device{}}
	for _, d := range h.List.Devices {
		a.Devices[d.DeviceId] = d
	}
	return a
}

// headOf rebuilds a trusted head from the profile.
func headOf(p profile.Peer) (*identity.Head, error) {
	var s proto.SignedDeviceList
	if err := gproto.Unmarshal(p.DeviceList, &s); err != nil {
		return nil, fmt.Errorf("stored device list of %s: %w", p.Handle, err)
	}
	l, err := identity.ParseDeviceList(&s)
	if err != nil {
		return nil, fmt.Errorf("stored device list of %s: %w", p.Handle, err)
	}
	return &identity.Head{AccountID: p.AccountID, Index: p.LogIndex, Hash: p.HeadHash,
		PrimaryKey: identity.Primary(l).SigningKey, List: l}, nil
}

// trusted returns what the profile last verified of an account, without
// asking the server (nil if nothing yet).
func (c *Client) trusted(ctx context.Context, accountID string) (*account, error) {
	p, err := c.prof.Peer(ctx, accountID)
	if errors.Is(err, profile.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h, err := headOf(p)
	if err != nil {
		return nil, err
	}
	return newAccount(h), nil
}

// verifyHandle fetches and verifies the key log of the account with this
// handle.
func (c *Client) verifyHandle(ctx context.Context, handle string) (*account, error) {
	h, err := identity.CanonicalHandle(handle)
	if err != nil {
		return nil, &proto.Error{Code: proto.Code_INVALID_HANDLE, Message: err.Error()}
	}
	var known *profile.Peer
	if p, err := c.prof.PeerByHandle(ctx, h); err == nil {
		known = &p
	} else if !errors.Is(err, profile.ErrNotFound) {
		return nil, err
	}
	return c.verify(ctx, &proto.FetchKeys{Handle: h}, h, known)
}

// verifyAccountID fetches and verifies an account's key log by id.
func (c *Client) verifyAccountID(ctx context.Context, id string) (*account, error) {
	var known *profile.Peer
	if p, err := c.prof.Peer(ctx, id); err == nil {
		known = &p
	} else if !errors.Is(err, profile.ErrNotFound) {
		return nil, err
	}
	return c.verify(ctx, &proto.FetchKeys{AccountId: id}, "", known)
}

// verify checks a key log against the head this device trusted before
// (trust on first use), records the new head, and warns when the
// account's devices changed since then.
func (c *Client) verify(ctx context.Context, req *proto.FetchKeys, wantHandle string, known *profile.Peer) (*account, error) {
	var trusted *identity.Head
	if known != nil {
		h, err := headOf(*known)
		if err != nil {
			return nil, err
		}
		trusted = h
		req.FromIndex = known.LogIndex
	}
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_FetchKeys{FetchKeys: req}})
	if err != nil {
		return nil, err
	}
	res := resp.GetKeys()
	if res == nil {
		return nil, errors.New("fetch keys: the server answered without keys")
	}
	if known != nil && res.AccountId != known.AccountID {
		err := fmt.Errorf("%w: %s now names account %s, which this device knew as %s", ErrKeyLog, known.Handle, res.AccountId, known.AccountID)
		c.tryEmit(KeyChangeEvent{Handle: known.Handle, AccountID: res.AccountId, Err: err})
		return nil, err
	}
	head, err := identity.VerifyLog(res.AccountId, res.Log, trusted)
	if err == nil && wantHandle != "" && head.List.Handle != wantHandle {
		err = fmt.Errorf("the server returned the keys of %s for %s", head.List.Handle, wantHandle)
	}
	if err != nil {
		err = fmt.Errorf("%w for %s: %v", ErrKeyLog, res.Handle, err)
		c.tryEmit(KeyChangeEvent{Handle: res.Handle, AccountID: res.AccountId, Err: err})
		return nil, err
	}
	acc := newAccount(head)
	if trusted != nil && head.Index == trusted.Index {
		return acc, nil
	}
	last := res.Log[len(res.Log)-1]
	list, err := gproto.Marshal(last.DeviceList)
	if err != nil {
		return nil, err
	}
	if err := c.prof.SavePeer(ctx, profile.Peer{AccountID: head.AccountID, Handle: head.List.Handle,
		LogIndex: head.Index, HeadHash: head.Hash, DeviceList: list, Verified: c.clk.Now()}); err != nil {
		return nil, err
	}
	if trusted != nil {
		added, removed := diffDevices(trusted.List, head.List)
		if len(added)+len(removed) > 0 {
			c.kickReconcile()
			if head.AccountID == c.Self().AccountID {
				for _, d := range added {
					c.tryEmit(DeviceEvent{DeviceID: d, Linked: true})
				}
				for _, d := range removed {
					c.tryEmit(DeviceEvent{DeviceID: d, Self: d == c.deviceID})
				}
			} else {
				c.tryEmit(KeyChangeEvent{Handle: head.List.Handle, AccountID: head.AccountID, Added: added, Removed: removed})
			}
		}
	}
	return acc, nil
}

func diffDevices(old, cur *proto.DeviceList) (added, removed []string) {
	has := func(l *proto.DeviceList, d *proto.Device) bool {
		return slices.ContainsFunc(l.Devices, func(o *proto.Device) bool {
			return o.DeviceId == d.DeviceId && bytes.Equal(o.SigningKey, d.SigningKey)
		})
	}
	for _, d := range cur.Devices {
		if !has(old, d) {
			added = append(added, d.DeviceId)
		}
	}
	for _, d := range old.Devices {
		if !has(cur, d) {
			removed = append(removed, d.DeviceId)
		}
	}
	return added, removed
}

// SafetyNumber returns the number this account and handle's account
// compare out of band: it covers both accounts' verified primary keys.
func (c *Client) SafetyNumber(ctx context.Context, handle string) (string, error) {
	self := c.Self()
	if self.AccountID == "" {
		return "", profile.ErrNotRegistered
	}
	peer, err := c.verifyHandle(ctx, handle)
	if err != nil {
		return "", err
	}
	me, err := c.verifyAccountID(ctx, self.AccountID)
	if err != nil {
		return "", err
	}
	return identity.SafetyNumber(me.ID, me.primaryKey(), peer.ID, peer.primaryKey()), nil
}
