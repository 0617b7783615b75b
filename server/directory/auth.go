package directory

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/identity"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
)

// Authenticate checks an existing device's proof of key possession
// (docs/protocol.md §2.3). The order of checks matters: revocation is
// revealed only to the holder of the key.
func (s *Service) Authenticate(ctx context.Context, challenge []byte, a *proto.Authenticate) (*proto.AuthResult, error) {
	res, _, err := s.checkAuth(ctx, challenge, a)
	return res, err
}

// AuthenticateInfo is Authenticate that also says, from the same read,
// whether the account owns, administers or follows a channel and whether
// the device's mailbox is empty (gateway.InfoAuthenticator).
func (s *Service) AuthenticateInfo(ctx context.Context, challenge []byte, a *proto.Authenticate) (*proto.AuthResult, gateway.AuthInfo, error) {
	res, info, err := s.checkAuth(ctx, challenge, a)
	return res, gateway.AuthInfo{InChannels: info.InChannels, MailboxEmpty: info.MailboxDepth == 0}, err
}

// checkAuth is Authenticate's work; it also returns the store's answer.
func (s *Service) checkAuth(ctx context.Context, challenge []byte, a *proto.Authenticate) (*proto.AuthResult, store.DeviceAuth, error) {
	none := store.DeviceAuth{}
	if err := checkVersion(a.ProtocolVersion); err != nil {
		return nil, none, err
	}
	// One read answers everything below: a connect is the hot path of a
	// reconnect storm.
	info, err := s.st.DeviceAuth(ctx, a.DeviceId, s.clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, none, proto.Errorf(proto.Code_NOT_FOUND, "no device %q on this server; register or link it first", a.DeviceId)
	}
	if err != nil {
		return nil, none, storeErr("authenticate", err)
	}
	dev := info.Device
	if !identity.VerifyAuth(dev.SigningKey, challenge, dev.ID, a.Signature) {
		return nil, none, proto.Errorf(proto.Code_BAD_SIGNATURE, "the signature does not verify; sign identity.AuthMessage(challenge of this connection's Hello, device id) with the device key")
	}
	if dev.Revoked() {
		return nil, none, proto.Errorf(proto.Code_DEVICE_REVOKED, "this device was removed from its account; link it again to use it")
	}
	depth, lastSeq := info.MailboxDepth, info.LastSeq
	s.m.MailboxDepthAtAuth.Observe(float64(depth))
	return &proto.AuthResult{
		AccountId: dev.AccountID, Handle: info.Handle, DeviceId: dev.ID, Primary: dev.Primary,
		KeyPackagesLeft: uint32(info.KeyPackagesLeft), MailboxSeq: lastSeq,
	}, info, nil
}

