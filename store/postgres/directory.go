package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
		return fmt.Errorf("postgres: create account: first key-log entry has index %d: %w", first.Index, store.ErrLogConflict)
	}
	return s.tx(ctx, "create account", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO accounts (id, handle, created_at, presence, last_seen) VALUES ($1, $2, $3, $4, $5)`,
			a.ID, a.Handle, unixnano.From(a.CreatedAt), a.Presence, unixnano.From(a.LastSeen))
		switch uniqueViolation(err) {
		case "":
		case "accounts_handle":
			return fmt.Errorf("%s: %w", a.Handle, store.ErrHandleTaken)
		default:
			return fmt.Errorf("account id %s: %w (%w)", a.ID, store.ErrExists, err)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO devices (id, account_id, signing_key, name, is_primary, added_at) VALUES ($1, $2, $3, $4, true, $5)`,
			primary.ID, a.ID, primary.SigningKey, primary.Name, unixnano.From(primary.AddedAt)); err != nil {
			if uniqueViolation(err) != "" {
				return fmt.Errorf("device %s: %w (%w)", primary.ID, store.ErrExists, err)
			}
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO key_log (account_id, idx, entry) VALUES ($1, 0, $2)`, a.ID, first.Entry); err != nil {
			return err
		}
		if invite == "" {
			return nil
		}
		return useInvite(ctx, tx, invite, now)
	})
}

const accountCols = `id, handle, created_at, presence, last_seen`

func (s *Store) account(ctx context.Context, op, where string, arg string) (store.Account, error) {
	var a store.Account
	var created, seen int64
	err := s.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE `+where, arg).
		Scan(&a.ID, &a.Handle, &created, &a.Presence, &seen)
	if err != nil {
		return store.Account{}, wrap(op, err)
	}
	a.CreatedAt, a.LastSeen = unixnano.Time(created), unixnano.Time(seen)
	return a, nil
}

func (s *Store) AccountByID(ctx context.Context, id string) (store.Account, error) {
	return s.account(ctx, "account "+id, `id = $1`, id)
}

func (s *Store) AccountByHandle(ctx context.Context, handle string) (store.Account, error) {
	return s.account(ctx, "account "+handle, `lower(handle) = lower($1)`, handle)
}

// lockAccount serialises changes to one account's devices and key log
// across nodes; ErrNotFound if the account does not exist.
func lockAccount(ctx context.Context, tx pgx.Tx, accountID string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE`, accountID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("account %s: %w", accountID, store.ErrNotFound)
	}
	return err
}

// appendLog inserts entry as the account's next key-log link. The caller
// holds the account's lock.
func appendLog(ctx context.Context, tx pgx.Tx, accountID string, entry store.LogEntry) error {
	var next uint64
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM key_log WHERE account_id = $1`, accountID).Scan(&next); err != nil {
		return err
	}
	if entry.Index != next {
		return fmt.Errorf("entry index %d, next is %d: %w", entry.Index, next, store.ErrLogConflict)
	}
	_, err := tx.Exec(ctx, `INSERT INTO key_log (account_id, idx, entry) VALUES ($1, $2, $3)`, accountID, int64(entry.Index), entry.Entry)
	return err
}

func (s *Store) AddDevice(ctx context.Context, d store.Device, entry store.LogEntry, maxDevices int) error {
	return s.tx(ctx, "add device", func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, d.AccountID); err != nil {
			return err
		}
		var active int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM devices WHERE account_id = $1 AND revoked_at = 0`, d.AccountID).Scan(&active); err != nil {
			return err
		}
		if active >= maxDevices {
			return fmt.Errorf("account %s has %d active devices: %w", d.AccountID, active, store.ErrDeviceLimit)
		}
		if err := appendLog(ctx, tx, d.AccountID, entry); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO devices (id, account_id, signing_key, name, is_primary, added_at) VALUES ($1, $2, $3, $4, false, $5)`,
			d.ID, d.AccountID, d.SigningKey, d.Name, unixnano.From(d.AddedAt)); err != nil {
			if uniqueViolation(err) != "" {
				return fmt.Errorf("device %s: %w (%w)", d.ID, store.ErrExists, err)
			}
			return err
		}
		return nil
	})
}

