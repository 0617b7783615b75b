package parleytest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/identity"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

// TestForgedKeyLogEntry: the server's store gains a key-log entry the
// account's primary never signed — it chains correctly onto the real log
// and adds a device of the server's choosing, as a compromised server
// would write it. Devices that trusted the account before refuse it, warn,
// and send nothing there.
func TestForgedKeyLogEntry(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := NewServer(t, WithConfig(func(c *server.Config) { c.Store = st }))
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	sendAll(t, alice, "@bob", "before the forgery", bob) // alice trusts bob's log now

	// The forged entry: bob's current list plus a device whose key the
	// server holds, signed by a key that is not bob's primary.
	bobID := bob.Self().AccountID
	log, err := st.KeyLog(ctx, bobID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var head proto.KeyLogEntry
	if err := gproto.Unmarshal(log[len(log)-1].Entry, &head); err != nil {
		t.Fatal(err)
	}
	list, err := identity.ParseDeviceList(head.DeviceList)
	if err != nil {
		t.Fatal(err)
	}
	evilPub, evilKey, _ := ed25519.GenerateKey(rand.Reader)
	evil := &proto.Device{DeviceId: identity.DeviceID(evilPub), SigningKey: evilPub, Name: "bob's new phone", AddedMs: time.Now().UnixMilli()}
	list.Version++
	list.Devices = append(list.Devices, evil)
	signed, err := identity.SignDeviceList(evilKey, list)
	if err != nil {
		t.Fatal(err)
	}
	forged := &proto.KeyLogEntry{Index: head.Index + 1, PrevHash: identity.EntryHash(&head), DeviceList: signed, TimeMs: time.Now().UnixMilli()}
	raw, err := gproto.Marshal(forged)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddDevice(ctx, store.Device{ID: evil.DeviceId, AccountID: bobID, SigningKey: evilPub, Name: evil.Name, AddedAt: time.Now()},
		store.LogEntry{AccountID: bobID, Index: forged.Index, Entry: raw}, proto.MaxDevicesPerAccount); err != nil {
		t.Fatalf("writing the forged entry: %v", err)
	}

	if _, err := alice.SafetyNumber(Ctx(t), "@bob"); !errors.Is(err, client.ErrKeyLog) {
		t.Fatalf("safety number over a forged log: %v, want ErrKeyLog", err)
	}
	kc := WaitEvent(t, alice, func(e client.KeyChangeEvent) bool { return e.Err != nil })
	if kc.Handle != "@bob" {
		t.Fatalf("warning for %q", kc.Handle)
	}
	if _, err := alice.Send(Ctx(t), "@bob", "must not go out"); !errors.Is(err, client.ErrKeyLog) {
		t.Fatalf("send to an account with a forged log: %v, want ErrKeyLog", err)
	}
	// A device that never saw bob's log before cannot tell a forged
	// entry either: the chain must verify from the first entry.
	carol := NewClient(t, srv, "@carol")
	if _, err := carol.SafetyNumber(Ctx(t), "@bob"); !errors.Is(err, client.ErrKeyLog) {
		t.Fatalf("first look at a forged log: %v, want ErrKeyLog", err)
	}
}
