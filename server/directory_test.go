package server_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/identity"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server"
)

func TestHandleRules(t *testing.T) {
	ts := startServer(t)
	register(t, ts, "@alice")
	for _, tc := range []struct {
		handle string
		want   proto.Code
	}{
		{"alice2", proto.Code_INVALID_HANDLE},                                    // no @
		{"@al", proto.Code_INVALID_HANDLE},                                       // too short
		{"@1alice", proto.Code_INVALID_HANDLE},                                   // starts with a digit
		{"@al ice", proto.Code_INVALID_HANDLE},                                   // space
		{"@al..ice", proto.Code_INVALID_HANDLE},                                  // double dot
		{"@" + string(bytes.Repeat([]byte("a"), 31)), proto.Code_INVALID_HANDLE}, // too long
		{"@alice", proto.Code_ALREADY_EXISTS},
		{"@ALICE", proto.Code_ALREADY_EXISTS}, // handles are case-insensitive
	} {
		t.Run(tc.handle, func(t *testing.T) {
			c := dial(t, ts)
			c.expectCode(c.registerReq(tc.handle), tc.want)
			// A failed registration leaves the connection usable.
			c.mustCall(c.registerReq(fmt.Sprintf("@user%d", time.Now().UnixNano()%1e9)))
		})
	}
}

func TestRegisterChecksTheDeviceList(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts)
	req := c.registerReq("@alice")
	// Signed by another key.
	other := dial(t, ts)
	other.newKey()
	bad := c.registerReq("@alice")
	bad.GetRegister().DeviceList = other.registerReq("@alice").GetRegister().DeviceList
	c.expectCode(bad, proto.Code_BAD_REQUEST) // its primary is not this device
	// Tampered after signing.
	tampered := gproto.Clone(req).(*proto.Request)
	tampered.GetRegister().DeviceList.List = append([]byte(nil), req.GetRegister().DeviceList.List...)
	tampered.GetRegister().DeviceList.Signature[0] ^= 1
	c.expectCode(tampered, proto.Code_BAD_SIGNATURE)
	c.mustCall(c.registerReq("@alice"))
}

func TestRegistrationPolicies(t *testing.T) {
	t.Run("closed", func(t *testing.T) {
		ts := startServer(t, func(c *server.Config) { c.Registration = "closed" })
		c := dial(t, ts)
		c.expectCode(c.registerReq("@alice"), proto.Code_REGISTRATION_CLOSED)
	})
	t.Run("invite", func(t *testing.T) {
		ts := startServer(t, func(c *server.Config) { c.Registration = "invite" })
		c := dial(t, ts)
		c.expectCode(c.registerReq("@alice"), proto.Code_INVALID_INVITE)
		req := c.registerReq("@alice")
		req.GetRegister().InviteCode = "nonsense"
		c.expectCode(req, proto.Code_INVALID_INVITE)

		code := createInvite(t, ts)
		req = c.registerReq("@alice")
		req.GetRegister().InviteCode = code
		c.mustCall(req)
		// Single use.
		d := dial(t, ts)
		req = d.registerReq("@bob")
		req.GetRegister().InviteCode = code
		d.expectCode(req, proto.Code_INVALID_INVITE)
	})
}

// TestRegistrationRaces: registrations racing for one key or one handle
// are answered ALREADY_EXISTS (never INTERNAL), and a registration that
// loses keeps its invite code.
func TestRegistrationRaces(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.Registration = "invite" })
	const racers = 4
	for round := range 3 {
		conns := make([]*client, racers)
		ids := make([]uint64, racers)
		codes := make([]string, racers)
		for i := range conns {
			conns[i] = dial(t, ts)
			codes[i] = createInvite(t, ts)
		}
		// Round 0: one key on every connection; later rounds: one handle
		// for different keys.
		conns[0].newKey()
		handle := fmt.Sprintf("@race%d", round)
		for i, c := range conns {
			if round == 0 {
				c.pub, c.priv = conns[0].pub, conns[0].priv
			}
			req := c.registerReq(handle)
			req.GetRegister().InviteCode = codes[i]
			ids[i] = c.send(req)
		}
		won := -1
		for i, c := range conns {
			switch r := c.response(ids[i]); r.Code {
			case proto.Code_OK:
				if won >= 0 {
					t.Fatalf("round %d: registrations %d and %d both succeeded", round, won, i)
				}
				won = i
			case proto.Code_ALREADY_EXISTS:
			default:
				t.Fatalf("round %d: racer %d got %v %q, want OK or ALREADY_EXISTS", round, i, r.Code, r.Message)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no registration succeeded", round)
		}
		// Every loser's invite is still good.
		for i, code := range codes {
			if i == won {
				continue
			}
			c := dial(t, ts)
			req := c.registerReq(fmt.Sprintf("@after%d_%d", round, i))
			req.GetRegister().InviteCode = code
			c.mustCall(req)
		}
	}
}

