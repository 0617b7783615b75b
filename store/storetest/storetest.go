// Package storetest is the conformance suite every store.Store passes:
// store/sqlite and store/postgres run the same Run, so the server sees one
// behaviour whichever store it is given.
//
// The suite passes times explicitly (fixed instants from T0), as the server
// does from its injected clock, and asserts behaviour through the public
// interface only.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/store"
)

// T0 is the suite's "now"; every time is an offset from it.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs every conformance test. open must return a fresh, empty store
// for each call; Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateAccount", testCreateAccount},
		{"HandleTaken", testHandleTaken},
		{"FirstLogEntryIndex", testFirstLogEntryIndex},
		{"AddDevice", testAddDevice},
		{"DeviceLimit", testDeviceLimit},
		{"RevokeDevice", testRevokeDevice},
		{"RevokeErrors", testRevokeErrors},
		{"KeyLogFrom", testKeyLogFrom},
		{"KeyPackages", testKeyPackages},
		{"KeyPackageLimit", testKeyPackageLimit},
		{"LastResort", testLastResort},
		{"ConcurrentClaims", testConcurrentClaims},
		{"KeyPackageExpiry", testKeyPackageExpiry},
		{"DeviceAuth", testDeviceAuth},
		{"KeyPackageUnknownLifetime", testKeyPackageUnknownLifetime},
		{"Invites", testInvites},
		{"InviteRegistration", testInviteRegistration},
		{"DeviceExists", testDeviceExists},
		{"LinkRequests", testLinkRequests},
		{"Deliver", testDeliver},
		{"DeliverSeqAfterAck", testDeliverSeqAfterAck},
		{"DeliverSenderOrder", testDeliverSenderOrder},
		{"DeliverDuplicates", testDeliverDuplicates},
		{"DeliverBatchFailure", testDeliverBatchFailure},
		{"DeliverConcurrent", testDeliverConcurrent},
		{"DeliverLargeBatch", testDeliverLargeBatch},
		{"Fetch", testFetch},
		{"Ack", testAck},
		{"AckAll", testAckAll},
		{"DeliverAndAck", testDeliverAndAck},
		{"Expire", testExpire},
		{"ExpireBacklog", testExpireBacklog},
		{"CreateGroup", testCreateGroup},
		{"CommitMembership", testCommitMembership},
		{"CommitConflict", testCommitConflict},
		{"CommitErrors", testCommitErrors},
		{"CommitRepeated", testCommitRepeated},
		{"ConcurrentCommits", testConcurrentCommits},
		{"Contacts", testContacts},
		{"Blocks", testBlocks},
		{"Presence", testPresence},
	}
	tests = append(tests, channelTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// account creates @name with its primary device "dev-name-0".
func account(t *testing.T, s store.Store, name string) (store.Account, store.Device) {
	t.Helper()
	a := store.Account{ID: "acct-" + name, Handle: "@" + name, CreatedAt: T0, Presence: int32(proto.PresenceVisibility_CONTACTS)}
	d := store.Device{ID: "dev-" + name + "-0", AccountID: a.ID, SigningKey: []byte("key-" + name + "-0"), Name: "phone", Primary: true, AddedAt: T0}
	if err := s.CreateAccount(t.Context(), a, d, logEntry(a.ID, 0)); err != nil {
		t.Fatalf("CreateAccount(%s): %v", a.Handle, err)
	}
	return a, d
}

// linkDevice adds device number n to the account as its next log entry.
func linkDevice(t *testing.T, s store.Store, a store.Account, n int) store.Device {
	t.Helper()
	d := linked(a, n)
	if err := s.AddDevice(t.Context(), d, logEntry(a.ID, nextIndex(t, s, a.ID)), proto.MaxDevicesPerAccount); err != nil {
		t.Fatalf("AddDevice(%s): %v", d.ID, err)
	}
	return d
}

func linked(a store.Account, n int) store.Device {
	name := strings.TrimPrefix(a.Handle, "@")
	return store.Device{
		ID: fmt.Sprintf("dev-%s-%d", name, n), AccountID: a.ID, SigningKey: []byte(fmt.Sprintf("key-%s-%d", name, n)),
		Name: fmt.Sprintf("laptop %d", n), AddedAt: T0.Add(time.Duration(n) * time.Minute),
	}
}

func nextIndex(t *testing.T, s store.Store, accountID string) uint64 {
	t.Helper()
	log, err := s.KeyLog(t.Context(), accountID, 0)
	if err != nil {
		t.Fatalf("KeyLog: %v", err)
	}
	return uint64(len(log))
}

func logEntry(accountID string, i uint64) store.LogEntry {
	return store.LogEntry{AccountID: accountID, Index: i, Entry: []byte(fmt.Sprintf("entry %s #%d", accountID, i))}
}

// msgID is a distinct 16-byte message id.
func msgID(n int) []byte {
	id := make([]byte, proto.MessageIDBytes)
	copy(id, fmt.Sprintf("m%015d", n))
	return id
}

// mail is an envelope for device, expiring a mailbox TTL after T0.
func mail(device, envelope string) store.Mail {
	return store.Mail{DeviceID: device, Envelope: []byte(envelope), Expires: T0.Add(proto.MailboxTTL)}
}

func sub(sender string, id int, mails ...store.Mail) store.Submission {
	return store.Submission{SenderDevice: sender, MessageID: msgID(id), Mail: mails, At: T0}
}

// deliver runs Deliver and fails the test on a batch failure.
func deliver(t *testing.T, s store.Store, subs ...store.Submission) []error {
	t.Helper()
	errs, err := s.Deliver(t.Context(), subs)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if len(errs) != len(subs) {
		t.Fatalf("Deliver returned %d results for %d submissions", len(errs), len(subs))
	}
	return errs
}

func fetchAll(t *testing.T, s store.Store, device string) []store.Mail {
	t.Helper()
	ms, err := s.Fetch(t.Context(), device, 0, 1000, T0)
	if err != nil {
		t.Fatalf("Fetch(%s): %v", device, err)
	}
	return ms
}

func envelopes(ms []store.Mail) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Envelope)
	}
	return out
}

func depth(t *testing.T, s store.Store, device string) (int, uint64) {
	t.Helper()
	n, last, err := s.MailboxDepth(t.Context(), device)
	if err != nil {
		t.Fatalf("MailboxDepth(%s): %v", device, err)
	}
	return n, last
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalBytes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
