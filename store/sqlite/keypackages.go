package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/unixnano"
)

// Key packages: not_after is the end of a package's lifetime in Unix
// nanoseconds, 0 when not known (kept, see store.KeyPackage).

func (s *Store) PutKeyPackages(ctx context.Context, deviceID string, oneTime []store.KeyPackage, lastResort *store.KeyPackage, maxStored int, now time.Time) (int, error) {
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
		// Expired packages do not count against the supply: drop them so
		// the upload that replaces them fits.
		if err := deleteExpired(ctx, tx, deviceID, now); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_packages WHERE device_id = ?`, deviceID).Scan(&count); err != nil {
			return err
		}
		for _, kp := range oneTime {
			if count >= maxStored {
				break // the supply is full: keep the older packages, drop the rest
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO key_packages (device_id, kp, not_after) VALUES (?, ?, ?)`,
				deviceID, kp.Data, unixnano.From(kp.NotAfter)); err != nil {
				return err
			}
			count++
		}
		if lastResort != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO last_resort_packages (device_id, kp, not_after) VALUES (?, ?, ?)
				ON CONFLICT (device_id) DO UPDATE SET kp = excluded.kp, not_after = excluded.not_after`,
				deviceID, lastResort.Data, unixnano.From(lastResort.NotAfter)); err != nil {
				return err
			}
		}
		return nil
	})
	return count, err
}

// deleteExpired drops the device's one-time and last-resort packages whose
// lifetime ended by now.
func deleteExpired(ctx context.Context, tx *sql.Tx, deviceID string, now time.Time) error {
	t := now.UnixNano()
	if _, err := tx.ExecContext(ctx, `DELETE FROM key_packages WHERE device_id = ? AND not_after != 0 AND not_after <= ?`, deviceID, t); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM last_resort_packages WHERE device_id = ? AND not_after != 0 AND not_after <= ?`, deviceID, t)
	return err
}

func (s *Store) ClaimKeyPackage(ctx context.Context, deviceID string, now time.Time) ([]byte, bool, error) {
	var kp []byte
	var found, lastResort bool
	// A write transaction even when it only falls back to the last-resort
	// package: the single writer is what makes a one-time claim at most
	// once, and expired packages are deleted on the way.
	err := s.write(ctx, "claim key package", func(tx *sql.Tx) error {
		if err := deleteExpired(ctx, tx, deviceID, now); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `DELETE FROM key_packages WHERE id =
			(SELECT id FROM key_packages WHERE device_id = ? ORDER BY id LIMIT 1) RETURNING kp`, deviceID).Scan(&kp)
		if err == nil {
			found = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		err = tx.QueryRowContext(ctx, `SELECT kp FROM last_resort_packages WHERE device_id = ?`, deviceID).Scan(&kp)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // no package, but commit the deletion of expired ones
		}
		found, lastResort = err == nil, err == nil
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if !found {
		return nil, false, wrap("claim key package", fmt.Errorf("device %s: %w", deviceID, store.ErrNoKeyPackage))
	}
	return kp, lastResort, nil
}

func (s *Store) CountKeyPackages(ctx context.Context, deviceID string, now time.Time) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_packages
		WHERE device_id = ? AND (not_after = 0 OR not_after > ?)`, deviceID, now.UnixNano()).Scan(&n)
	return n, wrap("count key packages", err)
}
