package client

import (
	"context"
	"errors"
	"time"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

// Key package supply: a device keeps keyPackageTarget one-time packages
// on the server (each lets one new conversation add it without a round
// trip to the device) and tops up when fewer than keyPackageLow are left.
// The last-resort package is used when the supply runs out.
//
// Packages are valid for Options.KeyPackageLifetime (90 days) from their
// creation, and the server stops handing out expired ones. So the device
// counts only packages younger than two thirds of the lifetime as supply:
// a batch (and the last-resort package) is replaced well before it
// expires, even when nobody claimed any of it. The private halves are kept
// until nothing can use them any more: the package's lifetime plus the
// time a Welcome made from it may wait in a mailbox.
const (
	keyPackageTarget = 20
	keyPackageLow    = 5
	// keyPackageCheckEvery is how often a connected device looks at the
	// age of its supply (at most; uses and welcomes trigger a check at
	// once).
	keyPackageCheckEvery = time.Hour
)

// keyPackageAges are the ages that matter for a lifetime.
type keyPackageAges struct {
	renew time.Duration // replace packages this old
	keep  time.Duration // forget the private halves of packages this old
	check time.Duration // look at the supply this often
}

func agesFor(lifetime time.Duration) keyPackageAges {
	return keyPackageAges{
		renew: lifetime * 2 / 3,
		keep:  lifetime + proto.MailboxTTL,
		check: min(keyPackageCheckEvery, lifetime/10),
	}
}

// kick asks the key-package maintainer to check the supply.
func (c *Client) kickKeyPackages() {
	c.mu.Lock()
	c.kpPending = true
	c.mu.Unlock()
}

// maintainKeyPackages tops up the supply on connect, after welcomes
// consumed packages, and every keyPackageCheckEvery (renewing aging
// packages). It runs per connection and stops with it.
func (c *Client) maintainKeyPackages(stop <-chan struct{}) {
	t := c.clk.NewTicker(c.opts.PingInterval)
	defer t.Stop()
	check := true
	var last time.Time
	ages := agesFor(c.opts.KeyPackageLifetime)
	for {
		if check {
			last = c.clk.Now()
			if err := c.replenishKeyPackages(); err != nil && !errors.Is(err, ErrNoEncryption) {
				c.log.Warn("uploading key packages", "err", err)
			}
		}
		select {
		case <-stop:
			return
		case <-t.C():
			c.mu.Lock()
			check, c.kpPending = c.kpPending, false
			c.mu.Unlock()
			check = check || c.clk.Now().Sub(last) >= ages.check
		}
	}
}

// supply is what a device knows of its key packages at a moment.
type supply struct {
	fresh           int  // one-time packages younger than keyPackageRenewAge
	freshLastResort bool // a last-resort package younger than keyPackageRenewAge
}

func supplyOf(stored []profile.KeyPackage, now time.Time, renew time.Duration) supply {
	var s supply
	for _, kp := range stored {
		if now.Sub(kp.Created) >= renew {
			continue
		}
		if kp.LastResort {
			s.freshLastResort = true
		} else {
			s.fresh++
		}
	}
	return s
}

// toUpload returns how many one-time packages to upload, given the
// server's count (left, which may include aging ones) and the local view,
// and whether a new last-resort package is needed.
func (s supply) toUpload(left uint32) (oneTime int, lastResort bool) {
	// Only packages that are both on the server and young count: the
	// server's count includes aging packages, the local one packages
	// claimed by conversations that never came.
	have := min(int(left), s.fresh)
	if have < keyPackageLow {
		oneTime = min(keyPackageTarget-have, proto.MaxKeyPackagesPerUpload)
	}
	return oneTime, !s.freshLastResort
}

func (c *Client) replenishKeyPackages() error {
	if _, none := c.engine.(noEngine); none {
		return ErrNoEncryption
	}
	// One top-up at a time (registration and the maintainer may race).
	c.kpMu.Lock()
	defer c.kpMu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, callTimeout)
	defer cancel()
	c.mu.Lock()
	left := c.kpLeft
	c.mu.Unlock()
	now := c.clk.Now()
	ages := agesFor(c.opts.KeyPackageLifetime)
	if err := c.pruneKeyPackages(ctx, now.Add(-ages.keep)); err != nil {
		c.log.Warn("pruning old key packages", "err", err)
	}
	stored, err := c.prof.KeyPackages(ctx)
	if err != nil {
		return err
	}
	n, newLastResort := supplyOf(stored, now, ages.renew).toUpload(left)
	if n == 0 && !newLastResort {
		return nil
	}
	req := &proto.UploadKeyPackages{}
	var bundles []profile.KeyPackage
	for range n {
		kp, err := c.engine.NewKeyPackage(false, now)
		if err != nil {
			return err
		}
		req.OneTime = append(req.OneTime, kp.Message)
		bundles = append(bundles, profile.KeyPackage{Ref: kp.Ref, Bundle: kp.Bundle, Created: now})
	}
	if newLastResort {
		// It replaces the server's previous one; the old bundle is kept
		// (until pruned) for Welcomes made from it before.
		kp, err := c.engine.NewKeyPackage(true, now)
		if err != nil {
			return err
		}
		req.LastResort = kp.Message
		bundles = append(bundles, profile.KeyPackage{Ref: kp.Ref, Bundle: kp.Bundle, LastResort: true, Created: now})
	}
	// Keep the private halves before the server can hand out the public
	// ones: a Welcome may arrive right after the upload.
	if err := c.prof.Update(ctx, func(tx *profile.Tx) error {
		for _, b := range bundles {
			if err := tx.PutKeyPackage(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_UploadKeyPackages{UploadKeyPackages: req}})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.kpLeft = resp.GetUpload().GetKeyPackagesLeft()
	c.mu.Unlock()
	c.log.Debug("uploaded key packages", "one_time", n, "last_resort", newLastResort, "left", c.kpLeft)
	return nil
}

// pruneKeyPackages forgets the private halves of packages created before
// `before`: nothing can use them any more (they expired, and so did any
// Welcome made from them).
func (c *Client) pruneKeyPackages(ctx context.Context, before time.Time) error {
	return c.prof.Update(ctx, func(tx *profile.Tx) error {
		return tx.PruneKeyPackages(before)
	})
}