func fetchKeys(t *testing.T, c *client, handle string) *proto.KeysResult {
	t.Helper()
	r := c.mustCall(&proto.Request{Body: &proto.Request_FetchKeys{FetchKeys: &proto.FetchKeys{Handle: handle}}})
	return r.GetKeys()
}

// currentList returns the verified device list of c's account.
func currentList(t *testing.T, c *client) *proto.DeviceList {
	t.Helper()
	keys := fetchKeys(t, c, c.auth.Handle)
	head, err := identity.VerifyLog(keys.AccountId, keys.Log, nil)
	if err != nil {
		t.Fatalf("key log does not verify: %v", err)
	}
	return head.List
}

// link links a new device to primary's account through the whole flow
// and returns it authenticated on the connection it linked on.
func link(t *testing.T, ts *testServer, primary *client) *client {
	t.Helper()
	n := dial(t, ts)
	n.newKey()
	r := n.mustCall(&proto.Request{Body: &proto.Request_LinkBegin{LinkBegin: &proto.LinkBegin{
		SigningKey: n.pub, DeviceName: "phone", Signature: n.sign(), ProtocolVersion: proto.ProtocolVersion,
	}}})
	code := r.GetLinkCode().Code
	if len(code) != 8 {
		t.Fatalf("link code %q", code)
	}
	pending := primary.mustCall(&proto.Request{Body: &proto.Request_LinkLookup{LinkLookup: &proto.LinkLookup{Code: code[:4] + "-" + code[4:]}}}).GetLinkPending()
	if pending.DeviceId != n.deviceID() || !bytes.Equal(pending.SigningKey, n.pub) || pending.DeviceName != "phone" {
		t.Fatalf("pending link %v", pending)
	}
	list := currentList(t, primary)
	list.Version++
	list.Devices = append(list.Devices, &proto.Device{DeviceId: pending.DeviceId, SigningKey: pending.SigningKey, Name: pending.DeviceName})
	signed, err := identity.SignDeviceList(primary.priv, list)
	if err != nil {
		t.Fatal(err)
	}
	primary.mustCall(&proto.Request{Body: &proto.Request_LinkApprove{LinkApprove: &proto.LinkApprove{Code: code, DeviceList: signed}}})
	ev := n.event()
	if la := ev.GetLinkApproved(); la == nil || la.DeviceId != n.deviceID() || la.AccountId != primary.auth.AccountId {
		t.Fatalf("waiting device got %v, want LinkApproved", ev)
	}
	n.auth = n.mustCall(n.authReq()).GetAuth()
	if n.auth.Primary || n.auth.AccountId != primary.auth.AccountId {
		t.Fatalf("linked device authenticated as %v", n.auth)
	}
	return n
}

func revokeReq(t *testing.T, primary *client, deviceID string) *proto.Request {
	t.Helper()
	list := currentList(t, primary)
	list.Version++
	kept := list.Devices[:0]
	for _, d := range list.Devices {
		if d.DeviceId != deviceID {
			kept = append(kept, d)
		}
	}
	list.Devices = kept
	signed, err := identity.SignDeviceList(primary.priv, list)
	if err != nil {
		t.Fatal(err)
	}
	return &proto.Request{Body: &proto.Request_RevokeDevice{RevokeDevice: &proto.RevokeDevice{DeviceId: deviceID, DeviceList: signed}}}
}

