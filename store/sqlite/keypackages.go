package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/store"
)

func (s *Store) PutKeyPackages(ctx context.Context, deviceID string, oneTime [][]byte, lastResort []byte, maxStored int) (int, error) {
	var count int
	err := s.write(ctx, "put key packages", func(tx *sql.Tx) error {
		// A revoked device's packages were deleted with it; refusing new
		// ones keeps anyone from claiming a package of a removed device.
		var active int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM devices WHERE id = ? AND revoked_at = 0`, deviceID).Scan(&active); err != nil {
			return err
		}
		if active == 0 {
			return fmt.Errorf("active device %s: %w", deviceID, store.ErrNotFound)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_packages WHERE device_id = ?`, deviceID).Scan(&count); err != nil {
			return err
		}
		for _, kp := range oneTime {
			if count >= maxStored {
				break // the supply is full: keep the older packages, drop the rest
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO key_packages (device_id, kp) VALUES (?, ?)`, deviceID, kp); err != nil {
				return err
			}
			count++
		}
		if lastResort != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO last_resort_packages (device_id, kp) VALUES (?, ?)
				ON CONFLICT (device_id) DO UPDATE SET kp = excluded.kp`, deviceID, lastResort); err != nil {
				return err
			}
		}
		return nil
	})
	return count, err
}

func (s *Store) ClaimKeyPackage(ctx context.Context, deviceID string) ([]byte, bool, error) {
	var kp []byte
	var lastResort bool
	// A write transaction even when it only falls back to the last-resort
	// package: the single writer is what makes a one-time claim at most once.
	err := s.write(ctx, "claim key package", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `DELETE FROM key_packages WHERE id =
			(SELECT id FROM key_packages WHERE device_id = ? ORDER BY id LIMIT 1) RETURNING kp`, deviceID).Scan(&kp)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		err = tx.QueryRowContext(ctx, `SELECT kp FROM last_resort_packages WHERE device_id = ?`, deviceID).Scan(&kp)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("device %s: %w", deviceID, store.ErrNoKeyPackage)
		}
		lastResort = err == nil
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return kp, lastResort, nil
}

func (s *Store) CountKeyPackages(ctx context.Context, deviceID string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_packages WHERE device_id = ?`, deviceID).Scan(&n)
	return n, wrap("count key packages", err)
}
