package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
)

// kpLife is the lifetime of the suite's packages: they stay valid
// throughout a test unless it moves past T0+kpLife on purpose.
const kpLife = 90 * 24 * time.Hour

// kps makes n one-time packages "prefix-000"… valid until T0+kpLife.
func kps(prefix string, n int) []store.KeyPackage {
	out := make([]store.KeyPackage, n)
	for i := range out {
		out[i] = store.KeyPackage{Data: []byte(fmt.Sprintf("%s-%03d", prefix, i)), NotAfter: T0.Add(kpLife)}
	}
	return out
}

// kp is one package valid until notAfter.
func kp(data string, notAfter time.Time) store.KeyPackage {
	return store.KeyPackage{Data: []byte(data), NotAfter: notAfter}
}

// lastResort is a last-resort package valid until T0+kpLife.
func lastResort(data string) *store.KeyPackage {
	p := kp(data, T0.Add(kpLife))
	return &p
}

// put uploads at T0 with room for 10.
func put(t *testing.T, s store.Store, device string, oneTime []store.KeyPackage, last *store.KeyPackage) int {
	t.Helper()
	n, err := s.PutKeyPackages(t.Context(), device, oneTime, last, 10, T0)
	noErr(t, "PutKeyPackages", err)
	return n
}

func claim(t *testing.T, s store.Store, device string) (string, bool) {
	t.Helper()
	return claimAt(t, s, device, T0)
}

func claimAt(t *testing.T, s store.Store, device string, now time.Time) (string, bool) {
	t.Helper()
	kp, last, err := s.ClaimKeyPackage(t.Context(), device, now)
	noErr(t, "ClaimKeyPackage", err)
	return string(kp), last
}

func count(t *testing.T, s store.Store, device string, now time.Time) int {
	t.Helper()
	n, err := s.CountKeyPackages(t.Context(), device, now)
	noErr(t, "CountKeyPackages", err)
	return n
}

func testKeyPackages(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, d := account(t, s, "alice")
	_, other := account(t, s, "bob")

	if n := put(t, s, d.ID, kps("a", 3), nil); n != 3 {
		t.Errorf("PutKeyPackages = %d, want 3", n)
	}
	if n := put(t, s, d.ID, kps("b", 2), nil); n != 5 {
		t.Errorf("PutKeyPackages = %d, want 5", n)
	}
	put(t, s, other.ID, kps("other", 1), nil)

	// Oldest first, each once, and only the device's own.
	want := []string{"a-000", "a-001", "a-002", "b-000", "b-001"}
	for i, w := range want {
		kp, last := claim(t, s, d.ID)
		if kp != w || last {
			t.Errorf("claim %d = %q (last resort %v), want %q", i, kp, last, w)
		}
		if n := count(t, s, d.ID, T0); n != len(want)-i-1 {
			t.Errorf("CountKeyPackages = %d; want %d", n, len(want)-i-1)
		}
	}
	_, _, err := s.ClaimKeyPackage(ctx, d.ID, T0)
	wantErr(t, "ClaimKeyPackage(none left, no last resort)", err, store.ErrNoKeyPackage)
	if kp, _ := claim(t, s, other.ID); kp != "other-000" {
		t.Errorf("other device's package = %q", kp)
	}
	_, err = s.PutKeyPackages(ctx, "dev-ghost", kps("g", 1), nil, 10, T0)
	wantErr(t, "PutKeyPackages(unknown device)", err, store.ErrNotFound)
	_, _, err = s.ClaimKeyPackage(ctx, "dev-ghost", T0)
	wantErr(t, "ClaimKeyPackage(unknown device)", err, store.ErrNoKeyPackage)
	if n := count(t, s, "dev-ghost", T0); n != 0 {
		t.Errorf("CountKeyPackages(unknown) = %d", n)
	}
}

func testKeyPackageLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, d := account(t, s, "alice")
	_, err := s.PutKeyPackages(ctx, d.ID, kps("a", 3), nil, 4, T0)
	noErr(t, "PutKeyPackages", err)
	n, err := s.PutKeyPackages(ctx, d.ID, kps("b", 3), nil, 4, T0)
	noErr(t, "PutKeyPackages(over the limit)", err)
	if n != 4 {
		t.Errorf("PutKeyPackages over the limit = %d, want 4", n)
	}
	// The older packages are kept, the surplus of the new upload dropped.
	for _, w := range []string{"a-000", "a-001", "a-002", "b-000"} {
		if kp, _ := claim(t, s, d.ID); kp != w {
			t.Errorf("claimed %q, want %q", kp, w)
		}
	}
	if n := count(t, s, d.ID, T0); n != 0 {
		t.Errorf("%d packages left, want 0", n)
	}
}

