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

func (s *Store) CreateAccount(ctx context.Context, a store.Account, primary store.Device, first store.LogEntry) error {
	return s.createAccount(ctx, a, primary, first, "", time.Time{})
}

func (s *Store) CreateAccountWithInvite(ctx context.Context, a store.Account, primary store.Device, first store.LogEntry, invite string, now time.Time) error {
	return s.createAccount(ctx, a, primary, first, invite, now)
}

// createAccount consumes invite (when not empty) and creates the account
// in one transaction.
func (s *Store) createAccount(ctx context.Context, a store.Account, primary store.Device, first store.LogEntry, invite string, now time.Time) error {
	if first.Index != 0 {
		return fmt.Errorf("sqlite: create account: first key-log entry has index %d: %w", first.Index, store.ErrLogConflict)
	}
	return s.write(ctx, "create account", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE handle = ?`, a.Handle).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%s: %w", a.Handle, store.ErrHandleTaken)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, handle, created_at, presence, last_seen) VALUES (?, ?, ?, ?, ?)`,
			a.ID, a.Handle, unixnano.From(a.CreatedAt), a.Presence, unixnano.From(a.LastSeen)); err != nil {
			if isUnique(err) {
				return fmt.Errorf("account id %s: %w (%w)", a.ID, store.ErrExists, err)
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, account_id, signing_key, name, is_primary, added_at) VALUES (?, ?, ?, ?, 1, ?)`,
			primary.ID, a.ID, primary.SigningKey, primary.Name, unixnano.From(primary.AddedAt)); err != nil {
			if isUnique(err) {
				return fmt.Errorf("device %s: %w (%w)", primary.ID, store.ErrExists, err)
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO key_log (account_id, idx, entry) VALUES (?, 0, ?)`, a.ID, first.Entry); err != nil {
			return err
		}
		if invite == "" {
			return nil
		}
		return useInvite(ctx, tx, invite, now)
	})
}

const accountCols = `id, handle, created_at, presence, last_seen`

func scanAccount(row *sql.Row) (store.Account, error) {
	var a store.Account
	var created, seen int64
	if err := row.Scan(&a.ID, &a.Handle, &created, &a.Presence, &seen); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return a, store.ErrNotFound
		}
		return a, err
	}
	a.CreatedAt, a.LastSeen = unixnano.Time(created), unixnano.Time(seen)
	return a, nil
}

func (s *Store) AccountByID(ctx context.Context, id string) (store.Account, error) {
	a, err := scanAccount(s.r.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id))
	return a, wrap("account "+id, err)
}

func (s *Store) AccountByHandle(ctx context.Context, handle string) (store.Account, error) {
	a, err := scanAccount(s.r.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE handle = ?`, handle))
	return a, wrap("account "+handle, err)
}

// appendLog inserts entry as the account's next key-log link.
func appendLog(ctx context.Context, tx *sql.Tx, accountID string, entry store.LogEntry) error {
	var next uint64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM key_log WHERE account_id = ?`, accountID).Scan(&next); err != nil {
		return err
	}
	if entry.Index != next {
		return fmt.Errorf("entry index %d, next is %d: %w", entry.Index, next, store.ErrLogConflict)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO key_log (account_id, idx, entry) VALUES (?, ?, ?)`, accountID, entry.Index, entry.Entry)
	return err
}

func (s *Store) AddDevice(ctx context.Context, d store.Device, entry store.LogEntry, maxDevices int) error {
	return s.write(ctx, "add device", func(tx *sql.Tx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE id = ?`, d.AccountID).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return fmt.Errorf("account %s: %w", d.AccountID, store.ErrNotFound)
		}
		var active int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM devices WHERE account_id = ? AND revoked_at = 0`, d.AccountID).Scan(&active); err != nil {
			return err
		}
		if active >= maxDevices {
			return fmt.Errorf("account %s has %d active devices: %w", d.AccountID, active, store.ErrDeviceLimit)
		}
		if err := appendLog(ctx, tx, d.AccountID, entry); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, account_id, signing_key, name, is_primary, added_at) VALUES (?, ?, ?, ?, 0, ?)`,
			d.ID, d.AccountID, d.SigningKey, d.Name, unixnano.From(d.AddedAt)); err != nil {
			if isUnique(err) {
				return fmt.Errorf("device %s: %w (%w)", d.ID, store.ErrExists, err)
			}
			return err
		}
		return nil
	})
}

