package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/parleyhq/parley/store"
)

func kps(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("%s-%03d", prefix, i))
	}
	return out
}

func claim(t *testing.T, s store.Store, device string) (string, bool) {
	t.Helper()
	kp, last, err := s.ClaimKeyPackage(t.Context(), device)
	noErr(t, "ClaimKeyPackage", err)
	return string(kp), last
}

func testKeyPackages(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, d := account(t, s, "alice")
	_, other := account(t, s, "bob")

	n, err := s.PutKeyPackages(ctx, d.ID, kps("a", 3), nil, 10)
	noErr(t, "PutKeyPackages", err)
	if n != 3 {
		t.Errorf("PutKeyPackages = %d, want 3", n)
	}
	n, err = s.PutKeyPackages(ctx, d.ID, kps("b", 2), nil, 10)
	noErr(t, "PutKeyPackages", err)
	if n != 5 {
		t.Errorf("PutKeyPackages = %d, want 5", n)
	}
	_, err = s.PutKeyPackages(ctx, other.ID, kps("other", 1), nil, 10)
	noErr(t, "PutKeyPackages(other)", err)

	// Oldest first, each once, and only the device's own.
	want := []string{"a-000", "a-001", "a-002", "b-000", "b-001"}
	for i, w := range want {
		kp, last := claim(t, s, d.ID)
		if kp != w || last {
			t.Errorf("claim %d = %q (last resort %v), want %q", i, kp, last, w)
		}
		if n, err := s.CountKeyPackages(ctx, d.ID); err != nil || n != len(want)-i-1 {
			t.Errorf("CountKeyPackages = %d, %v; want %d", n, err, len(want)-i-1)
		}
	}
	_, _, err = s.ClaimKeyPackage(ctx, d.ID)
	wantErr(t, "ClaimKeyPackage(none left, no last resort)", err, store.ErrNoKeyPackage)
	if kp, _ := claim(t, s, other.ID); kp != "other-000" {
		t.Errorf("other device's package = %q", kp)
	}
	_, err = s.PutKeyPackages(ctx, "dev-ghost", kps("g", 1), nil, 10)
	wantErr(t, "PutKeyPackages(unknown device)", err, store.ErrNotFound)
	_, _, err = s.ClaimKeyPackage(ctx, "dev-ghost")
	wantErr(t, "ClaimKeyPackage(unknown device)", err, store.ErrNoKeyPackage)
	if n, err := s.CountKeyPackages(ctx, "dev-ghost"); err != nil || n != 0 {
		t.Errorf("CountKeyPackages(unknown) = %d, %v", n, err)
	}
}

func testKeyPackageLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, d := account(t, s, "alice")
	n, err := s.PutKeyPackages(ctx, d.ID, kps("a", 3), nil, 4)
	noErr(t, "PutKeyPackages", err)
	n, err = s.PutKeyPackages(ctx, d.ID, kps("b", 3), nil, 4)
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
	if n, _ := s.CountKeyPackages(ctx, d.ID); n != 0 {
		t.Errorf("%d packages left, want 0", n)
	}
}

func testLastResort(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, d := account(t, s, "alice")
	_, err := s.PutKeyPackages(ctx, d.ID, kps("a", 1), []byte("last-1"), 10)
	noErr(t, "PutKeyPackages", err)
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
	_, err = s.PutKeyPackages(ctx, d.ID, nil, nil, 10)
	noErr(t, "PutKeyPackages(nothing)", err)
	if kp, _ := claim(t, s, d.ID); kp != "last-1" {
		t.Errorf("claim = %q, want last-1 kept", kp)
	}
	n, err := s.PutKeyPackages(ctx, d.ID, nil, []byte("last-2"), 10)
	noErr(t, "PutKeyPackages(last resort)", err)
	if n != 0 {
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
	_, err := s.PutKeyPackages(t.Context(), d.ID, kps("kp", packages), []byte("last"), packages)
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
			kp, last, err := s.ClaimKeyPackage(t.Context(), d.ID)
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
	if n, _ := s.CountKeyPackages(t.Context(), d.ID); n != 0 {
		t.Errorf("%d packages left", n)
	}
}
