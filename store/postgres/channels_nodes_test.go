package postgres

import (
	"context"
	"time"

	"github.com/parleyhq/parley/store"
)

// The channel calls whose counters rest on row locks alternate between the
// two nodes of TestConformanceTwoNodes too.

func (n *twoNodes) Follow(ctx context.Context, ch, a string, now time.Time) (bool, error) {
	return n.next().Follow(ctx, ch, a, now)
}

func (n *twoNodes) Unfollow(ctx context.Context, ch, a string, now time.Time) (bool, error) {
	return n.next().Unfollow(ctx, ch, a, now)
}

func (n *twoNodes) React(ctx context.Context, ch string, id []byte, a, e string, now time.Time) (store.Post, error) {
	return n.next().React(ctx, ch, id, a, e, now)
}

func (n *twoNodes) Vote(ctx context.Context, ch string, id []byte, a string, o []uint32, now time.Time) (store.Post, error) {
	return n.next().Vote(ctx, ch, id, a, o, now)
}

func (n *twoNodes) View(ctx context.Context, ch, a string, ids [][]byte, now time.Time) error {
	return n.next().View(ctx, ch, a, ids, now)
}

func (n *twoNodes) PutPost(ctx context.Context, p store.Post, max int) (store.Post, error) {
	return n.next().PutPost(ctx, p, max)
}

func (n *twoNodes) AcceptAdmin(ctx context.Context, ch, a string, now time.Time, max int) error {
	return n.next().AcceptAdmin(ctx, ch, a, now, max)
}
