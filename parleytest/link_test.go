package parleytest

import (
	"errors"
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
)

// TestLinkApproveChecksDevice: the primary approves only the device the
// user names (the id the new device shows); a code that leads to another
// device — as when the server puts its own key behind the code — is
// refused and nothing is signed into the key log.
func TestLinkApproveChecksDevice(t *testing.T) {
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	ctx := Ctx(t)
	newDev := NewDevice(t, srv, alice.Handle, WithOptions(func(o *client.Options) { o.DeviceName = "tablet" }))
	link, err := newDev.LinkBegin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if link.DeviceID != newDev.DeviceID() {
		t.Fatalf("the link shows device %s, the device is %s", link.DeviceID, newDev.DeviceID())
	}

	// What the primary would show the user to compare.
	dev, err := alice.LinkLookup(ctx, link.Code)
	if err != nil || dev.ID != link.DeviceID || dev.Name != "tablet" {
		t.Fatalf("LinkLookup = %+v, %v", dev, err)
	}
	// The server's substitute (or whoever saw the code) is not what the
	// user expects: refused.
	impostor := NewDevice(t, srv, alice.Handle)
	if _, err := alice.LinkApprove(ctx, link.Code, impostor.DeviceID()); !errors.Is(err, client.ErrLinkMismatch) {
		t.Fatalf("approving a code that leads to another device: %v, want ErrLinkMismatch", err)
	}
	if _, err := alice.LinkApprove(ctx, link.Code, ""); codeOf(err) != proto.Code_BAD_REQUEST {
		t.Fatalf("approving without a device id: %v, want BAD_REQUEST", err)
	}
	if devs, err := alice.Devices(ctx); err != nil || len(devs) != 1 {
		t.Fatalf("after refused approvals the account has %d devices (%v), want 1", len(devs), err)
	}

	waited := make(chan error, 1)
	go func() { waited <- link.Wait(ctx) }()
	if _, err := alice.LinkApprove(ctx, link.Code, link.DeviceID); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if devs, err := alice.Devices(ctx); err != nil || len(devs) != 2 {
		t.Fatalf("after the approval the account has %d devices (%v), want 2", len(devs), err)
	}
}
