package client

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/mls"
	"github.com/parleyhq/parley/proto"
)

func TestKeyPackageSupply(t *testing.T) {
	ages := agesFor(mls.DefaultKeyPackageLifetime)
	if ages.renew != 60*24*time.Hour || ages.keep != mls.DefaultKeyPackageLifetime+proto.MailboxTTL || ages.check != time.Hour {
		t.Fatalf("ages %+v", ages)
	}
	now := time.Unix(1e9, 0)
	young, old := now.Add(-time.Hour), now.Add(-ages.renew)
	batch := func(n int, at time.Time, lastResort bool) []profile.KeyPackage {
		var out []profile.KeyPackage
		for range n {
			out = append(out, profile.KeyPackage{Created: at})
		}
		if lastResort {
			out = append(out, profile.KeyPackage{Created: at, LastResort: true})
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		stored     []profile.KeyPackage
		left       uint32
		oneTime    int
		lastResort bool
	}{
		{"fresh and full", batch(20, young, true), 20, 0, false},
		{"server running low", batch(20, young, true), 4, 16, false},
		{"claimed locally but not welcomed", batch(3, young, true), 20, 17, false},
		{"everything aging, nobody claimed", batch(20, old, true), 20, 20, true},
		{"aging last resort only", append(batch(20, young, false), batch(0, old, true)...), 20, 0, true},
		{"nothing at all", nil, 0, 20, true},
	} {
		n, lr := supplyOf(tc.stored, now, ages.renew).toUpload(tc.left)
		if n != tc.oneTime || lr != tc.lastResort {
			t.Errorf("%s: upload %d one-time, last resort %v; want %d, %v", tc.name, n, lr, tc.oneTime, tc.lastResort)
		}
	}
}

// TestPruneKeyPackages: bundles older than the keep age go (their
// packages expired and any Welcome made from them too); younger ones,
// last-resort included, stay.
func TestPruneKeyPackages(t *testing.T) {
	c := newOffline(t)
	ctx := context.Background()
	now := time.Unix(2e9, 0)
	keep := agesFor(mls.DefaultKeyPackageLifetime).keep
	put := []profile.KeyPackage{
		{Ref: []byte("expired one-time"), Bundle: []byte("x"), Created: now.Add(-keep - time.Minute)},
		{Ref: []byte("expired last resort"), Bundle: []byte("x"), LastResort: true, Created: now.Add(-keep - time.Minute)},
		{Ref: []byte("claimed, welcome may come"), Bundle: []byte("x"), Created: now.Add(-keep + time.Minute)},
		{Ref: []byte("current last resort"), Bundle: []byte("x"), LastResort: true, Created: now.Add(-time.Hour)},
	}
	if err := c.prof.Update(ctx, func(tx *profile.Tx) error {
		for _, kp := range put {
			if err := tx.PutKeyPackage(kp); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.pruneKeyPackages(ctx, now.Add(-keep)); err != nil {
		t.Fatal(err)
	}
	kps, err := c.prof.KeyPackages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, kp := range kps {
		left = append(left, string(kp.Ref))
	}
	if len(left) != 2 || left[0] != "claimed, welcome may come" || left[1] != "current last resort" {
		t.Fatalf("after pruning: %q", left)
	}
}
