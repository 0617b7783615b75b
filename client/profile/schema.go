package profile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migrations are applied in order; PRAGMA user_version records how many
// have run. Append only: a released migration is never edited.
var migrations = []string{
	`CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
	CREATE TABLE conversations (
		group_id BLOB PRIMARY KEY,
		kind INTEGER NOT NULL,
		peer_account TEXT NOT NULL,
		peer_handle TEXT NOT NULL,
		epoch INTEGER NOT NULL,
		state BLOB NOT NULL,
		created_ms INTEGER NOT NULL
	);
	CREATE INDEX conversations_peer ON conversations(peer_account);
	CREATE TABLE key_packages (
		ref BLOB PRIMARY KEY,
		bundle BLOB NOT NULL,
		last_resort INTEGER NOT NULL,
		created_ms INTEGER NOT NULL
	);
	CREATE TABLE messages (
		id BLOB PRIMARY KEY,
		group_id BLOB NOT NULL,
		sender_account TEXT NOT NULL,
		sender_handle TEXT NOT NULL,
		sender_device TEXT NOT NULL,
		text TEXT NOT NULL,
		sent_ms INTEGER NOT NULL,
		received_ms INTEGER NOT NULL,
		outgoing INTEGER NOT NULL,
		status INTEGER NOT NULL DEFAULT 0,
		shown INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX messages_group ON messages(group_id, received_ms);
	CREATE INDEX messages_unshown ON messages(shown, received_ms);
	CREATE TABLE seen (id BLOB PRIMARY KEY, at_ms INTEGER NOT NULL);
	CREATE INDEX seen_at ON seen(at_ms);
	CREATE TABLE peers (
		account_id TEXT PRIMARY KEY,
		handle TEXT NOT NULL,
		log_index INTEGER NOT NULL,
		head_hash BLOB NOT NULL,
		device_list BLOB NOT NULL,
		verified_ms INTEGER NOT NULL
	);
	CREATE INDEX peers_handle ON peers(handle);
	CREATE TABLE contacts (
		account_id TEXT PRIMARY KEY,
		handle TEXT NOT NULL,
		added_ms INTEGER NOT NULL
	);`,
	// 2: channels (client/profile/channels.go). Channel private keys are
	// kept like the device key: in this 0600 file, never sent anywhere but
	// the channel's CHANNEL_ADMINS MLS group.
	`ALTER TABLE conversations ADD COLUMN channel_id TEXT NOT NULL DEFAULT '';
	CREATE INDEX conversations_channel ON conversations(channel_id);
	CREATE TABLE channel_keys (
		channel_id TEXT NOT NULL,
		key_index INTEGER NOT NULL,
		seed BLOB NOT NULL,
		added_ms INTEGER NOT NULL,
		PRIMARY KEY (channel_id, key_index)
	);
	CREATE TABLE channels (
		channel_id TEXT PRIMARY KEY,
		channel BLOB NOT NULL,
		role INTEGER NOT NULL,
		cursor INTEGER NOT NULL DEFAULT 0,
		muted INTEGER NOT NULL DEFAULT 0,
		admins TEXT NOT NULL DEFAULT '',
		updated_ms INTEGER NOT NULL
	);
	CREATE TABLE channel_posts (
		channel_id TEXT NOT NULL,
		post_id BLOB NOT NULL,
		seq INTEGER NOT NULL,
		version INTEGER NOT NULL,
		signed BLOB,
		published_ms INTEGER NOT NULL,
		expires_ms INTEGER NOT NULL,
		edited INTEGER NOT NULL DEFAULT 0,
		deleted INTEGER NOT NULL DEFAULT 0,
		shown INTEGER NOT NULL DEFAULT 0,
		received_ms INTEGER NOT NULL,
		PRIMARY KEY (channel_id, post_id)
	);
	CREATE INDEX channel_posts_seq ON channel_posts(channel_id, seq);
	CREATE INDEX channel_posts_unshown ON channel_posts(shown, received_ms);
	CREATE INDEX channel_posts_expiry ON channel_posts(expires_ms);`,
	// 3: a commit this device sent but whose answer it has not seen yet
	// (client/commit.go). It is saved, with the MLS state holding it as
	// pending, before the commit leaves, so a crash or a lost answer
	// never makes the device forget a commit the server accepted.
	`ALTER TABLE conversations ADD COLUMN pending_commit BLOB;`,
}

func (p *Profile) migrate(ctx context.Context) error {
	var version int
	if err := p.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("profile: read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("profile: %s was written by a newer parley (schema %d, this one knows %d); upgrade parley", p.dir, version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		tx, err := p.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("profile: migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("profile: migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("profile: migration %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("profile: migration %d: %w", i+1, err)
		}
	}
	return nil
}

// Keys of the meta table.
const (
	metaDeviceSeed = "device_seed"
	metaAccountID  = "account_id"
	metaHandle     = "handle"
	metaDeviceID   = "device_id"
	metaPrimary    = "primary"
	metaServerURL  = "server_url"
	metaAckedSeq   = "acked_seq"
)

func (p *Profile) meta(ctx context.Context, k string) ([]byte, error) {
	var v []byte
	err := p.db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = ?`, k).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("profile: read %s: %w", k, err)
	}
	return v, nil
}

func (t *Tx) setMeta(k string, v []byte) error {
	return t.exec(`INSERT INTO meta(k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, k, v)
}
