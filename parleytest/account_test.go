package parleytest

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
)

func codeOf(err error) proto.Code {
	var pe *proto.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return -1
}

func TestRegisterHandles(t *testing.T) {
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	self := alice.Self()
	if self.Handle != "@alice" || !self.Primary || self.DeviceID != alice.DeviceID() {
		t.Fatalf("Self = %+v", self)
	}
	devs, err := alice.Devices(Ctx(t))
	if err != nil || len(devs) != 1 || !devs[0].Primary || !devs[0].This {
		t.Fatalf("Devices = %+v, %v", devs, err)
	}

	for _, tc := range []struct {
		handle string
		code   proto.Code
	}{
		{"@Alice", proto.Code_ALREADY_EXISTS}, // handles are case-insensitive
		{"alice2", proto.Code_INVALID_HANDLE},
		{"@x", proto.Code_INVALID_HANDLE},
		{"@9lives", proto.Code_INVALID_HANDLE},
	} {
		c, err := client.Dial(Ctx(t), client.Options{Profile: filepath.Join(t.TempDir(), "p"), Server: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Register(Ctx(t), tc.handle)
		c.Close()
		if codeOf(err) != tc.code {
			t.Errorf("register %s: %v, want %v", tc.handle, err, tc.code)
		}
	}

	// The profile remembers the account and the server across restarts.
	alice.Reopen()
	if alice.Self() != self {
		t.Fatalf("after reopen Self = %+v, want %+v", alice.Self(), self)
	}
	if err := alice.Register(Ctx(t), "@other"); !errors.Is(err, client.ErrRegistered) {
		t.Fatalf("second register on one profile: %v", err)
	}
}

func TestUnknownHandle(t *testing.T) {
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	if _, err := alice.SafetyNumber(Ctx(t), "@nobody"); codeOf(err) != proto.Code_NOT_FOUND {
		t.Fatalf("safety number of an unknown handle: %v, want NOT_FOUND", err)
	}
	if _, err := alice.Send(Ctx(t), "@nobody", "hi"); codeOf(err) != proto.Code_NOT_FOUND {
		t.Fatalf("send to an unknown handle: %v, want NOT_FOUND", err)
	}
}

func TestSafetyNumberMatches(t *testing.T) {
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	a, err := alice.SafetyNumber(Ctx(t), "@bob")
	if err != nil {
		t.Fatal(err)
	}
	b, err := bob.SafetyNumber(Ctx(t), "@alice")
	if err != nil {
		t.Fatal(err)
	}
	if a != b || len(a) < 60 {
		t.Fatalf("safety numbers differ or are short: %q vs %q", a, b)
	}
}

// TestLinkRevokeDeviceList links a second device, sees it in both
// devices' lists and as a key change at a peer, then revokes it.
func TestLinkRevokeDeviceList(t *testing.T) {
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	if _, err := bob.SafetyNumber(Ctx(t), "@alice"); err != nil { // bob trusts alice's first head
		t.Fatal(err)
	}
	alice2 := LinkDevice(t, alice)
	if s := alice2.Self(); s.AccountID != alice.Self().AccountID || s.Primary {
		t.Fatalf("linked device Self = %+v", s)
	}
	for _, c := range []*Client{alice, alice2} {
		devs, err := c.Devices(Ctx(t))
		if err != nil || len(devs) != 2 {
			t.Fatalf("Devices = %+v, %v", devs, err)
		}
	}
	// A linked device may not approve or revoke.
	if err := alice2.RevokeDevice(Ctx(t), alice.DeviceID()); codeOf(err) != proto.Code_FORBIDDEN {
		t.Fatalf("revoke from a linked device: %v", err)
	}

	// Bob notices the new device the next time he verifies alice's keys.
	if _, err := bob.SafetyNumber(Ctx(t), "@alice"); err != nil {
		t.Fatal(err)
	}
	kc := WaitEvent(t, bob, func(e client.KeyChangeEvent) bool { return e.Handle == "@alice" })
	if kc.Err != nil || len(kc.Added) != 1 || kc.Added[0] != alice2.DeviceID() {
		t.Fatalf("key change = %+v", kc)
	}

	if err := alice.RevokeDevice(Ctx(t), alice2.DeviceID()); err != nil {
		t.Fatal(err)
	}
	WaitEvent(t, alice2, func(e client.DeviceEvent) bool { return e.Self })
	if err := alice2.WaitConnected(Ctx(t)); !errors.Is(err, client.ErrRevoked) {
		t.Fatalf("revoked device still connects: %v", err)
	}
	devs, err := alice.Devices(Ctx(t))
	if err != nil || len(devs) != 1 {
		t.Fatalf("after revoke Devices = %+v, %v", devs, err)
	}
}

func TestPresencePrivacy(t *testing.T) {
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	ctx := Ctx(t)
	p, err := alice.Presence(ctx, "@bob")
	if err != nil || !p.Visible || !p.Online {
		t.Fatalf("default presence of a connected account: %+v, %v", p, err)
	}
	if err := bob.SetPresenceVisibility(ctx, proto.PresenceVisibility_NOBODY); err != nil {
		t.Fatal(err)
	}
	if p, _ := alice.Presence(ctx, "@bob"); p.Visible || p.Online {
		t.Fatalf("presence under NOBODY: %+v", p)
	}
	if err := bob.SetPresenceVisibility(ctx, proto.PresenceVisibility_CONTACTS); err != nil {
		t.Fatal(err)
	}
	if p, _ := alice.Presence(ctx, "@bob"); p.Visible {
		t.Fatalf("presence under CONTACTS to a non-contact: %+v", p)
	}
	if err := bob.SetContact(ctx, "@alice", true); err != nil {
		t.Fatal(err)
	}
	if p, _ := alice.Presence(ctx, "@bob"); !p.Visible || !p.Online {
		t.Fatalf("presence under CONTACTS to a contact: %+v", p)
	}
	if cs, _ := bob.Contacts(ctx); len(cs) != 1 || cs[0].Handle != "@alice" {
		t.Fatalf("contacts = %+v", cs)
	}
	if err := bob.SetBlocked(ctx, "@alice", true); err != nil {
		t.Fatal(err)
	}
	if p, _ := alice.Presence(ctx, "@bob"); p.Visible {
		t.Fatalf("presence to a blocked account: %+v", p)
	}
}

var _ = context.Background
