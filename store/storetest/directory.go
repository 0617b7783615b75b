package storetest

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/store"
)

func testCreateAccount(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, d := account(t, s, "alice")

	for _, get := range []struct {
		name string
		fn   func() (store.Account, error)
	}{
		{"AccountByID", func() (store.Account, error) { return s.AccountByID(ctx, a.ID) }},
		{"AccountByHandle", func() (store.Account, error) { return s.AccountByHandle(ctx, "@alice") }},
	} {
		got, err := get.fn()
		noErr(t, get.name, err)
		if got.ID != a.ID || got.Handle != a.Handle || !got.CreatedAt.Equal(a.CreatedAt) || got.Presence != a.Presence || !got.LastSeen.IsZero() {
			t.Errorf("%s = %+v, want %+v", get.name, got, a)
		}
	}
	gd, err := s.Device(ctx, d.ID)
	noErr(t, "Device", err)
	if gd.ID != d.ID || gd.AccountID != a.ID || !bytes.Equal(gd.SigningKey, d.SigningKey) || gd.Name != d.Name ||
		!gd.Primary || !gd.AddedAt.Equal(d.AddedAt) || gd.Revoked() {
		t.Errorf("Device = %+v, want %+v", gd, d)
	}
	ds, err := s.Devices(ctx, a.ID)
	noErr(t, "Devices", err)
	if len(ds) != 1 || ds[0].ID != d.ID {
		t.Errorf("Devices = %+v, want the primary alone", ds)
	}
	log, err := s.KeyLog(ctx, a.ID, 0)
	noErr(t, "KeyLog", err)
	if len(log) != 1 || log[0].Index != 0 || log[0].AccountID != a.ID || !bytes.Equal(log[0].Entry, logEntry(a.ID, 0).Entry) {
		t.Errorf("KeyLog = %+v, want the first entry", log)
	}

	_, err = s.AccountByID(ctx, "acct-nobody")
	wantErr(t, "AccountByID(unknown)", err, store.ErrNotFound)
	_, err = s.AccountByHandle(ctx, "@nobody")
	wantErr(t, "AccountByHandle(unknown)", err, store.ErrNotFound)
	_, err = s.Device(ctx, "dev-nobody")
	wantErr(t, "Device(unknown)", err, store.ErrNotFound)
	ds, err = s.Devices(ctx, "acct-nobody")
	noErr(t, "Devices(unknown)", err)
	if len(ds) != 0 {
		t.Errorf("Devices(unknown) = %v, want none", ds)
	}
}

func testHandleTaken(t *testing.T, s store.Store) {
	ctx := t.Context()
	account(t, s, "alice")
	for _, h := range []string{"@alice", "@Alice", "@ALICE"} {
		a := store.Account{ID: "acct-other" + h, Handle: h, CreatedAt: T0}
		d := store.Device{ID: "dev-other" + h, AccountID: a.ID, SigningKey: []byte("k"), AddedAt: T0}
		err := s.CreateAccount(ctx, a, d, logEntry(a.ID, 0))
		wantErr(t, "CreateAccount("+h+")", err, store.ErrHandleTaken)
		// Nothing of the refused account was written.
		_, err = s.AccountByID(ctx, a.ID)
		wantErr(t, "AccountByID(refused)", err, store.ErrNotFound)
		_, err = s.Device(ctx, d.ID)
		wantErr(t, "Device(refused)", err, store.ErrNotFound)
	}
	got, err := s.AccountByHandle(ctx, "@alice")
	noErr(t, "AccountByHandle", err)
	if got.ID != "acct-alice" {
		t.Errorf("@alice now belongs to %s", got.ID)
	}
}

func testFirstLogEntryIndex(t *testing.T, s store.Store) {
	a := store.Account{ID: "acct-x", Handle: "@x", CreatedAt: T0}
	d := store.Device{ID: "dev-x", AccountID: a.ID, SigningKey: []byte("k"), Primary: true, AddedAt: T0}
	err := s.CreateAccount(t.Context(), a, d, logEntry(a.ID, 1))
	wantErr(t, "CreateAccount(first entry index 1)", err, store.ErrLogConflict)
	_, err = s.AccountByID(t.Context(), a.ID)
	wantErr(t, "AccountByID(refused)", err, store.ErrNotFound)
}

func testAddDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, primary := account(t, s, "alice")
	d2 := linkDevice(t, s, a, 2)
	linkDevice(t, s, a, 1) // added later, but AddedAt earlier

	ds, err := s.Devices(ctx, a.ID)
	noErr(t, "Devices", err)
	if len(ds) != 3 || ds[0].ID != primary.ID || !ds[0].Primary {
		t.Fatalf("Devices = %+v, want primary first then 2 linked", ds)
	}
	for _, d := range ds[1:] {
		if d.Primary {
			t.Errorf("linked device %s reported primary", d.ID)
		}
	}
	got, err := s.Device(ctx, d2.ID)
	noErr(t, "Device", err)
	if got.AccountID != a.ID || !bytes.Equal(got.SigningKey, d2.SigningKey) || got.Name != d2.Name || !got.AddedAt.Equal(d2.AddedAt) {
		t.Errorf("Device = %+v, want %+v", got, d2)
	}

	// The entry must be exactly the next index: neither a taken one nor a gap.
	d3 := linked(a, 3)
	for _, idx := range []uint64{0, 2, 4} {
		err := s.AddDevice(ctx, d3, logEntry(a.ID, idx), proto.MaxDevicesPerAccount)
		wantErr(t, fmt.Sprintf("AddDevice(index %d)", idx), err, store.ErrLogConflict)
	}
	_, err = s.Device(ctx, d3.ID)
	wantErr(t, "Device(refused)", err, store.ErrNotFound)
	log, err := s.KeyLog(ctx, a.ID, 0)
	noErr(t, "KeyLog", err)
	if len(log) != 3 {
		t.Fatalf("KeyLog has %d entries, want 3", len(log))
	}
	for i, e := range log {
		if e.Index != uint64(i) || !bytes.Equal(e.Entry, logEntry(a.ID, uint64(i)).Entry) {
			t.Errorf("KeyLog[%d] = %d %q", i, e.Index, e.Entry)
		}
	}

	// A device id is registered once.
	err = s.AddDevice(ctx, d2, logEntry(a.ID, 3), proto.MaxDevicesPerAccount)
	if err == nil {
		t.Errorf("AddDevice(existing device) succeeded")
	}
	if n := nextIndex(t, s, a.ID); n != 3 {
		t.Errorf("refused AddDevice left the log at %d entries, want 3", n)
	}

	err = s.AddDevice(ctx, store.Device{ID: "dev-ghost", AccountID: "acct-ghost", AddedAt: T0}, logEntry("acct-ghost", 0), 5)
	wantErr(t, "AddDevice(unknown account)", err, store.ErrNotFound)
}

func testDeviceLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, _ := account(t, s, "alice")
	const max = 3
	for n := 1; n < max; n++ {
		noErr(t, "AddDevice", s.AddDevice(ctx, linked(a, n), logEntry(a.ID, uint64(n)), max))
	}
	err := s.AddDevice(ctx, linked(a, max), logEntry(a.ID, max), max)
	wantErr(t, "AddDevice(over the limit)", err, store.ErrDeviceLimit)
	if n := nextIndex(t, s, a.ID); n != max {
		t.Errorf("refused AddDevice appended to the log: %d entries", n)
	}
	// Revoked devices do not count.
	noErr(t, "RevokeDevice", s.RevokeDevice(ctx, a.ID, linked(a, 1).ID, logEntry(a.ID, max), T0.Add(time.Hour)))
	noErr(t, "AddDevice(after revoke)", s.AddDevice(ctx, linked(a, max), logEntry(a.ID, max+1), max))
}

func testRevokeDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, primary := account(t, s, "alice")
	d := linkDevice(t, s, a, 1)
	b, bob := account(t, s, "bob")
	_ = b

	_, err := s.PutKeyPackages(ctx, d.ID, kps("kp", 2), lastResort("last"), 10, T0)
	noErr(t, "PutKeyPackages", err)
	deliver(t, s, sub(bob.ID, 1, mail(d.ID, "to-d"), mail(primary.ID, "to-primary")))
	group := []byte("group-1")
	_, err = s.ApplyCommit(ctx, store.CommitRecord{GroupID: group, Epoch: 0, SenderDevice: bob.ID, MessageID: msgID(2),
		Commit: []byte("c0"), AddDevices: []string{primary.ID, d.ID}, Kind: int32(proto.ConversationKind_DIRECT),
		Accounts: []string{"acct-alice", "acct-bob"}, At: T0})
	noErr(t, "ApplyCommit", err)

	at := T0.Add(2 * time.Hour)
	noErr(t, "RevokeDevice", s.RevokeDevice(ctx, a.ID, d.ID, logEntry(a.ID, 2), at))

	got, err := s.Device(ctx, d.ID)
	noErr(t, "Device(revoked)", err)
	if !got.Revoked() || !got.RevokedAt.Equal(at) {
		t.Errorf("revoked device: RevokedAt = %v, want %v", got.RevokedAt, at)
	}
	ds, err := s.Devices(ctx, a.ID)
	noErr(t, "Devices", err)
	if len(ds) != 1 || ds[0].ID != primary.ID {
		t.Errorf("Devices after revoke = %+v, want the primary alone", ds)
	}
	if n := nextIndex(t, s, a.ID); n != 3 {
		t.Errorf("key log has %d entries after revoke, want 3", n)
	}
	if n := count(t, s, d.ID, T0); n != 0 {
		t.Errorf("CountKeyPackages(revoked) = %d; want 0", n)
	}
	_, _, err = s.ClaimKeyPackage(ctx, d.ID, T0)
	wantErr(t, "ClaimKeyPackage(revoked)", err, store.ErrNoKeyPackage)
	_, err = s.PutKeyPackages(ctx, d.ID, kps("kp3", 1), nil, 10, T0)
	wantErr(t, "PutKeyPackages(revoked)", err, store.ErrNotFound)
	if n, _ := depth(t, s, d.ID); n != 0 {
		t.Errorf("revoked device still has %d mails", n)
	}
	if n, _ := depth(t, s, primary.ID); n != 1 {
		t.Errorf("primary lost its mail: depth %d", n)
	}
	gs, err := s.GroupsOfDevice(ctx, d.ID)
	noErr(t, "GroupsOfDevice", err)
	if len(gs) != 0 {
		t.Errorf("revoked device still in groups %q", gs)
	}
	g, err := s.Group(ctx, group)
	noErr(t, "Group", err)
	if want := []string{primary.ID, bob.ID}; !equalStrings(g.Devices, want) {
		t.Errorf("group devices = %v, want %v", g.Devices, want)
	}
	if g.Epoch != 1 {
		t.Errorf("revoke moved the epoch to %d; only commits do", g.Epoch)
	}
}

func testRevokeErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, _ := account(t, s, "alice")
	d := linkDevice(t, s, a, 1)
	_, err := s.PutKeyPackages(ctx, d.ID, kps("kp1", 1), nil, 10, T0)
	noErr(t, "PutKeyPackages", err)

	// A wrong log index refuses the whole revoke.
	err = s.RevokeDevice(ctx, a.ID, d.ID, logEntry(a.ID, 1), T0)
	wantErr(t, "RevokeDevice(taken index)", err, store.ErrLogConflict)
	got, err := s.Device(ctx, d.ID)
	noErr(t, "Device", err)
	if got.Revoked() {
		t.Errorf("refused revoke marked the device revoked")
	}
	if n := count(t, s, d.ID, T0); n != 1 {
		t.Errorf("refused revoke deleted key packages: %d left", n)
	}

	err = s.RevokeDevice(ctx, a.ID, "dev-ghost", logEntry(a.ID, 2), T0)
	wantErr(t, "RevokeDevice(unknown device)", err, store.ErrNotFound)
	b, bob := account(t, s, "bob")
	_ = b
	err = s.RevokeDevice(ctx, a.ID, bob.ID, logEntry(a.ID, 2), T0)
	wantErr(t, "RevokeDevice(another account's device)", err, store.ErrNotFound)

	noErr(t, "RevokeDevice", s.RevokeDevice(ctx, a.ID, d.ID, logEntry(a.ID, 2), T0))
	err = s.RevokeDevice(ctx, a.ID, d.ID, logEntry(a.ID, 3), T0)
	wantErr(t, "RevokeDevice(twice)", err, store.ErrNotFound)
	if n := nextIndex(t, s, a.ID); n != 3 {
		t.Errorf("key log has %d entries, want 3", n)
	}
}

