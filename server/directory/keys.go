package directory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/identity"
	"github.com/parleyhq/parley/mls"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
)

// account finds an account by handle or id.
func (s *Service) account(ctx context.Context, handle, id string) (store.Account, error) {
	var a store.Account
	var err error
	switch {
	case handle != "":
		h, herr := identity.CanonicalHandle(handle)
		if herr != nil {
			return a, proto.Errorf(proto.Code_INVALID_HANDLE, "%v", herr)
		}
		a, err = s.st.AccountByHandle(ctx, h)
		if errors.Is(err, store.ErrNotFound) {
			return a, proto.Errorf(proto.Code_NOT_FOUND, "no account %s on this server; check the handle", h)
		}
	case id != "":
		a, err = s.st.AccountByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return a, proto.Errorf(proto.Code_NOT_FOUND, "no account with id %q on this server", id)
		}
	default:
		return a, proto.Errorf(proto.Code_BAD_REQUEST, "name the account by handle or account_id")
	}
	if err != nil {
		return a, storeErr("account", err)
	}
	return a, nil
}

// FetchKeys returns an account's key log from an index, exactly as stored.
func (s *Service) FetchKeys(ctx context.Context, who gateway.Identity, f *proto.FetchKeys) (*proto.KeysResult, error) {
	a, err := s.account(ctx, f.Handle, f.AccountId)
	if err != nil {
		return nil, err
	}
	log, err := s.st.KeyLog(ctx, a.ID, f.FromIndex)
	if err != nil {
		return nil, storeErr("fetch keys", err)
	}
	res := &proto.KeysResult{AccountId: a.ID, Handle: a.Handle, Log: make([]*proto.KeyLogEntry, len(log))}
	for i, e := range log {
		res.Log[i] = new(proto.KeyLogEntry)
		if err := gproto.Unmarshal(e.Entry, res.Log[i]); err != nil {
			return nil, storeErr("fetch keys: decode", err)
		}
	}
	return res, nil
}

// UploadKeyPackages adds one-time key packages and replaces the
// last-resort one. Each package must be a valid MLS KeyPackage of this
// device (its credential is the device id and its signature key the
// device key, as clients check when they add it) that has not expired: the
// store keeps its lifetime's end and stops handing it out then.
func (s *Service) UploadKeyPackages(ctx context.Context, who gateway.Identity, u *proto.UploadKeyPackages) (*proto.UploadResult, error) {
	if n := len(u.OneTime); n > proto.MaxKeyPackagesPerUpload {
		return nil, proto.Errorf(proto.Code_TOO_LARGE, "%d key packages in one upload; the limit is %d", n, proto.MaxKeyPackagesPerUpload)
	}
	for i, kp := range append(u.OneTime, u.LastResort) {
		if len(kp) > proto.MaxKeyPackageBytes {
			return nil, proto.Errorf(proto.Code_TOO_LARGE, "key package %d is %d bytes; the limit is %d", i, len(kp), proto.MaxKeyPackageBytes)
		}
		if len(kp) == 0 && i < len(u.OneTime) {
			return nil, proto.Errorf(proto.Code_BAD_REQUEST, "key package %d is empty", i)
		}
	}
	if len(u.OneTime) == 0 && len(u.LastResort) == 0 {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "nothing to upload")
	}
	dev, err := s.st.Device(ctx, who.DeviceID)
	if err != nil {
		return nil, storeErr("upload key packages: device", err)
	}
	now := s.clock.Now()
	oneTime := make([]store.KeyPackage, len(u.OneTime))
	for i, kp := range u.OneTime {
		if oneTime[i], err = checkKeyPackage(kp, dev, now); err != nil {
			return nil, proto.Errorf(proto.Code_BAD_REQUEST, "key package %d: %v", i, err)
		}
	}
	var lastResort *store.KeyPackage
	if len(u.LastResort) > 0 {
		kp, err := checkKeyPackage(u.LastResort, dev, now)
		if err != nil {
			return nil, proto.Errorf(proto.Code_BAD_REQUEST, "last-resort key package: %v", err)
		}
		lastResort = &kp
	}
	n, err := s.st.PutKeyPackages(ctx, who.DeviceID, oneTime, lastResort, proto.MaxStoredKeyPackages, now)
	if err != nil {
		return nil, storeErr("upload key packages", err)
	}
	return &proto.UploadResult{KeyPackagesLeft: uint32(n)}, nil
}

