package profile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Peer is an account whose key log this device verified: the head it
// trusts (trust on first use, then every fetch must extend this chain) and
// the device list that head carries.
type Peer struct {
	AccountID  string
	Handle     string
	LogIndex   uint64 // index of the head entry
	HeadHash   []byte // identity.EntryHash of the head entry
	DeviceList []byte // serialized proto.SignedDeviceList of the head
	Verified   time.Time
}

const peerColumns = `account_id, handle, log_index, head_hash, device_list, verified_ms`

func scanPeer(row *sql.Row) (Peer, error) {
	var pr Peer
	var at int64
	err := row.Scan(&pr.AccountID, &pr.Handle, &pr.LogIndex, &pr.HeadHash, &pr.DeviceList, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Peer{}, ErrNotFound
	}
	if err != nil {
		return Peer{}, fmt.Errorf("profile: read peer: %w", err)
	}
	pr.Verified = time.UnixMilli(at)
	return pr, nil
}

// Peer returns the verified head of an account.
func (p *Profile) Peer(ctx context.Context, accountID string) (Peer, error) {
	return scanPeer(p.db.QueryRowContext(ctx, `SELECT `+peerColumns+` FROM peers WHERE account_id = ?`, accountID))
}

// PeerByHandle returns the verified head of the account with this handle.
func (p *Profile) PeerByHandle(ctx context.Context, handle string) (Peer, error) {
	return scanPeer(p.db.QueryRowContext(ctx, `SELECT `+peerColumns+` FROM peers WHERE handle = ?`, handle))
}

// SavePeer records a newly verified head.
func (p *Profile) SavePeer(ctx context.Context, pr Peer) error {
	_, err := p.db.ExecContext(ctx, `INSERT INTO peers(`+peerColumns+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(account_id) DO UPDATE SET handle = excluded.handle, log_index = excluded.log_index,
			head_hash = excluded.head_hash, device_list = excluded.device_list, verified_ms = excluded.verified_ms`,
		pr.AccountID, pr.Handle, pr.LogIndex, pr.HeadHash, pr.DeviceList, pr.Verified.UnixMilli())
	if err != nil {
		return fmt.Errorf("profile: save peer: %w", err)
	}
	return nil
}

// Contact is an account the user added to their contacts.
type Contact struct {
	AccountID string
	Handle    string
	Added     time.Time
}

// SetContact adds (on) or removes a contact.
func (p *Profile) SetContact(ctx context.Context, c Contact, on bool) error {
	var err error
	if on {
		_, err = p.db.ExecContext(ctx, `INSERT INTO contacts(account_id, handle, added_ms) VALUES (?, ?, ?)
			ON CONFLICT(account_id) DO UPDATE SET handle = excluded.handle`, c.AccountID, c.Handle, c.Added.UnixMilli())
	} else {
		_, err = p.db.ExecContext(ctx, `DELETE FROM contacts WHERE account_id = ?`, c.AccountID)
	}
	if err != nil {
		return fmt.Errorf("profile: save contact: %w", err)
	}
	return nil
}

// Contacts lists the contacts by handle.
func (p *Profile) Contacts(ctx context.Context) ([]Contact, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT account_id, handle, added_ms FROM contacts ORDER BY handle`)
	if err != nil {
		return nil, fmt.Errorf("profile: list contacts: %w", err)
	}
	defer rows.Close()
	var out []Contact
	for rows.Next() {
		var c Contact
		var at int64
		if err := rows.Scan(&c.AccountID, &c.Handle, &at); err != nil {
			return nil, err
		}
		c.Added = time.UnixMilli(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// KeyPackage is one of this device's key packages with its private keys
// (mls KeyPackageBundle.Marshal), kept until a Welcome consumes it.
type KeyPackage struct {
	Ref        []byte
	Bundle     []byte
	LastResort bool
	Created    time.Time
}

// PutKeyPackage stores a bundle.
func (t *Tx) PutKeyPackage(kp KeyPackage) error {
	return t.exec(`INSERT OR REPLACE INTO key_packages(ref, bundle, last_resort, created_ms) VALUES (?, ?, ?, ?)`,
		kp.Ref, kp.Bundle, kp.LastResort, kp.Created.UnixMilli())
}

// DeleteKeyPackage drops a consumed one-time bundle.
func (t *Tx) DeleteKeyPackage(ref []byte) error {
	return t.exec(`DELETE FROM key_packages WHERE ref = ?`, ref)
}

// DeleteLastResort drops the previous last-resort bundles before a new one
// replaces them on the server.
func (t *Tx) DeleteLastResort() error {
	return t.exec(`DELETE FROM key_packages WHERE last_resort = 1`)
}

// PruneKeyPackages drops the bundles created before `before` (their
// packages expired and no Welcome made from them can still arrive).
func (t *Tx) PruneKeyPackages(before time.Time) error {
	return t.exec(`DELETE FROM key_packages WHERE created_ms < ?`, before.UnixMilli())
}

// KeyPackages returns every stored bundle, last-resort ones last.
func (p *Profile) KeyPackages(ctx context.Context) ([]KeyPackage, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT ref, bundle, last_resort, created_ms FROM key_packages ORDER BY last_resort, created_ms`)
	if err != nil {
		return nil, fmt.Errorf("profile: list key packages: %w", err)
	}
	defer rows.Close()
	var out []KeyPackage
	for rows.Next() {
		var kp KeyPackage
		var at int64
		if err := rows.Scan(&kp.Ref, &kp.Bundle, &kp.LastResort, &at); err != nil {
			return nil, err
		}
		kp.Created = time.UnixMilli(at)
		out = append(out, kp)
	}
	return out, rows.Err()
}