func TestLinkAndKeyLog(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	phone := link(t, ts, alice)
	// Anyone can fetch and verify the log; it names both devices.
	bob := register(t, ts, "@bob")
	keys := fetchKeys(t, bob, "@Alice")
	head, err := identity.VerifyLog(keys.AccountId, keys.Log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if head.Index != 1 || len(head.List.Devices) != 2 {
		t.Fatalf("head %d with %d devices, want index 1 with 2", head.Index, len(head.List.Devices))
	}
	// Incremental fetch from the trusted head verifies too.
	more := bob.mustCall(&proto.Request{Body: &proto.Request_FetchKeys{FetchKeys: &proto.FetchKeys{AccountId: keys.AccountId, FromIndex: 1}}}).GetKeys()
	if _, err := identity.VerifyLog(keys.AccountId, more.Log, head); err != nil {
		t.Fatalf("incremental log: %v", err)
	}
	// Only the primary manages devices.
	phone.expectCode(&proto.Request{Body: &proto.Request_LinkLookup{LinkLookup: &proto.LinkLookup{Code: "12345678"}}}, proto.Code_FORBIDDEN)
	alice.expectCode(&proto.Request{Body: &proto.Request_LinkLookup{LinkLookup: &proto.LinkLookup{Code: "00000000"}}}, proto.Code_NOT_FOUND)
	bob.expectCode(&proto.Request{Body: &proto.Request_FetchKeys{FetchKeys: &proto.FetchKeys{Handle: "@nobody"}}}, proto.Code_NOT_FOUND)
	bob.expectCode(&proto.Request{Body: &proto.Request_FetchKeys{FetchKeys: &proto.FetchKeys{Handle: "nobody"}}}, proto.Code_INVALID_HANDLE)
}

func TestLinkApproveChecksTheList(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	n := dial(t, ts)
	n.newKey()
	code := n.mustCall(&proto.Request{Body: &proto.Request_LinkBegin{LinkBegin: &proto.LinkBegin{
		SigningKey: n.pub, Signature: n.sign(), ProtocolVersion: proto.ProtocolVersion,
	}}}).GetLinkCode().Code
	// While waiting, only Ping and Authenticate are allowed.
	n.mustCall(ping)
	n.expectCode(&proto.Request{Body: &proto.Request_FetchKeys{FetchKeys: &proto.FetchKeys{Handle: "@alice"}}}, proto.Code_UNAUTHENTICATED)

	list := currentList(t, alice)
	approve := func(l *proto.DeviceList) *proto.Request {
		signed, err := identity.SignDeviceList(alice.priv, l)
		if err != nil {
			t.Fatal(err)
		}
		return &proto.Request{Body: &proto.Request_LinkApprove{LinkApprove: &proto.LinkApprove{Code: code, DeviceList: signed}}}
	}
	// Same version: someone else's change would be overwritten.
	same := gproto.Clone(list).(*proto.DeviceList)
	same.Devices = append(same.Devices, &proto.Device{DeviceId: n.deviceID(), SigningKey: n.pub})
	alice.expectCode(approve(same), proto.Code_CONFLICT)
	// A device other than the waiting one.
	other := dial(t, ts)
	other.newKey()
	wrong := gproto.Clone(list).(*proto.DeviceList)
	wrong.Version++
	wrong.Devices = append(wrong.Devices, &proto.Device{DeviceId: other.deviceID(), SigningKey: other.pub})
	alice.expectCode(approve(wrong), proto.Code_BAD_REQUEST)
	// Unchanged list.
	unchanged := gproto.Clone(list).(*proto.DeviceList)
	unchanged.Version++
	alice.expectCode(approve(unchanged), proto.Code_BAD_REQUEST)
}

func TestDeviceLimit(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	for range proto.MaxDevicesPerAccount - 1 {
		link(t, ts, alice)
	}
	n := dial(t, ts)
	n.newKey()
	code := n.mustCall(&proto.Request{Body: &proto.Request_LinkBegin{LinkBegin: &proto.LinkBegin{
		SigningKey: n.pub, Signature: n.sign(), ProtocolVersion: proto.ProtocolVersion,
	}}}).GetLinkCode().Code
	list := currentList(t, alice)
	list.Version++
	list.Devices = append(list.Devices, &proto.Device{DeviceId: n.deviceID(), SigningKey: n.pub})
	// The list itself is over the limit, so it is refused either as a
	// list or by the limit; both say what to do.
	signed, err := identity.SignDeviceList(alice.priv, list)
	if err != nil {
		signed = &proto.SignedDeviceList{List: []byte{}, Signature: []byte{}}
	}
	alice.expectCode(&proto.Request{Body: &proto.Request_LinkApprove{LinkApprove: &proto.LinkApprove{Code: code, DeviceList: signed}}}, proto.Code_DEVICE_LIMIT)
}

func TestRevokedDevice(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	phone := link(t, ts, alice)

	phone.expectCode(revokeReq(t, phone, alice.deviceID()), proto.Code_FORBIDDEN) // not the primary
	alice.expectCode(revokeReq(t, alice, alice.deviceID()), proto.Code_FORBIDDEN) // itself
	alice.mustCall(revokeReq(t, alice, phone.deviceID()))

	// Its live connection is cut.
	phone.expectClosed(proto.Code_DEVICE_REVOKED)
	// Reconnecting is refused, with the connection closed.
	again := dial(t, ts)
	again.pub, again.priv = phone.pub, phone.priv
	again.expectCode(again.authReq(), proto.Code_DEVICE_REVOKED)
	again.expectClosed(proto.Code_DEVICE_REVOKED)
	// The log records the removal.
	if l := currentList(t, alice); len(l.Devices) != 1 || l.Version != 3 {
		t.Fatalf("list after revoke: version %d, %d devices", l.Version, len(l.Devices))
	}
	alice.expectCode(revokeReq(t, alice, phone.deviceID()), proto.Code_NOT_FOUND)
}

func uploadKeyPackages(t *testing.T, c *client, n int, lastResort bool) {
	t.Helper()
	up := &proto.UploadKeyPackages{}
	for range n {
		up.OneTime = append(up.OneTime, c.keyPackageMsg(t, false))
	}
	if lastResort {
		up.LastResort = c.keyPackageMsg(t, true)
	}
	r := c.mustCall(&proto.Request{Body: &proto.Request_UploadKeyPackages{UploadKeyPackages: up}})
	if got := r.GetUpload().KeyPackagesLeft; n > 0 && got < uint32(n) {
		t.Fatalf("key packages left %d after uploading %d", got, n)
	}
}

func TestKeyPackageLimitsAndFallback(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	claim := &proto.Request{Body: &proto.Request_ClaimKeyPackages{ClaimKeyPackages: &proto.ClaimKeyPackages{AccountId: alice.auth.AccountId}}}
	bob.expectCode(claim, proto.Code_NO_KEY_PACKAGE)

	tooMany := &proto.UploadKeyPackages{OneTime: make([][]byte, proto.MaxKeyPackagesPerUpload+1)}
	alice.expectCode(&proto.Request{Body: &proto.Request_UploadKeyPackages{UploadKeyPackages: tooMany}}, proto.Code_TOO_LARGE)
	tooBig := &proto.UploadKeyPackages{OneTime: [][]byte{make([]byte, proto.MaxKeyPackageBytes+1)}}
	alice.expectCode(&proto.Request{Body: &proto.Request_UploadKeyPackages{UploadKeyPackages: tooBig}}, proto.Code_TOO_LARGE)

	uploadKeyPackages(t, alice, 1, true)
	first := bob.mustCall(claim).GetClaim().KeyPackages
	if len(first) != 1 || first[0].LastResort {
		t.Fatalf("first claim %v, want the one-time package", first)
	}
	for range 2 {
		kp := bob.mustCall(claim).GetClaim().KeyPackages
		if len(kp) != 1 || !kp[0].LastResort {
			t.Fatalf("claim after the one-time ones %v, want the last-resort package", kp)
		}
	}
	// Re-authenticating reports what is left.
	if again := alice.reconnect(ts); again.auth.KeyPackagesLeft != 0 {
		t.Fatalf("key_packages_left %d, want 0", again.auth.KeyPackagesLeft)
	}
}

func TestConcurrentKeyPackageClaims(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.RateBurst = 1000 })
	alice := register(t, ts, "@alice")
	const packages, claimers, each = 20, 8, 5
	uploadKeyPackages(t, alice, packages, true)

	var mu sync.Mutex
	seen := map[string]int{}
	lastResort := 0
	var wg sync.WaitGroup
	for i := range claimers {
		c := register(t, ts, fmt.Sprintf("@claimer%d", i))
		wg.Go(func() {
			for range each {
				id := c.send(&proto.Request{Body: &proto.Request_ClaimKeyPackages{ClaimKeyPackages: &proto.ClaimKeyPackages{AccountId: alice.auth.AccountId}}})
				_ = id
			}
			for id := uint64(0); id < each; id++ {
				r := c.response(c.nextID - each + 1 + id)
				if r.Code != proto.Code_OK {
					t.Errorf("claim: %v %q", r.Code, r.Message)
					return
				}
				mu.Lock()
				for _, kp := range r.GetClaim().KeyPackages {
					if kp.LastResort {
						lastResort++
					} else {
						seen[string(kp.KeyPackage)]++
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != packages {
		t.Fatalf("%d distinct one-time packages handed out, want %d", len(seen), packages)
	}
	for kp, n := range seen {
		if n != 1 {
			t.Fatalf("one-time package %q handed out %d times", kp, n)
		}
	}
	if lastResort != claimers*each-packages {
		t.Fatalf("%d last-resort answers, want %d", lastResort, claimers*each-packages)
	}
}

func TestContactsBlocksAndPresence(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.RateBurst = 100000 })
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	presence := func(c *client, of string) *proto.PresenceResult {
		t.Helper()
		return c.mustCall(&proto.Request{Body: &proto.Request_GetPresence{GetPresence: &proto.GetPresence{AccountId: of}}}).GetPresence()
	}
	if p := presence(bob, alice.auth.AccountId); !p.Visible || !p.Online {
		t.Fatalf("alice's presence to bob %v, want visible and online", p)
	}
	setVis := func(v proto.PresenceVisibility) {
		alice.mustCall(&proto.Request{Body: &proto.Request_SetPresenceVisibility{SetPresenceVisibility: &proto.SetPresenceVisibility{Visibility: v}}})
	}
	setVis(proto.PresenceVisibility_CONTACTS)
	if p := presence(bob, alice.auth.AccountId); p.Visible || p.Online {
		t.Fatalf("contacts-only presence to a non-contact %v", p)
	}
	alice.mustCall(&proto.Request{Body: &proto.Request_SetContact{SetContact: &proto.SetContact{AccountId: bob.auth.AccountId, Contact: true}}})
	if p := presence(bob, alice.auth.AccountId); !p.Visible {
		t.Fatalf("contacts-only presence to a contact %v", p)
	}
	setVis(proto.PresenceVisibility_NOBODY)
	if p := presence(bob, alice.auth.AccountId); p.Visible {
		t.Fatalf("hidden presence %v", p)
	}
	if p := presence(alice, alice.auth.AccountId); !p.Visible {
		t.Fatal("own presence hidden from oneself")
	}
	setVis(proto.PresenceVisibility_EVERYONE)
	alice.mustCall(&proto.Request{Body: &proto.Request_SetBlocked{SetBlocked: &proto.SetBlocked{AccountId: bob.auth.AccountId, Blocked: true}}})
	if p := presence(bob, alice.auth.AccountId); p.Visible {
		t.Fatalf("presence visible to a blocked account %v", p)
	}
	bob.expectCode(&proto.Request{Body: &proto.Request_ClaimKeyPackages{ClaimKeyPackages: &proto.ClaimKeyPackages{AccountId: alice.auth.AccountId}}}, proto.Code_BLOCKED)

	alice.expectCode(&proto.Request{Body: &proto.Request_SetBlocked{SetBlocked: &proto.SetBlocked{AccountId: "anobody"}}}, proto.Code_NOT_FOUND)
	alice.expectCode(&proto.Request{Body: &proto.Request_SetContact{SetContact: &proto.SetContact{AccountId: alice.auth.AccountId}}}, proto.Code_BAD_REQUEST)
	alice.expectCode(&proto.Request{Body: &proto.Request_SetPresenceVisibility{SetPresenceVisibility: &proto.SetPresenceVisibility{Visibility: 7}}}, proto.Code_BAD_REQUEST)

	// Last seen is recorded when the last connection closes.
	alice.mustCall(&proto.Request{Body: &proto.Request_SetBlocked{SetBlocked: &proto.SetBlocked{AccountId: bob.auth.AccountId, Blocked: false}}})
	alice.ws.CloseNow()
	waitFor(t, "alice offline with a last-seen time", func() bool {
		p := presence(bob, alice.auth.AccountId)
		return !p.Online && p.LastSeenMs > 0
	})
}

func TestLinkCodeExpiresWhileWaiting(t *testing.T) {
	ts := startServer(t, withFakeClock)
	alice := register(t, ts, "@alice")
	n := dial(t, ts)
	n.newKey()
	code := n.mustCall(&proto.Request{Body: &proto.Request_LinkBegin{LinkBegin: &proto.LinkBegin{
		SigningKey: n.pub, Signature: n.sign(), ProtocolVersion: proto.ProtocolVersion,
	}}}).GetLinkCode()
	if want := ts.clock.Now().Add(proto.LinkCodeTTL).UnixMilli(); code.ExpiresMs != want {
		t.Fatalf("expires_ms %d, want %d", code.ExpiresMs, want)
	}
	// The waiting device keeps its connection alive with pings (the
	// handshake timeout no longer applies) until the code expires.
	for range 10 {
		ts.clock.Advance(59 * time.Second)
		n.mustCall(ping)
		alice.mustCall(ping)
	}
	lookup := &proto.Request{Body: &proto.Request_LinkLookup{LinkLookup: &proto.LinkLookup{Code: code.Code}}}
	alice.mustCall(lookup) // 590 s: still valid
	ts.clock.Advance(11 * time.Second)
	n.expectClosed(proto.Code_EXPIRED)
	alice.expectCode(lookup, proto.Code_EXPIRED)
}

func TestKeyPackageUploadIsChecked(t *testing.T) {
	ts := startServer(t, withFakeClock)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	now := ts.clock.Now()
	upload := func(oneTime [][]byte, lastResort []byte) *proto.Request {
		return &proto.Request{Body: &proto.Request_UploadKeyPackages{UploadKeyPackages: &proto.UploadKeyPackages{OneTime: oneTime, LastResort: lastResort}}}
	}
	good := alice.keyPackage(false, now, 0).Message()
	for name, req := range map[string]*proto.Request{
		"not an MLS message":     upload([][]byte{good, []byte("kp-0")}, nil),
		"truncated":              upload([][]byte{good[:len(good)-1]}, nil),
		"another device's":       upload([][]byte{bob.keyPackage(false, now, 0).Message()}, nil),
		"already expired":        upload([][]byte{alice.keyPackage(false, now.Add(-3*time.Hour), 2*time.Hour).Message()}, nil),
		"not valid yet":          upload([][]byte{alice.keyPackage(false, now.Add(48*time.Hour), 0).Message()}, nil),
		"bad last-resort":        upload(nil, []byte("last")),
		"expired last-resort":    upload(nil, alice.keyPackage(true, now.Add(-3*time.Hour), 2*time.Hour).Message()),
		"last-resort of another": upload(nil, bob.keyPackage(true, now, 0).Message()),
	} {
		if r := alice.call(req); r.Code != proto.Code_BAD_REQUEST || r.Message == "" {
			t.Errorf("%s: %v %q, want BAD_REQUEST with a message", name, r.Code, r.Message)
		}
	}
	// Nothing of a refused upload was stored.
	claim := &proto.Request{Body: &proto.Request_ClaimKeyPackages{ClaimKeyPackages: &proto.ClaimKeyPackages{AccountId: alice.auth.AccountId}}}
	bob.expectCode(claim, proto.Code_NO_KEY_PACKAGE)
	if r := alice.mustCall(upload([][]byte{good}, nil)); r.GetUpload().KeyPackagesLeft != 1 {
		t.Fatalf("key packages left %d, want 1", r.GetUpload().KeyPackagesLeft)
	}
}

// TestExpiredKeyPackagesAreNotHandedOut: a package is handed out only
// within its lifetime; afterwards claims skip it, the last-resort one
// included, and the supply reported at authentication no longer counts it.
func TestExpiredKeyPackagesAreNotHandedOut(t *testing.T) {
	ts := startServer(t, withFakeClock)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	now := ts.clock.Now()
	// Valid for 3 h (NotAfter is backdated by mls.MaxClockSkew: 2 h from now),
	// and one valid for the default 90 days.
	short := func(last bool) []byte { return alice.keyPackage(last, now, 3*time.Hour).Message() }
	long := alice.keyPackage(false, now, 0).Message()
	alice.mustCall(&proto.Request{Body: &proto.Request_UploadKeyPackages{UploadKeyPackages: &proto.UploadKeyPackages{
		OneTime: [][]byte{short(false), short(false), long}, LastResort: short(true),
	}}})

	ts.clock.Advance(2*time.Hour + time.Second)
	bob = bob.reconnect(ts)
	claim := &proto.Request{Body: &proto.Request_ClaimKeyPackages{ClaimKeyPackages: &proto.ClaimKeyPackages{AccountId: alice.auth.AccountId}}}
	kps := bob.mustCall(claim).GetClaim().GetKeyPackages()
	if len(kps) != 1 || kps[0].LastResort || !bytes.Equal(kps[0].KeyPackage, long) {
		t.Fatalf("claim after the short-lived packages expired = %v, want the long-lived one", kps)
	}
	// The last-resort package expired too: nothing is left.
	bob.expectCode(claim, proto.Code_NO_KEY_PACKAGE)
	if again := alice.reconnect(ts); again.auth.KeyPackagesLeft != 0 {
		t.Fatalf("key_packages_left %d, want 0", again.auth.KeyPackagesLeft)
	}
}

// TestKeyPackageClaimsAreRateLimited: claims are limited per claiming
// account and per claimed account, answered RATE_LIMITED, and allowed
// again after the window; claiming one's own account counts against
// oneself only.
func TestKeyPackageClaimsAreRateLimited(t *testing.T) {
	const byAccount, ofAccount, window = 60, 100, 10 * time.Minute // server/directory/limits.go
	ts := startServer(t, withFakeClock, func(c *server.Config) { c.RateBurst = 1000 })
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	carol := register(t, ts, "@carol")
	dave := register(t, ts, "@dave")
	for _, c := range []*client{alice, bob} {
		c.mustCall(&proto.Request{Body: &proto.Request_UploadKeyPackages{UploadKeyPackages: &proto.UploadKeyPackages{
			LastResort: c.keyPackage(true, ts.clock.Now(), 0).Message()}}})
	}
	claimOf := func(c *client) *proto.Request {
		return &proto.Request{Body: &proto.Request_ClaimKeyPackages{ClaimKeyPackages: &proto.ClaimKeyPackages{AccountId: c.auth.AccountId}}}
	}
	// Alice claiming herself does not count against her as a target.
	for range 10 {
		alice.mustCall(claimOf(alice))
	}
	for range byAccount {
		bob.mustCall(claimOf(alice))
	}
	if r := bob.expectCode(claimOf(alice), proto.Code_RATE_LIMITED); r.Message == "" {
		t.Fatal("RATE_LIMITED without a message")
	}
	bob.expectCode(claimOf(carol), proto.Code_RATE_LIMITED) // per claimer, whoever the target
	for range ofAccount - byAccount {
		carol.mustCall(claimOf(alice))
	}
	dave.expectCode(claimOf(alice), proto.Code_RATE_LIMITED) // per target
	dave.mustCall(claimOf(bob))

	ts.clock.Advance(window)
	bob = bob.reconnect(ts)
	dave = dave.reconnect(ts)
	bob.mustCall(claimOf(alice))
	dave.mustCall(claimOf(alice))
}
