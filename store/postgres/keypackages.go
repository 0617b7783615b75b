package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/store"
)

func (s *Store) PutKeyPackages(ctx context.Context, deviceID string, oneTime [][]byte, lastResort []byte, maxStored int) (int, error) {
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
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM key_packages WHERE device_id = $1`, deviceID).Scan(&count); err != nil {
			return err
		}
		// Keep the older packages, drop the surplus of this upload.
		add := oneTime[:min(len(oneTime), max(0, maxStored-count))]
		if len(add) > 0 {
			// WITH ORDINALITY keeps the upload's order in the ids, which
			// is the order claims hand them out.
			if _, err := tx.Exec(ctx, `INSERT INTO key_packages (device_id, kp)
				SELECT $1, kp FROM unnest($2::bytea[]) WITH ORDINALITY AS t(kp, n) ORDER BY n`, deviceID, add); err != nil {
				return err
			}
		}
		count += len(add)
		if lastResort != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO last_resort_packages (device_id, kp) VALUES ($1, $2)
				ON CONFLICT (device_id) DO UPDATE SET kp = EXCLUDED.kp`, deviceID, lastResort); err != nil {
				return err
			}
		}
		return nil
	})
	return count, err
}

// ClaimKeyPackage deletes the oldest package no concurrent claim holds:
// SKIP LOCKED lets claimers take different rows instead of queueing on one,
// and the DELETE makes each row go to exactly one of them.
func (s *Store) ClaimKeyPackage(ctx context.Context, deviceID string) ([]byte, bool, error) {
	var kp []byte
	err := s.pool.QueryRow(ctx, `DELETE FROM key_packages WHERE id =
		(SELECT id FROM key_packages WHERE device_id = $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING kp`, deviceID).Scan(&kp)
	if err == nil {
		return kp, false, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, wrap("claim key package", err)
	}
	err = s.pool.QueryRow(ctx, `SELECT kp FROM last_resort_packages WHERE device_id = $1`, deviceID).Scan(&kp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, wrap("claim key package", fmt.Errorf("device %s: %w", deviceID, store.ErrNoKeyPackage))
	}
	if err != nil {
		return nil, false, wrap("claim key package", err)
	}
	return kp, true, nil
}

func (s *Store) CountKeyPackages(ctx context.Context, deviceID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM key_packages WHERE device_id = $1`, deviceID).Scan(&n)
	return n, wrap("count key packages", err)
}