func testKeyLogFrom(t *testing.T, s store.Store) {
	a, _ := account(t, s, "alice")
	for n := 1; n <= 3; n++ {
		linkDevice(t, s, a, n)
	}
	log, err := s.KeyLog(t.Context(), a.ID, 2)
	noErr(t, "KeyLog(from 2)", err)
	if len(log) != 2 || log[0].Index != 2 || log[1].Index != 3 {
		t.Errorf("KeyLog(from 2) = %+v, want entries 2 and 3", log)
	}
	log, err = s.KeyLog(t.Context(), a.ID, math.MaxUint64)
	noErr(t, "KeyLog(from MaxUint64)", err)
	if len(log) != 0 {
		t.Errorf("KeyLog(from MaxUint64) = %+v, want none", log)
	}
	log, err = s.KeyLog(t.Context(), a.ID, 9)
	noErr(t, "KeyLog(from 9)", err)
	if len(log) != 0 {
		t.Errorf("KeyLog(from 9) = %+v, want none", log)
	}
}

func testInvites(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := T0.Add(time.Hour)
	noErr(t, "CreateInvite", s.CreateInvite(ctx, "code-a", exp))
	noErr(t, "CreateInvite", s.CreateInvite(ctx, "code-b", exp))
	noErr(t, "CreateInvite", s.CreateInvite(ctx, "code-c", exp))

	noErr(t, "UseInvite", s.UseInvite(ctx, "code-a", T0))
	wantErr(t, "UseInvite(used)", s.UseInvite(ctx, "code-a", T0), store.ErrInviteInvalid)
	wantErr(t, "UseInvite(unknown)", s.UseInvite(ctx, "code-z", T0), store.ErrInviteInvalid)
	wantErr(t, "UseInvite(expired)", s.UseInvite(ctx, "code-b", exp.Add(time.Nanosecond)), store.ErrInviteInvalid)
	noErr(t, "UseInvite(at expiry)", s.UseInvite(ctx, "code-c", exp))
}

// testInviteRegistration: the invite is consumed in the account's
// transaction: a refused account leaves it unused, a refused invite
// creates nothing.
func testInviteRegistration(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := T0.Add(time.Hour)
	noErr(t, "CreateInvite", s.CreateInvite(ctx, "code-a", exp))
	account(t, s, "alice")
	newAccount := func(name string) (store.Account, store.Device) {
		a := store.Account{ID: "acct-" + name, Handle: "@" + name, CreatedAt: T0}
		return a, store.Device{ID: "dev-" + name, AccountID: a.ID, SigningKey: []byte("k-" + name), Primary: true, AddedAt: T0}
	}

	a, d := newAccount("alice")
	d.ID, a.ID = "dev-alice-2", "acct-alice-2"
	err := s.CreateAccountWithInvite(ctx, a, d, logEntry(a.ID, 0), "code-a", T0)
	wantErr(t, "CreateAccountWithInvite(handle taken)", err, store.ErrHandleTaken)
	for _, bad := range []struct {
		code string
		at   time.Time
	}{{"code-z", T0}, {"code-a", exp.Add(time.Nanosecond)}} {
		b, bd := newAccount("bob")
		err = s.CreateAccountWithInvite(ctx, b, bd, logEntry(b.ID, 0), bad.code, bad.at)
		wantErr(t, "CreateAccountWithInvite(invalid invite)", err, store.ErrInviteInvalid)
		_, err = s.AccountByID(ctx, b.ID)
		wantErr(t, "AccountByID(refused)", err, store.ErrNotFound)
		_, err = s.Device(ctx, bd.ID)
		wantErr(t, "Device(refused)", err, store.ErrNotFound)
	}
	b, bd := newAccount("bob")
	noErr(t, "CreateAccountWithInvite", s.CreateAccountWithInvite(ctx, b, bd, logEntry(b.ID, 0), "code-a", T0))
	if _, err := s.AccountByHandle(ctx, "@bob"); err != nil {
		t.Errorf("@bob not created: %v", err)
	}
	c, cd := newAccount("carol")
	err = s.CreateAccountWithInvite(ctx, c, cd, logEntry(c.ID, 0), "code-a", T0)
	wantErr(t, "CreateAccountWithInvite(invite used)", err, store.ErrInviteInvalid)
}