func testLastResort(t *testing.T, s store.Store) {
	_, d := account(t, s, "alice")
	put(t, s, d.ID, kps("a", 1), lastResort("last-1"))
	if kp, last := claim(t, s, d.ID); kp != "a-000" || last {
		t.Errorf("first claim = %q (last resort %v), want the one-time package", kp, last)
	}
	// The last-resort package is handed out, and stays, once the supply is empty.
	for i := 0; i < 2; i++ {
		if kp, last := claim(t, s, d.ID); kp != "last-1" || !last {
			t.Errorf("claim = %q (last resort %v), want last-1 as last resort", kp, last)
		}
	}
	// An upload without one keeps it; an upload with one replaces it.
	put(t, s, d.ID, nil, nil)
	if kp, _ := claim(t, s, d.ID); kp != "last-1" {
		t.Errorf("claim = %q, want last-1 kept", kp)
	}
	if n := put(t, s, d.ID, nil, lastResort("last-2")); n != 0 {
		t.Errorf("PutKeyPackages = %d one-time, want 0", n)
	}
	if kp, last := claim(t, s, d.ID); kp != "last-2" || !last {
		t.Errorf("claim = %q (last resort %v), want last-2", kp, last)
	}
}

// testConcurrentClaims: 50 claimers, 20 one-time packages. Every one-time
// package goes to exactly one claimer; the other 30 get the last resort.
func testConcurrentClaims(t *testing.T, s store.Store) {
	const packages, claimers = 20, 50
	_, d := account(t, s, "alice")
	_, err := s.PutKeyPackages(t.Context(), d.ID, kps("kp", packages), lastResort("last"), packages, T0)
	noErr(t, "PutKeyPackages", err)

	type result struct {
		kp   string
		last bool
		err  error
	}
	results := make([]result, claimers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range claimers {
		wg.Go(func() {
			<-start
			kp, last, err := s.ClaimKeyPackage(t.Context(), d.ID, T0)
			results[i] = result{string(kp), last, err}
		})
	}
	close(start)
	wg.Wait()

	seen := make(map[string]bool)
	lastResorts := 0
	for _, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("ClaimKeyPackage: %v", r.err)
		case r.last:
			if r.kp != "last" {
				t.Errorf("last resort claim returned %q", r.kp)
			}
			lastResorts++
		case seen[r.kp]:
			t.Errorf("one-time package %q handed out twice", r.kp)
		default:
			seen[r.kp] = true
		}
	}
	if len(seen) != packages || lastResorts != claimers-packages {
		t.Errorf("%d distinct one-time and %d last-resort claims, want %d and %d", len(seen), lastResorts, packages, claimers-packages)
	}
	if n := count(t, s, d.ID, T0); n != 0 {
		t.Errorf("%d packages left", n)
	}
}

// testKeyPackageExpiry: a package is handed out only before its NotAfter;
// expired ones are skipped and deleted (never returned later, even after
// the clock is set back), the last-resort package included, and they stop
// counting towards the supply and its bound.
func testKeyPackageExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, d := account(t, s, "alice")
	soon, later := T0.Add(time.Hour), T0.Add(2*time.Hour)
	put(t, s, d.ID, []store.KeyPackage{kp("a-soon", soon), kp("b-later", later), kp("c-soon", soon)}, nil)
	if n := count(t, s, d.ID, T0); n != 3 {
		t.Errorf("CountKeyPackages(T0) = %d, want 3", n)
	}
	if n := count(t, s, d.ID, soon); n != 1 {
		t.Errorf("CountKeyPackages(at the first expiry) = %d, want 1: NotAfter is the first instant a package is expired", n)
	}
	if kp, last := claimAt(t, s, d.ID, soon); kp != "b-later" || last {
		t.Errorf("claim at %v = %q (last resort %v), want b-later: the older packages expired", soon, kp, last)
	}
	// The expired ones were deleted, not only skipped.
	_, _, err := s.ClaimKeyPackage(ctx, d.ID, T0)
	wantErr(t, "ClaimKeyPackage(after the expired ones were skipped)", err, store.ErrNoKeyPackage)

	// The last-resort package expires too, and is then gone for good.
	put(t, s, d.ID, nil, &store.KeyPackage{Data: []byte("last"), NotAfter: later})
	if kp, last := claimAt(t, s, d.ID, soon); kp != "last" || !last {
		t.Errorf("claim = %q (last resort %v), want the valid last-resort package", kp, last)
	}
	_, _, err = s.ClaimKeyPackage(ctx, d.ID, later)
	wantErr(t, "ClaimKeyPackage(last resort expired)", err, store.ErrNoKeyPackage)
	_, _, err = s.ClaimKeyPackage(ctx, d.ID, soon)
	wantErr(t, "ClaimKeyPackage(expired last resort, clock set back)", err, store.ErrNoKeyPackage)

	// Expired packages make room: an upload after they expired fills the
	// supply up to the bound with fresh ones.
	_, err = s.PutKeyPackages(ctx, d.ID, []store.KeyPackage{kp("x", soon), kp("y", soon)}, nil, 2, T0)
	noErr(t, "PutKeyPackages", err)
	n, err := s.PutKeyPackages(ctx, d.ID, kps("fresh", 3), nil, 2, later)
	noErr(t, "PutKeyPackages(after expiry)", err)
	if n != 2 {
		t.Errorf("PutKeyPackages after the old ones expired = %d, want 2 fresh", n)
	}
	for _, w := range []string{"fresh-000", "fresh-001"} {
		if kp, _ := claimAt(t, s, d.ID, later); kp != w {
			t.Errorf("claimed %q, want %q", kp, w)
		}
	}
}