func (s *Store) RevokeDevice(ctx context.Context, accountID, deviceID string, entry store.LogEntry, at time.Time) error {
	return s.tx(ctx, "revoke device", func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE devices SET revoked_at = $1 WHERE id = $2 AND account_id = $3 AND revoked_at = 0`,
			unixnano.From(at), deviceID, accountID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("active device %s of account %s: %w", deviceID, accountID, store.ErrNotFound)
		}
		if err := appendLog(ctx, tx, accountID, entry); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM key_packages WHERE device_id = $1`,
			`DELETE FROM last_resort_packages WHERE device_id = $1`,
			`DELETE FROM mail WHERE device_id = $1`,
			`DELETE FROM group_members WHERE device_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, deviceID); err != nil {
				return err
			}
		}
		return nil
	})
}

const deviceCols = `id, account_id, signing_key, name, is_primary, added_at, revoked_at`

func scanDevice(row pgx.Row) (store.Device, error) {
	var d store.Device
	var added, revoked int64
	if err := row.Scan(&d.ID, &d.AccountID, &d.SigningKey, &d.Name, &d.Primary, &added, &revoked); err != nil {
		return store.Device{}, err
	}
	d.AddedAt, d.RevokedAt = unixnano.Time(added), unixnano.Time(revoked)
	return d, nil
}

func (s *Store) DeviceAuth(ctx context.Context, id string, now time.Time) (store.DeviceAuth, error) {
	var r store.DeviceAuth
	var added, revoked, left, depth, last int64
	d := &r.Device
	err := s.pool.QueryRow(ctx, `SELECT d.id, d.account_id, d.signing_key, d.name, d.is_primary, d.added_at, d.revoked_at, a.handle,
		(SELECT COUNT(*) FROM key_packages WHERE device_id = d.id AND (not_after = 0 OR not_after > $2)),
		(SELECT COUNT(*) FROM mail WHERE device_id = d.id),
		COALESCE((SELECT last_seq FROM mailbox_seq WHERE device_id = d.id), 0),
		EXISTS (SELECT 1 FROM channel_roles WHERE account_id = d.account_id) OR
			EXISTS (SELECT 1 FROM channel_followers WHERE account_id = d.account_id)
		FROM devices d JOIN accounts a ON a.id = d.account_id WHERE d.id = $1`, id, now.UnixNano()).
		Scan(&d.ID, &d.AccountID, &d.SigningKey, &d.Name, &d.Primary, &added, &revoked, &r.Handle, &left, &depth, &last, &r.InChannels)
	if err != nil {
		return store.DeviceAuth{}, wrap("device "+id, err)
	}
	d.AddedAt, d.RevokedAt = unixnano.Time(added), unixnano.Time(revoked)
	r.KeyPackagesLeft, r.MailboxDepth, r.LastSeq = int(left), int(depth), uint64(last)
	return r, nil
}

func (s *Store) Device(ctx context.Context, id string) (store.Device, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = $1`, id))
	return d, wrap("device "+id, err)
}

func (s *Store) Devices(ctx context.Context, accountID string) ([]store.Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deviceCols+` FROM devices WHERE account_id = $1 AND revoked_at = 0
		ORDER BY is_primary DESC, added_at, id`, accountID)
	if err != nil {
		return nil, wrap("devices", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Device, error) { return scanDevice(r) })
	return ds, wrap("devices", err)
}

func (s *Store) KeyLog(ctx context.Context, accountID string, from uint64) ([]store.LogEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT idx, entry FROM key_log WHERE account_id = $1 AND idx >= $2 ORDER BY idx`,
		accountID, int64(min(from, 1<<63-1)))
	if err != nil {
		return nil, wrap("key log", err)
	}
	es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.LogEntry, error) {
		e := store.LogEntry{AccountID: accountID}
		var idx int64
		err := r.Scan(&idx, &e.Entry)
		e.Index = uint64(idx)
		return e, err
	})
	return es, wrap("key log", err)
}

func (s *Store) CreateInvite(ctx context.Context, code string, expiresAt time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO invites (code, expires_at) VALUES ($1, $2)`, code, unixnano.From(expiresAt))
	return wrap("create invite", err)
}

func (s *Store) UseInvite(ctx context.Context, code string, now time.Time) error {
	return wrap("use invite", useInvite(ctx, s.pool, code, now))
}

func useInvite(ctx context.Context, q execer, code string, now time.Time) error {
	tag, err := q.Exec(ctx, `UPDATE invites SET used = true WHERE code = $1 AND NOT used AND expires_at >= $2`, code, unixnano.From(now))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrInviteInvalid
	}
	return nil
}

func (s *Store) PutLinkRequest(ctx context.Context, r store.LinkRequest, now time.Time) error {
	// Take the code over from an expired request the sweeper has not
	// deleted yet; a live one keeps it. The upsert is atomic against a
	// concurrent request for the same code.
	tag, err := s.pool.Exec(ctx, `INSERT INTO link_requests (code, device_id, signing_key, name, expires_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (code) DO UPDATE SET device_id = EXCLUDED.device_id, signing_key = EXCLUDED.signing_key,
			name = EXCLUDED.name, expires_at = EXCLUDED.expires_at
		WHERE link_requests.expires_at < $6`,
		r.Code, r.DeviceID, r.SigningKey, r.Name, unixnano.From(r.ExpiresAt), unixnano.From(now))
	if err != nil {
		return wrap("put link request", err)
	}
	if tag.RowsAffected() == 0 {
		return wrap("put link request", fmt.Errorf("link code: %w", store.ErrExists))
	}
	return nil
}

func (s *Store) LinkRequest(ctx context.Context, code string, now time.Time) (store.LinkRequest, error) {
	r := store.LinkRequest{Code: code}
	var exp int64
	err := s.pool.QueryRow(ctx, `SELECT device_id, signing_key, name, expires_at FROM link_requests WHERE code = $1`, code).
		Scan(&r.DeviceID, &r.SigningKey, &r.Name, &exp)
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
	_, err := s.pool.Exec(ctx, `DELETE FROM link_requests WHERE code = $1`, code)
	return wrap("delete link request", err)
}
