package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/unixnano"
)

// setPair adds or removes the (owner, other) row of a relation table.
func (s *Store) setPair(ctx context.Context, table, owner, other string, on bool) error {
	return s.write(ctx, "set "+table, func(tx *sql.Tx) error {
		var err error
		if on {
			_, err = tx.ExecContext(ctx, `INSERT INTO `+table+` (owner, other) VALUES (?, ?) ON CONFLICT DO NOTHING`, owner, other)
		} else {
			_, err = tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE owner = ? AND other = ?`, owner, other)
		}
		return err
	})
}

func (s *Store) hasPair(ctx context.Context, table, owner, other string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE owner = ? AND other = ?`, owner, other).Scan(&n)
	return n > 0, wrap(table, err)
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

// updateAccount sets one column of an account; ErrNotFound if it is unknown.
func (s *Store) updateAccount(ctx context.Context, op, set string, accountID string, v any) error {
	return s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET `+set+` = ? WHERE id = ?`, v, accountID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("account %s: %w", accountID, store.ErrNotFound)
		}
		return nil
	})
}

func (s *Store) SetPresenceVisibility(ctx context.Context, accountID string, v int32) error {
	return s.updateAccount(ctx, "set presence visibility", "presence", accountID, v)
}

func (s *Store) SetLastSeen(ctx context.Context, accountID string, at time.Time) error {
	return s.updateAccount(ctx, "set last seen", "last_seen", accountID, unixnano.From(at))
}

func (s *Store) SetLastSeenAll(ctx context.Context, seen []store.LastSeen) error {
	return s.write(ctx, "set last seen", func(tx *sql.Tx) error {
		for _, l := range seen {
			if _, err := tx.ExecContext(ctx, `UPDATE accounts SET last_seen = ? WHERE id = ?`, unixnano.From(l.At), l.AccountID); err != nil {
				return err
			}
		}
		return nil
	})
}
