package directory

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/identity"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
)

func requirePrimary(who gateway.Identity) error {
	if !who.Primary {
		return proto.Errorf(proto.Code_FORBIDDEN, "only the account's primary device can change its devices")
	}
	return nil
}

// pendingLink returns the live link request behind a code, counting
// failed lookups against the caller's account.
func (s *Service) pendingLink(ctx context.Context, who gateway.Identity, code string) (store.LinkRequest, error) {
	now := s.clock.Now()
	if !s.guesses.allowed(who.AccountID, now) {
		return store.LinkRequest{}, proto.Errorf(proto.Code_RATE_LIMITED, "too many wrong link codes; check the code on the new device and try again in a few minutes")
	}
	r, err := s.st.LinkRequest(ctx, normalizeCode(code), now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.guesses.add(who.AccountID, now)
		return r, proto.Errorf(proto.Code_NOT_FOUND, "no device is waiting with this code; check the code shown on the new device")
	case errors.Is(err, store.ErrExpired):
		return r, proto.Errorf(proto.Code_EXPIRED, "this link code expired; start linking again on the new device")
	case err != nil:
		return r, storeErr("link request", err)
	}
	return r, nil
}

// LinkLookup shows the primary which device waits behind a code.
func (s *Service) LinkLookup(ctx context.Context, who gateway.Identity, l *proto.LinkLookup) (*proto.LinkPending, error) {
	if err := requirePrimary(who); err != nil {
		return nil, err
	}
	r, err := s.pendingLink(ctx, who, l.Code)
	if err != nil {
		return nil, err
	}
	return &proto.LinkPending{DeviceId: r.DeviceID, SigningKey: r.SigningKey, DeviceName: r.Name}, nil
}

// head is an account's current state as the directory checks changes
// against it.
type head struct {
	account store.Account
	primary store.Device
	devices []store.Device // active, primary first
	last    *proto.KeyLogEntry
	list    *proto.DeviceList // the list in last
}

func (s *Service) head(ctx context.Context, who gateway.Identity) (*head, error) {
	acct, err := s.st.AccountByID(ctx, who.AccountID)
	if err != nil {
		return nil, storeErr("head: account", err)
	}
	devs, err := s.st.Devices(ctx, who.AccountID)
	if err != nil {
		return nil, storeErr("head: devices", err)
	}
	log, err := s.st.KeyLog(ctx, who.AccountID, 0)
	if err != nil || len(log) == 0 {
		return nil, storeErr("head: key log", errors.Join(err, errors.New("empty key log")))
	}
	var last proto.KeyLogEntry
	if err := gproto.Unmarshal(log[len(log)-1].Entry, &last); err != nil {
		return nil, storeErr("head: decode entry", err)
	}
	list, err := identity.ParseDeviceList(last.DeviceList)
	if err != nil {
		return nil, storeErr("head: decode list", err)
	}
	h := &head{account: acct, devices: devs, last: &last, list: list}
	for _, d := range devs {
		if d.Primary {
			h.primary = d
		}
	}
	if h.primary.ID == "" {
		return nil, storeErr("head", errors.New("account without an active primary device"))
	}
	return h, nil
}

// checkChange verifies that signed is the primary's signature over the
// current list changed exactly as described: every device in want (by id,
// key and primary flag), nothing else, version plus one.
func (h *head) checkChange(signed *proto.SignedDeviceList, want []*proto.Device) error {
	l, err := identity.VerifyDeviceList(ed25519.PublicKey(h.primary.SigningKey), signed)
	if err != nil {
		return listErr(err)
	}
	switch {
	case l.AccountId != h.account.ID || l.Handle != h.account.Handle:
		return proto.Errorf(proto.Code_BAD_REQUEST, "the device list must keep account id %q and handle %q", h.account.ID, h.account.Handle)
	case l.Version != h.list.Version+1:
		return proto.Errorf(proto.Code_CONFLICT, "the device list must have version %d (the current one is %d); fetch keys and try again", h.list.Version+1, h.list.Version)
	case len(l.Devices) != len(want):
		return proto.Errorf(proto.Code_BAD_REQUEST, "the device list has %d devices; after this change the account has %d", len(l.Devices), len(want))
	}
	got := make(map[string]*proto.Device, len(l.Devices))
	for _, d := range l.Devices {
		got[d.DeviceId] = d
	}
	for _, w := range want {
		d := got[w.DeviceId]
		if d == nil || !bytes.Equal(d.SigningKey, w.SigningKey) || d.Primary != w.Primary {
			return proto.Errorf(proto.Code_BAD_REQUEST, "the device list does not match the change: device %s is missing or altered", w.DeviceId)
		}
	}
	return nil
}

// nextEntry chains a new key-log entry after the head.
func (h *head) nextEntry(signed *proto.SignedDeviceList, timeMs int64) (uint64, []byte, error) {
	e := &proto.KeyLogEntry{
		Index:      h.last.Index + 1,
		PrevHash:   identity.EntryHash(h.last),
		DeviceList: signed,
		TimeMs:     timeMs,
	}
	b, err := gproto.MarshalOptions{Deterministic: true}.Marshal(e)
	return e.Index, b, err
}

func asProto(d store.Device) *proto.Device {
	return &proto.Device{DeviceId: d.ID, SigningKey: d.SigningKey, Primary: d.Primary}
}

