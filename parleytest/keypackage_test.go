package parleytest

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/server"
)

// TestKeyPackagesRenewedBeforeExpiry runs a server and its devices on one
// fake clock, with key packages that live three hours (instead of 90
// days, so the clock need not tick through months). A device that nobody
// contacts replaces its key packages — one-time and last-resort — before
// they expire, so a newcomer after the first packages' lifetime can still
// start a conversation with it. Before, a device kept its first packages
// forever: once they expired nobody could reach it.
func TestKeyPackagesRenewedBeforeExpiry(t *testing.T) {
	requireMLS(t)
	const lifetime = 3 * time.Hour
	srv := NewServer(t, WithFakeClock(time.Now()),
		// Connections stay up while the test jumps ahead.
		WithConfig(func(c *server.Config) { c.IdleTimeout = 10 * 365 * 24 * time.Hour }))
	clk := srv.Clock
	onClock := WithOptions(func(o *client.Options) { o.Clock, o.KeyPackageLifetime = clk, lifetime })
	alice := NewClient(t, srv, "@alice", onClock)
	t0 := clk.Now()
	// createdAfter counts alice's packages made after `at`.
	createdAfter := func(at time.Time) (oneTime int, lastResort bool) {
		kps, err := alice.Profile().KeyPackages(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, kp := range kps {
			switch {
			case !kp.Created.After(at):
			case kp.LastResort:
				lastResort = true
			default:
				oneTime++
			}
		}
		return oneTime, lastResort
	}
	if n, lr := createdAfter(t0.Add(-time.Millisecond)); n != 20 || !lr {
		t.Fatalf("at registration: %d one-time packages and last resort %v", n, lr)
	}

	// Past two thirds of the lifetime: the supply is renewed although
	// nobody claimed any of it. (The device looks at least every tenth of
	// the lifetime, on its ping ticker.)
	clk.Advance(lifetime*2/3 + lifetime/10 + time.Minute)
	eventually(t, "alice renews her key packages", func() bool {
		n, lr := createdAfter(t0)
		return n == 20 && lr
	})

	// Past the first packages' lifetime: a newcomer reaches alice with a
	// renewed package.
	clk.Advance(lifetime / 3)
	bob := NewClient(t, srv, "@bob", onClock)
	if _, err := bob.Send(Ctx(t), "@alice", "hours later"); err != nil {
		t.Fatalf("send to a device whose first key packages expired: %v", err)
	}
	WaitMessage(t, alice, "hours later")
}
