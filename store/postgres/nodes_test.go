package postgres

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/pgtest"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

// twoNodes is one database seen through two stores, as two `parley serve`
// nodes see it: the calls whose correctness rests on the database's locks
// alternate between the nodes, everything else goes to the first.
type twoNodes struct {
	*Store // node A
	b      *Store
	turn   atomic.Uint64
}

func (n *twoNodes) next() *Store {
	if n.turn.Add(1)%2 == 0 {
		return n.Store
	}
	return n.b
}

func (n *twoNodes) Close() error {
	n.b.Close()
	return n.Store.Close()
}

func (n *twoNodes) Deliver(ctx context.Context, subs []store.Submission) ([]error, error) {
	return n.next().Deliver(ctx, subs)
}

func (n *twoNodes) ClaimKeyPackage(ctx context.Context, deviceID string, now time.Time) ([]byte, bool, error) {
	return n.next().ClaimKeyPackage(ctx, deviceID, now)
}

func (n *twoNodes) ApplyCommit(ctx context.Context, c store.CommitRecord) (store.Group, error) {
	return n.next().ApplyCommit(ctx, c)
}

func (n *twoNodes) AddDevice(ctx context.Context, d store.Device, e store.LogEntry, max int) error {
	return n.next().AddDevice(ctx, d, e, max)
}

func (n *twoNodes) Fetch(ctx context.Context, deviceID string, after uint64, limit int, now time.Time) ([]store.Mail, error) {
	return n.next().Fetch(ctx, deviceID, after, limit, now)
}

// TestConformanceTwoNodes runs the suite against two nodes sharing one
// database: concurrent claims, commits and deliveries split across them
// keep their guarantees.
func TestConformanceTwoNodes(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		dsn := pgtest.DSN(t)
		a, err := Open(t.Context(), dsn)
		if err != nil {
			t.Fatalf("Open(node A): %v", err)
		}
		b, err := Open(t.Context(), dsn)
		if err != nil {
			a.Close()
			t.Fatalf("Open(node B): %v", err)
		}
		return &twoNodes{Store: a, b: b}
	})
}