// testKeyPackageUnknownLifetime: a zero NotAfter (a package stored before
// lifetimes were recorded) never expires in the store.
func testKeyPackageUnknownLifetime(t *testing.T, s store.Store) {
	_, d := account(t, s, "alice")
	far := T0.Add(10 * 365 * 24 * time.Hour)
	put(t, s, d.ID, []store.KeyPackage{{Data: []byte("old")}}, &store.KeyPackage{Data: []byte("old-last")})
	if n := count(t, s, d.ID, far); n != 1 {
		t.Errorf("CountKeyPackages = %d, want 1", n)
	}
	if kp, last := claimAt(t, s, d.ID, far); kp != "old" || last {
		t.Errorf("claim = %q (last resort %v), want old", kp, last)
	}
	if kp, last := claimAt(t, s, d.ID, far); kp != "old-last" || !last {
		t.Errorf("claim = %q (last resort %v), want old-last", kp, last)
	}
}

// testDeviceAuth: one read gives what CountKeyPackages, MailboxDepth,
// Device and the account's handle give separately.
func testDeviceAuth(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, d := account(t, s, "alice")
	put(t, s, d.ID, kps("a", 3), nil)
	deliver(t, s, sub("dev-x", 1, mail(d.ID, "1")), sub("dev-x", 2, mail(d.ID, "2")), sub("dev-x", 3, mail(d.ID, "3")))
	noErr(t, "Ack", s.Ack(ctx, d.ID, 1))
	info, err := s.DeviceAuth(ctx, d.ID, T0)
	noErr(t, "DeviceAuth", err)
	if info.Device.ID != d.ID || info.Device.AccountID != a.ID || string(info.Device.SigningKey) != string(d.SigningKey) ||
		!info.Device.Primary || info.Device.Revoked() || info.Handle != a.Handle {
		t.Errorf("DeviceAuth = %+v", info)
	}
	if info.KeyPackagesLeft != count(t, s, d.ID, T0) || info.KeyPackagesLeft != 3 {
		t.Errorf("KeyPackagesLeft = %d, want 3", info.KeyPackagesLeft)
	}
	if n, last := depth(t, s, d.ID); info.MailboxDepth != n || info.LastSeq != last || n != 2 || last != 3 {
		t.Errorf("MailboxDepth, LastSeq = %d, %d; want 2, 3", info.MailboxDepth, info.LastSeq)
	}
	// Expired packages do not count.
	if info, _ := s.DeviceAuth(ctx, d.ID, T0.Add(kpLife)); info.KeyPackagesLeft != 0 {
		t.Errorf("KeyPackagesLeft after expiry = %d", info.KeyPackagesLeft)
	}
	// A device with nothing.
	b, bd := account(t, s, "bob")
	if info, err := s.DeviceAuth(ctx, bd.ID, T0); err != nil || info.KeyPackagesLeft != 0 || info.MailboxDepth != 0 || info.LastSeq != 0 || info.InChannels {
		t.Errorf("DeviceAuth(empty) = %+v, %v", info, err)
	}
	// In a channel: as its owner, and as a follower.
	newChannel(t, s, "cauth", a.ID)
	_, err = s.Follow(ctx, "cauth", b.ID, T0)
	noErr(t, "Follow", err)
	for _, dev := range []string{d.ID, bd.ID} {
		if info, err := s.DeviceAuth(ctx, dev, T0); err != nil || !info.InChannels {
			t.Errorf("DeviceAuth(%s in a channel).InChannels = false, %v", dev, err)
		}
	}
	_, err = s.DeviceAuth(ctx, "dev-ghost", T0)
	wantErr(t, "DeviceAuth(unknown)", err, store.ErrNotFound)
}
