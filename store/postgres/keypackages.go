package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/unixnano"
)

// Key packages: not_after is the end of a package's lifetime in Unix
// nanoseconds, 0 when not known (kept, see store.KeyPackage).

func (s *Store) PutKeyPackages(ctx context.Context, deviceID string, oneTime []store.KeyPackage, lastResort *store.KeyPackage, maxStored int, now time.Time) (int, error) {
	var count int
	err := s.tx(ctx, "put key packages", func(tx pgx.Tx) error {
		// Locking the device row orders concurrent uploads (so the count
		// holds) and excludes a concurrent revoke; a revoked device may not
		// hold packages anyone could claim.
		var revoked int64
		err := tx.QueryRow(ctx, `SELECT revoked_at FROM devices WHERE id = $1 FOR UPDATE`, deviceID).Scan(&revoked)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && revoked != 0) {
			return fmt.Errorf("active device %s: %w", deviceID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		// Expired packages do not count against the supply: drop them so
		// the upload that replaces them fits.
		if err := deleteExpired(ctx, tx, deviceID, now); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM key_packages WHERE device_id = $1`, deviceID).Scan(&count); err != nil {
			return err
		}
		// Keep the older packages, drop the surplus of this upload.
		add := oneTime[:min(len(oneTime), max(0, maxStored-count))]
		if len(add) > 0 {
			data := make([][]byte, len(add))
			notAfter := make([]int64, len(add))
			for i, kp := range add {
				data[i], notAfter[i] = kp.Data, unixnano.From(kp.NotAfter)
			}
			// WITH ORDINALITY keeps the upload's order in the ids, which
			// is the order claims hand them out.
			if _, err := tx.Exec(ctx, `INSERT INTO key_packages (device_id, kp, not_after)
				SELECT $1, kp, not_after FROM unnest($2::bytea[], $3::bigint[]) WITH ORDINALITY AS t(kp, not_after, n) ORDER BY n`,
				deviceID, data, notAfter); err != nil {
				return err
			}
		}
		count += len(add)
		if lastResort != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO last_resort_packages (device_id, kp, not_after) VALUES ($1, $2, $3)
				ON CONFLICT (device_id) DO UPDATE SET kp = EXCLUDED.kp, not_after = EXCLUDED.not_after`,
				deviceID, lastResort.Data, unixnano.From(lastResort.NotAfter)); err != nil {
				return err
			}
		}
		return nil
	})
	return count, err
}

// execer is a pgx.Tx or the pool.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// deleteExpired drops the device's one-time and last-resort packages whose
// lifetime ended by now. SKIP LOCKED leaves rows a concurrent claim holds
// to that claim, so two callers never wait on each other here.
func deleteExpired(ctx context.Context, q execer, deviceID string, now time.Time) error {
	t := now.UnixNano()
	if _, err := q.Exec(ctx, `DELETE FROM key_packages WHERE id IN
		(SELECT id FROM key_packages WHERE device_id = $1 AND not_after != 0 AND not_after <= $2 FOR UPDATE SKIP LOCKED)`,
		deviceID, t); err != nil {
		return err
	}
	_, err := q.Exec(ctx, `DELETE FROM last_resort_packages WHERE device_id = $1 AND not_after != 0 AND not_after <= $2`, deviceID, t)
	return err
}

// ClaimKeyPackage deletes the oldest unexpired package no concurrent claim
// holds: SKIP LOCKED lets claimers take different rows instead of queueing
// on one, and the DELETE makes each row go to exactly one of them. The
// expiry filter in the claim itself (not only the cleanup before it) is
// what guarantees an expired package is never returned.
func (s *Store) ClaimKeyPackage(ctx context.Context, deviceID string, now time.Time) ([]byte, bool, error) {
	if err := deleteExpired(ctx, s.pool, deviceID, now); err != nil {
		return nil, false, wrap("claim key package", err)
	}
	t := now.UnixNano()
	var kp []byte
	err := s.pool.QueryRow(ctx, `DELETE FROM key_packages WHERE id =
		(SELECT id FROM key_packages WHERE device_id = $1 AND (not_after = 0 OR not_after > $2)
		 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING kp`, deviceID, t).Scan(&kp)
	if err == nil {
		return kp, false, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, wrap("claim key package", err)
	}
	err = s.pool.QueryRow(ctx, `SELECT kp FROM last_resort_packages
		WHERE device_id = $1 AND (not_after = 0 OR not_after > $2)`, deviceID, t).Scan(&kp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, wrap("claim key package", fmt.Errorf("device %s: %w", deviceID, store.ErrNoKeyPackage))
	}
	if err != nil {
		return nil, false, wrap("claim key package", err)
	}
	return kp, true, nil
}

func (s *Store) CountKeyPackages(ctx context.Context, deviceID string, now time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM key_packages
		WHERE device_id = $1 AND (not_after = 0 OR not_after > $2)`, deviceID, now.UnixNano()).Scan(&n)
	return n, wrap("count key packages", err)
}