// testDeviceExists: registering a device id twice is ErrExists, whether
// as a new account's primary or as a linked device.
func testDeviceExists(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, d := account(t, s, "alice")
	other := store.Account{ID: "acct-other", Handle: "@other", CreatedAt: T0}
	err := s.CreateAccount(ctx, other, store.Device{ID: d.ID, AccountID: other.ID, SigningKey: d.SigningKey, Primary: true, AddedAt: T0}, logEntry(other.ID, 0))
	wantErr(t, "CreateAccount(device registered)", err, store.ErrExists)
	err = s.CreateAccount(ctx, store.Account{ID: a.ID, Handle: "@alice2", CreatedAt: T0},
		store.Device{ID: "dev-new", AccountID: a.ID, SigningKey: []byte("k"), Primary: true, AddedAt: T0}, logEntry(a.ID, 0))
	wantErr(t, "CreateAccount(account id registered)", err, store.ErrExists)
	b, _ := account(t, s, "bob")
	err = s.AddDevice(ctx, store.Device{ID: d.ID, AccountID: b.ID, SigningKey: d.SigningKey, AddedAt: T0}, logEntry(b.ID, 1), proto.MaxDevicesPerAccount)
	wantErr(t, "AddDevice(device registered)", err, store.ErrExists)
	if log, _ := s.KeyLog(ctx, b.ID, 0); len(log) != 1 {
		t.Errorf("refused AddDevice left %d key-log entries, want 1", len(log))
	}
}

func testLinkRequests(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := store.LinkRequest{Code: "123-456", DeviceID: "dev-new", SigningKey: []byte("new-key"), Name: "tablet", ExpiresAt: T0.Add(proto.LinkCodeTTL)}
	noErr(t, "PutLinkRequest", s.PutLinkRequest(ctx, r, T0))
	// A live request keeps its code; another device gets ErrExists (and
	// tries another code).
	other := store.LinkRequest{Code: r.Code, DeviceID: "dev-other", SigningKey: []byte("other-key"), ExpiresAt: T0.Add(2 * proto.LinkCodeTTL)}
	wantErr(t, "PutLinkRequest(code in use)", s.PutLinkRequest(ctx, other, r.ExpiresAt), store.ErrExists)

	got, err := s.LinkRequest(ctx, r.Code, T0)
	noErr(t, "LinkRequest", err)
	if got.Code != r.Code || got.DeviceID != r.DeviceID || !bytes.Equal(got.SigningKey, r.SigningKey) || got.Name != r.Name || !got.ExpiresAt.Equal(r.ExpiresAt) {
		t.Errorf("LinkRequest = %+v, want %+v", got, r)
	}
	_, err = s.LinkRequest(ctx, r.Code, r.ExpiresAt)
	noErr(t, "LinkRequest(at expiry)", err)
	_, err = s.LinkRequest(ctx, r.Code, r.ExpiresAt.Add(time.Nanosecond))
	wantErr(t, "LinkRequest(expired)", err, store.ErrExpired)
	_, err = s.LinkRequest(ctx, "000-000", T0)
	wantErr(t, "LinkRequest(unknown)", err, store.ErrNotFound)

	// Once expired (and not yet swept), the code is free again.
	noErr(t, "PutLinkRequest(over an expired one)", s.PutLinkRequest(ctx, other, r.ExpiresAt.Add(time.Nanosecond)))
	if got, err := s.LinkRequest(ctx, r.Code, r.ExpiresAt.Add(time.Nanosecond)); err != nil || got.DeviceID != "dev-other" {
		t.Errorf("LinkRequest after the takeover = %+v, %v; want dev-other's", got, err)
	}

	noErr(t, "DeleteLinkRequest", s.DeleteLinkRequest(ctx, r.Code))
	_, err = s.LinkRequest(ctx, r.Code, T0)
	wantErr(t, "LinkRequest(deleted)", err, store.ErrNotFound)
	noErr(t, "DeleteLinkRequest(absent)", s.DeleteLinkRequest(ctx, r.Code))
}