// LinkApprove adds the device waiting behind a code (docs/protocol.md
// §2.5) and tells its connection, wherever it is.
func (s *Service) LinkApprove(ctx context.Context, who gateway.Identity, a *proto.LinkApprove) error {
	if err := requirePrimary(who); err != nil {
		return err
	}
	r, err := s.pendingLink(ctx, who, a.Code)
	if err != nil {
		return err
	}
	h, err := s.head(ctx, who)
	if err != nil {
		return err
	}
	if len(h.devices) >= proto.MaxDevicesPerAccount {
		return proto.Errorf(proto.Code_DEVICE_LIMIT, "the account already has %d devices; revoke one first", proto.MaxDevicesPerAccount)
	}
	want := make([]*proto.Device, 0, len(h.devices)+1)
	for _, d := range h.devices {
		want = append(want, asProto(d))
	}
	want = append(want, &proto.Device{DeviceId: r.DeviceID, SigningKey: r.SigningKey})
	if err := h.checkChange(a.DeviceList, want); err != nil {
		return err
	}
	now := s.clock.Now()
	index, entry, err := h.nextEntry(a.DeviceList, now.UnixMilli())
	if err != nil {
		return err
	}
	err = s.st.AddDevice(ctx,
		store.Device{ID: r.DeviceID, AccountID: h.account.ID, SigningKey: r.SigningKey, Name: r.Name, AddedAt: now},
		store.LogEntry{AccountID: h.account.ID, Index: index, Entry: entry},
		proto.MaxDevicesPerAccount)
	switch {
	case errors.Is(err, store.ErrLogConflict):
		return proto.Errorf(proto.Code_CONFLICT, "the device list changed meanwhile; fetch keys and try again")
	case errors.Is(err, store.ErrDeviceLimit):
		return proto.Errorf(proto.Code_DEVICE_LIMIT, "the account already has %d devices; revoke one first", proto.MaxDevicesPerAccount)
	case errors.Is(err, store.ErrExists):
		// The waiting device registered, or was linked elsewhere, meanwhile.
		return proto.Errorf(proto.Code_ALREADY_EXISTS, "the new device is already registered; start linking again from a fresh profile")
	case err != nil:
		return storeErr("link approve", err)
	}
	if err := s.st.DeleteLinkRequest(ctx, r.Code); err != nil {
		s.log.Warn("link request not deleted; it expires by itself", "err", err)
	}
	s.log.Info("device linked", "account", h.account.ID, "device", r.DeviceID)
	// The device exists now; if this signal is lost, the new device
	// finds out by authenticating.
	frame := gateway.EventFrame(&proto.Event{Body: &proto.Event_LinkApproved{LinkApproved: &proto.LinkApproved{
		AccountId: h.account.ID, Handle: h.account.Handle, DeviceId: r.DeviceID,
	}}})
	if err := s.bus.Publish(ctx, r.DeviceID, bus.Message{Kind: bus.KindFrame, Frame: frame}); err != nil {
		s.log.Warn("could not signal the linked device", "device", r.DeviceID, "err", err)
	}
	return nil
}

// RevokeDevice removes a device of the caller's account (docs/protocol.md
// §2.6) and cuts its connection, wherever it is.
func (s *Service) RevokeDevice(ctx context.Context, who gateway.Identity, rv *proto.RevokeDevice) error {
	if err := requirePrimary(who); err != nil {
		return err
	}
	if rv.DeviceId == who.DeviceID {
		return proto.Errorf(proto.Code_FORBIDDEN, "the primary device cannot revoke itself")
	}
	h, err := s.head(ctx, who)
	if err != nil {
		return err
	}
	want := make([]*proto.Device, 0, len(h.devices))
	found := false
	for _, d := range h.devices {
		if d.ID == rv.DeviceId {
			found = true
			continue
		}
		want = append(want, asProto(d))
	}
	if !found {
		return proto.Errorf(proto.Code_NOT_FOUND, "the account has no active device %q", rv.DeviceId)
	}
	if err := h.checkChange(rv.DeviceList, want); err != nil {
		return err
	}
	now := s.clock.Now()
	index, entry, err := h.nextEntry(rv.DeviceList, now.UnixMilli())
	if err != nil {
		return err
	}
	err = s.st.RevokeDevice(ctx, h.account.ID, rv.DeviceId, store.LogEntry{AccountID: h.account.ID, Index: index, Entry: entry}, now)
	switch {
	case errors.Is(err, store.ErrLogConflict):
		return proto.Errorf(proto.Code_CONFLICT, "the device list changed meanwhile; fetch keys and try again")
	case errors.Is(err, store.ErrNotFound):
		return proto.Errorf(proto.Code_NOT_FOUND, "the account has no active device %q", rv.DeviceId)
	case err != nil:
		return storeErr("revoke", err)
	}
	s.log.Info("device revoked", "account", h.account.ID, "device", rv.DeviceId)
	if err := s.bus.Publish(ctx, rv.DeviceId, bus.Message{
		Kind: bus.KindClose, Code: int32(proto.Code_DEVICE_REVOKED),
		Reason: "this device was removed from its account",
	}); err != nil {
		s.log.Warn("could not cut the revoked device's connection", "device", rv.DeviceId, "err", err)
	}
	return nil
}
