package client

import (
	"context"
	"errors"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

// Key package supply: a device keeps keyPackageTarget one-time packages
// on the server (each lets one new conversation add it without a round
// trip to the device) and tops up when fewer than keyPackageLow are left.
// The last-resort package is used when the supply runs out.
const (
	keyPackageTarget = 20
	keyPackageLow    = 5
)

// kick asks the key-package maintainer to check the supply.
func (c *Client) kickKeyPackages() {
	c.mu.Lock()
	c.kpPending = true
	c.mu.Unlock()
}

// maintainKeyPackages tops up the supply on connect and after welcomes
// consumed packages. It runs per connection and stops with it.
func (c *Client) maintainKeyPackages(stop <-chan struct{}) {
	t := c.clk.NewTicker(c.opts.PingInterval)
	defer t.Stop()
	check := true
	for {
		if check {
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
		}
	}
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
	stored, err := c.prof.KeyPackages(ctx)
	if err != nil {
		return err
	}
	haveLastResort := false
	for _, kp := range stored {
		haveLastResort = haveLastResort || kp.LastResort
	}
	if left >= keyPackageLow && haveLastResort {
		return nil
	}
	n := 0
	if left < keyPackageTarget {
		n = min(keyPackageTarget-int(left), proto.MaxKeyPackagesPerUpload)
	}
	req := &proto.UploadKeyPackages{}
	var bundles []profile.KeyPackage
	now := c.clk.Now()
	for range n {
		kp, err := c.engine.NewKeyPackage(false)
		if err != nil {
			return err
		}
		req.OneTime = append(req.OneTime, kp.Message)
		bundles = append(bundles, profile.KeyPackage{Ref: kp.Ref, Bundle: kp.Bundle, Created: now})
	}
	if !haveLastResort {
		kp, err := c.engine.NewKeyPackage(true)
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
	c.log.Debug("uploaded key packages", "one_time", n, "last_resort", !haveLastResort, "left", c.kpLeft)
	return nil
}
