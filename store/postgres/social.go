package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/unixnano"
)

// setPair adds or removes the (owner, other) row of a relation table.
func (s *Store) setPair(ctx context.Context, table, owner, other string, on bool) error {
	var err error
	if on {
		_, err = s.pool.Exec(ctx, `INSERT INTO `+table+` (owner, other) VALUES ($1, $2) ON CONFLICT DO NOTHING`, owner, other)
	} else {
		_, err = s.pool.Exec(ctx, `DELETE FROM `+table+` WHERE owner = $1 AND other = $2`, owner, other)
	}
	return wrap("set "+table, err)
}

func (s *Store) hasPair(ctx context.Context, table, owner, other string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE owner = $1 AND other = $2)`, owner, other).Scan(&ok)
	return ok, wrap(table, err)
}

func (s *Store) SetContact(ctx context.Context, owner, other string, contact bool) error {
	return s.setPair(ctx, "contacts", owner, other, contact)
}

func (s *Store) IsContact(ctx context.Context, owner, other string) (bool, error) {
	return s.hasPair(ctx, "contacts", owner, other)
}

func (s *Store) SetBlocked(ctx context.Context, owner, other string, blocked bool) error {
	return s.setPair(ctx, "blocks", owner, other, blocked)
}

func (s *Store) IsBlocked(ctx context.Context, owner, other string) (bool, error) {
	return s.hasPair(ctx, "blocks", owner, other)
}

func (s *Store) updateAccount(ctx context.Context, op, column, accountID string, v any) error {
	tag, err := s.pool.Exec(ctx, `UPDATE accounts SET `+column+` = $1 WHERE id = $2`, v, accountID)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return wrap(op, fmt.Errorf("account %s: %w", accountID, store.ErrNotFound))
	}
	return nil
}

func (s *Store) SetPresenceVisibility(ctx context.Context, accountID string, v int32) error {
	return s.updateAccount(ctx, "set presence visibility", "presence", accountID, v)
}

func (s *Store) SetLastSeen(ctx context.Context, accountID string, at time.Time) error {
	return s.updateAccount(ctx, "set last seen", "last_seen", accountID, unixnano.From(at))
}

func (s *Store) SetLastSeenAll(ctx context.Context, seen []store.LastSeen) error {
	ids := make([]string, len(seen))
	ats := make([]int64, len(seen))
	for i, l := range seen {
		ids[i], ats[i] = l.AccountID, unixnano.From(l.At)
	}
	_, err := s.pool.Exec(ctx, `UPDATE accounts a SET last_seen = v.at
		FROM unnest($1::text[], $2::bigint[]) AS v(id, at) WHERE a.id = v.id`, ids, ats)
	return wrap("set last seen", err)
}