func (s *Store) RevokeDevice(ctx context.Context, accountID, deviceID string, entry store.LogEntry, at time.Time) error {
	return s.write(ctx, "revoke device", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE devices SET revoked_at = ? WHERE id = ? AND account_id = ? AND revoked_at = 0`,
			unixnano.From(at), deviceID, accountID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("active device %s of account %s: %w", deviceID, accountID, store.ErrNotFound)
		}
		if err := appendLog(ctx, tx, accountID, entry); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM key_packages WHERE device_id = ?`,
			`DELETE FROM last_resort_packages WHERE device_id = ?`,
			`DELETE FROM mail WHERE device_id = ?`,
			`DELETE FROM group_members WHERE device_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, deviceID); err != nil {
				return err
			}
		}
		return nil
	})
}

const deviceCols = `id, account_id, signing_key, name, is_primary, added_at, revoked_at`

type scanner interface{ Scan(...any) error }

func scanDevice(row scanner) (store.Device, error) {
	var d store.Device
	var added, revoked int64
	if err := row.Scan(&d.ID, &d.AccountID, &d.SigningKey, &d.Name, &d.Primary, &added, &revoked); err != nil {
		return d, err
	}
	d.AddedAt, d.RevokedAt = unixnano.Time(added), unixnano.Time(revoked)
	return d, nil
}

func (s *Store) Device(ctx context.Context, id string) (store.Device, error) {
	d, err := scanDevice(s.r.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	return d, wrap("device "+id, err)
}

func (s *Store) DeviceAuth(ctx context.Context, id string, now time.Time) (store.DeviceAuth, error) {
	var r store.DeviceAuth
	var added, revoked int64
	d := &r.Device
	err := s.r.QueryRowContext(ctx, `SELECT d.id, d.account_id, d.signing_key, d.name, d.is_primary, d.added_at, d.revoked_at, a.handle,
		(SELECT COUNT(*) FROM key_packages WHERE device_id = d.id AND (not_after = 0 OR not_after > ?2)),
		(SELECT COUNT(*) FROM mail WHERE device_id = d.id),
		COALESCE((SELECT last_seq FROM mailbox_seq WHERE device_id = d.id), 0),
		EXISTS (SELECT 1 FROM channel_roles WHERE account_id = d.account_id) OR
			EXISTS (SELECT 1 FROM channel_followers WHERE account_id = d.account_id)
		FROM devices d JOIN accounts a ON a.id = d.account_id WHERE d.id = ?1`, id, now.UnixNano()).
		Scan(&d.ID, &d.AccountID, &d.SigningKey, &d.Name, &d.Primary, &added, &revoked, &r.Handle,
			&r.KeyPackagesLeft, &r.MailboxDepth, &r.LastSeq, &r.InChannels)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.DeviceAuth{}, wrap("device "+id, err)
	}
	d.AddedAt, d.RevokedAt = unixnano.Time(added), unixnano.Time(revoked)
	return r, nil
}

func (s *Store) Devices(ctx context.Context, accountID string) ([]store.Device, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE account_id = ? AND revoked_at = 0
		ORDER BY is_primary DESC, added_at, id`, accountID)
	if err != nil {
		return nil, wrap("devices", err)
	}
	defer rows.Close()
	var ds []store.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, wrap("devices", err)
		}
		ds = append(ds, d)
	}
	return ds, wrap("devices", rows.Err())
}

func (s *Store) KeyLog(ctx context.Context, accountID string, from uint64) ([]store.LogEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT idx, entry FROM key_log WHERE account_id = ? AND idx >= ? ORDER BY idx`, accountID, clamp(from))
	if err != nil {
		return nil, wrap("key log", err)
	}
	defer rows.Close()
	var es []store.LogEntry
	for rows.Next() {
		e := store.LogEntry{AccountID: accountID}
		if err := rows.Scan(&e.Index, &e.Entry); err != nil {
			return nil, wrap("key log", err)
		}
		es = append(es, e)
	}
	return es, wrap("key log", rows.Err())
}

func (s *Store) CreateInvite(ctx context.Context, code string, expiresAt time.Time) error {
	return s.write(ctx, "create invite", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO invites (code, expires_at) VALUES (?, ?)`, code, unixnano.From(expiresAt))
		return err
	})
}

func (s *Store) UseInvite(ctx context.Context, code string, now time.Time) error {
	return s.write(ctx, "use invite", func(tx *sql.Tx) error { return useInvite(ctx, tx, code, now) })
}

func useInvite(ctx context.Context, tx *sql.Tx, code string, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE invites SET used = 1 WHERE code = ? AND used = 0 AND expires_at >= ?`, code, unixnano.From(now))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return store.ErrInviteInvalid
	}
	return nil
}

func (s *Store) PutLinkRequest(ctx context.Context, r store.LinkRequest, now time.Time) error {
	return s.write(ctx, "put link request", func(tx *sql.Tx) error {
		// Take the code over from an expired request the sweeper has not
		// deleted yet; a live one keeps it.
		res, err := tx.ExecContext(ctx, `INSERT INTO link_requests (code, device_id, signing_key, name, expires_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (code) DO UPDATE SET device_id = excluded.device_id, signing_key = excluded.signing_key,
				name = excluded.name, expires_at = excluded.expires_at
			WHERE link_requests.expires_at < ?`,
			r.Code, r.DeviceID, r.SigningKey, r.Name, unixnano.From(r.ExpiresAt), unixnano.From(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("link code: %w", store.ErrExists)
		}
		return nil
	})
}

func (s *Store) LinkRequest(ctx context.Context, code string, now time.Time) (store.LinkRequest, error) {
	r := store.LinkRequest{Code: code}
	var exp int64
	err := s.r.QueryRowContext(ctx, `SELECT device_id, signing_key, name, expires_at FROM link_requests WHERE code = ?`, code).
		Scan(&r.DeviceID, &r.SigningKey, &r.Name, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return store.LinkRequest{}, wrap("link request", store.ErrNotFound)
	}
	if err != nil {
		return store.LinkRequest{}, wrap("link request", err)
	}
	r.ExpiresAt = unixnano.Time(exp)
	if r.ExpiresAt.Before(now) {
		return store.LinkRequest{}, wrap("link request", store.ErrExpired)
	}
	return r, nil
}

func (s *Store) DeleteLinkRequest(ctx context.Context, code string) error {
	return s.write(ctx, "delete link request", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM link_requests WHERE code = ?`, code)
		return err
	})
}