// Register creates an account with the connection's device as its primary
// (docs/protocol.md §2.4).
func (s *Service) Register(ctx context.Context, challenge []byte, r *proto.Register) (*proto.AuthResult, error) {
	if err := checkVersion(r.ProtocolVersion); err != nil {
		return nil, err
	}
	devID, err := checkKey(r.SigningKey, challenge, r.Signature)
	if err != nil {
		return nil, err
	}
	handle, err := identity.CanonicalHandle(r.Handle)
	if err != nil {
		return nil, &proto.Error{Code: proto.Code_INVALID_HANDLE, Message: strings.TrimPrefix(err.Error(), identity.ErrInvalidHandle.Error()+": ")}
	}
	if s.policy == PolicyClosed {
		return nil, proto.Errorf(proto.Code_REGISTRATION_CLOSED, "this server does not accept new accounts; ask its operator")
	}
	if err := checkDeviceName(r.DeviceName); err != nil {
		return nil, err
	}
	accountID := identity.AccountID(r.SigningKey)
	l, err := identity.VerifyDeviceList(ed25519.PublicKey(r.SigningKey), r.DeviceList)
	if err != nil {
		return nil, listErr(err)
	}
	switch {
	case l.Version != 1:
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the first device list must have version 1, not %d", l.Version)
	case l.Handle != handle:
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the device list names %q; it must carry the canonical handle %q", l.Handle, handle)
	case l.AccountId != accountID:
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the device list's account id must be %q (\"a\" + the device id after its \"d\")", accountID)
	case len(l.Devices) != 1:
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the first device list must contain only the registering device")
	}
	if _, err := s.st.AccountByHandle(ctx, handle); err == nil {
		return nil, proto.Errorf(proto.Code_ALREADY_EXISTS, "the handle %s is taken; choose another", handle)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, storeErr("register: handle", err)
	}
	if _, err := s.st.Device(ctx, devID); err == nil {
		return nil, proto.Errorf(proto.Code_ALREADY_EXISTS, "this device is already registered; authenticate instead, or use a new profile")
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, storeErr("register: device", err)
	}
	now := s.clock.Now()
	if s.policy == PolicyInvite && r.InviteCode == "" {
		return nil, proto.Errorf(proto.Code_INVALID_INVITE, "this server needs an invite code to register; ask its operator for one")
	}
	entry, err := gproto.MarshalOptions{Deterministic: true}.Marshal(&proto.KeyLogEntry{
		Index: 0, DeviceList: r.DeviceList, TimeMs: now.UnixMilli(),
	})
	if err != nil {
		return nil, err
	}
	acct := store.Account{ID: accountID, Handle: handle, CreatedAt: now}
	dev := store.Device{ID: devID, AccountID: accountID, SigningKey: r.SigningKey, Name: r.DeviceName, Primary: true, AddedAt: now}
	first := store.LogEntry{AccountID: accountID, Index: 0, Entry: entry}
	if s.policy == PolicyInvite {
		// Consumed in the account's transaction: a registration that
		// fails (a handle taken meanwhile) keeps the invite.
		err = s.st.CreateAccountWithInvite(ctx, acct, dev, first, normalizeCode(r.InviteCode), now)
	} else {
		err = s.st.CreateAccount(ctx, acct, dev, first)
	}
	switch {
	case errors.Is(err, store.ErrHandleTaken):
		return nil, proto.Errorf(proto.Code_ALREADY_EXISTS, "the handle %s is taken; choose another", handle)
	case errors.Is(err, store.ErrExists):
		// The same key registering twice at once: one of them won.
		return nil, proto.Errorf(proto.Code_ALREADY_EXISTS, "this device is already registered; authenticate instead, or use a new profile")
	case errors.Is(err, store.ErrInviteInvalid):
		return nil, proto.Errorf(proto.Code_INVALID_INVITE, "the invite code is unknown, used or expired; ask the operator for a new one")
	case err != nil:
		return nil, storeErr("register", err)
	}
	s.log.Info("account registered", "account", accountID, "handle", handle, "device", devID)
	return &proto.AuthResult{AccountId: accountID, Handle: handle, DeviceId: devID, Primary: true}, nil
}

// LinkBegin parks a new device under a one-time code for the primary to
// approve (docs/protocol.md §2.5).
func (s *Service) LinkBegin(ctx context.Context, challenge []byte, l *proto.LinkBegin) (string, *proto.LinkCode, error) {
	if err := checkVersion(l.ProtocolVersion); err != nil {
		return "", nil, err
	}
	devID, err := checkKey(l.SigningKey, challenge, l.Signature)
	if err != nil {
		return "", nil, err
	}
	if err := checkDeviceName(l.DeviceName); err != nil {
		return "", nil, err
	}
	if _, err := s.st.Device(ctx, devID); err == nil {
		return "", nil, proto.Errorf(proto.Code_ALREADY_EXISTS, "this device is already registered; authenticate instead, or use a new profile")
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", nil, storeErr("link: device", err)
	}
	now := s.clock.Now()
	expires := now.Add(proto.LinkCodeTTL)
	for range maxCodeAttempts {
		code, err := s.digits(linkCodeDigits)
		if err != nil {
			return "", nil, err
		}
		// A code still pending for another device is not reused (that
		// would hand its approval to this one): the store refuses it,
		// atomically, and another code is drawn.
		err = s.st.PutLinkRequest(ctx, store.LinkRequest{
			Code: code, DeviceID: devID, SigningKey: l.SigningKey, Name: l.DeviceName, ExpiresAt: expires,
		}, now)
		if errors.Is(err, store.ErrExists) {
			continue
		}
		if err != nil {
			return "", nil, storeErr("link: put", err)
		}
		return devID, &proto.LinkCode{Code: code, ExpiresMs: expires.UnixMilli()}, nil
	}
	return "", nil, proto.Errorf(proto.Code_UNAVAILABLE, "could not find a free link code; retry")
}