// checkKeyPackage parses an uploaded MLSMessage(KeyPackage) as a member
// adding it would (package mls, pure: signatures, capabilities, lifetime)
// and checks it is the uploading device's. The error is for a person.
func checkKeyPackage(msg []byte, dev store.Device, now time.Time) (store.KeyPackage, error) {
	kp, err := mls.ParseKeyPackage(msg, now)
	if errors.Is(err, mls.ErrKeyPackageExpired) {
		return store.KeyPackage{}, fmt.Errorf("expired or not yet valid (%v); make a fresh one and check the device's clock", err)
	}
	if err != nil {
		return store.KeyPackage{}, fmt.Errorf("not a valid MLS KeyPackage (%v); upload packages made with mls.NewKeyPackage", err)
	}
	if string(kp.Credential()) != dev.ID || !bytes.Equal(kp.SignatureKey(), dev.SigningKey) {
		return store.KeyPackage{}, errors.New("its credential must be this device's id and its signature key this device's key")
	}
	// ParseKeyPackage forgives a little clock skew at the end; the store
	// does not hand out a package past its end, so refuse it now.
	if end := kp.NotAfter(); !end.After(now) {
		return store.KeyPackage{}, fmt.Errorf("expired at %v; make a fresh one and check the device's clock", end)
	}
	return store.KeyPackage{Data: msg, NotAfter: kp.NotAfter()}, nil
}

// ClaimKeyPackages hands out one key package per device of an account:
// one-time first, each at most once, else the last-resort one. Claims are
// limited per claiming and per claimed account (limits.go); claiming
// one's own account counts only against oneself.
func (s *Service) ClaimKeyPackages(ctx context.Context, who gateway.Identity, c *proto.ClaimKeyPackages) (*proto.ClaimResult, error) {
	a, err := s.account(ctx, "", c.AccountId)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	if !s.claimsBy.allowed(who.AccountID, now) {
		return nil, proto.Errorf(proto.Code_RATE_LIMITED, "this account made more than %d key-package claims in %v; retry in a few minutes", maxClaimsByAccount, claimWindow)
	}
	own := a.ID == who.AccountID
	if !own && !s.claimsOf.allowed(a.ID, now) {
		return nil, proto.Errorf(proto.Code_RATE_LIMITED, "%s's key packages were claimed more than %d times in %v; retry in a few minutes", a.Handle, maxClaimsOfAccount, claimWindow)
	}
	if !own {
		if blocked, err := s.st.IsBlocked(ctx, a.ID, who.AccountID); err != nil {
			return nil, storeErr("claim: blocked", err)
		} else if blocked {
			return nil, proto.Errorf(proto.Code_BLOCKED, "%s does not accept messages from you", a.Handle)
		}
	}
	devs, err := s.st.Devices(ctx, a.ID)
	if err != nil {
		return nil, storeErr("claim: devices", err)
	}
	ids := make([]string, 0, len(devs))
	if len(c.DeviceIds) == 0 {
		for _, d := range devs {
			ids = append(ids, d.ID)
		}
	} else {
		active := make(map[string]bool, len(devs))
		for _, d := range devs {
			active[d.ID] = true
		}
		seen := make(map[string]bool, len(devs))
		for _, id := range c.DeviceIds {
			if !active[id] {
				return nil, proto.Errorf(proto.Code_NOT_FOUND, "%s has no active device %q; fetch its keys again", a.Handle, id)
			}
			if !seen[id] { // each device once, however often it is listed
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	// Counted once the request is valid, whatever it yields: a claim
	// that finds nothing left costs the store as much.
	s.claimsBy.add(who.AccountID, now)
	if !own {
		s.claimsOf.add(a.ID, now)
	}
	res := &proto.ClaimResult{}
	for _, id := range ids {
		kp, lastResort, err := s.st.ClaimKeyPackage(ctx, id, now)
		if errors.Is(err, store.ErrNoKeyPackage) {
			continue
		}
		if err != nil {
			return nil, storeErr("claim", err)
		}
		res.KeyPackages = append(res.KeyPackages, &proto.ClaimedKeyPackage{DeviceId: id, KeyPackage: kp, LastResort: lastResort})
	}
	if len(res.KeyPackages) == 0 {
		return nil, proto.Errorf(proto.Code_NO_KEY_PACKAGE, "%s's devices have no key packages left; try again once one of them has been online", a.Handle)
	}
	return res, nil
}

// CreateInvite stores a single-use registration invite valid for ttl.
func (s *Service) CreateInvite(ctx context.Context, ttl time.Duration) (string, time.Time, error) {
	code, err := s.inviteCode()
	if err != nil {
		return "", time.Time{}, err
	}
	expires := s.clock.Now().Add(ttl)
	if err := s.st.CreateInvite(ctx, code, expires); err != nil {
		return "", time.Time{}, storeErr("create invite", err)
	}
	return code, expires, nil
}
