// Package profile is one device's local state: a directory holding a
// single SQLite file (modernc.org/sqlite, pure Go) with the device's
// Ed25519 key, its account, MLS group states and private key packages,
// message history, the ids of messages already processed (so a message
// redelivered after a lost ack is shown once), the verified key-log heads
// of peers (trust on first use) and contacts.
//
// The file is created with mode 0600 inside a 0700 directory because it
// holds private keys. Changes that belong together — an incoming message,
// the MLS state it advanced and the record that it was seen — are written
// in one transaction (Update), so a crash leaves either all or none of it.
//
// At rest the profile relies on the file's permissions (and the disk's
// encryption, if any): it is not encrypted with a passphrase. What it
// deletes it does not leave behind in the file, though: secure_delete is
// on, so SQLite overwrites freed content (old MLS ratchet states, consumed
// key packages, forgotten conversations) with zeros, and Close checkpoints
// and truncates the write-ahead log, which holds old page images until
// then. Copies the file system or the storage device keep on their own
// (journaling, SSD wear levelling, backups) are beyond a file's reach:
// use full-disk encryption for those.
//
// The package keeps no clock: callers pass times in.
package profile

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the profile's database inside its directory.
const FileName = "profile.db"

// busyTimeoutMS lets two processes on one profile (say `parley chat` and
// `parley recv`) wait for each other's short transactions instead of
// failing with SQLITE_BUSY.
const busyTimeoutMS = 10000

// Errors callers branch on.
var (
	// ErrNotRegistered means the profile has no account yet.
	ErrNotRegistered = errors.New("profile: no account yet (register or link this device first)")
	// ErrNotFound is a missing conversation, peer or message.
	ErrNotFound = errors.New("profile: not found")
	// ErrExists is a conversation that is already stored.
	ErrExists = errors.New("profile: already exists")
	// ErrInUse means another process has the profile open.
	ErrInUse = errors.New("profile: in use by another parley process (close it, or use another --profile)")
)

// Profile is an open profile directory. It is safe for concurrent use.
type Profile struct {
	dir    string
	db     *sql.DB
	unlock func()
}

// Open opens the profile in dir, creating the directory, the database and
// the device key when they do not exist yet.
func Open(dir string) (*Profile, error) {
	if dir == "" {
		return nil, errors.New("profile: empty directory name")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("profile: create %s: %w", dir, err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	p, err := open(dir)
	if err != nil {
		unlock()
		return nil, err
	}
	p.unlock = unlock
	return p, nil
}

func open(dir string) (*Profile, error) {
	path := filepath.Join(dir, FileName)
	// Create the file ourselves so it is 0600 from the first byte: SQLite
	// would create it with the process umask (often world-readable).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("profile: open %s: %w", path, err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("profile: chmod %s: %w", path, err)
	}
	// secure_delete is a per-connection setting: in the DSN, every
	// connection the pool opens gets it.
	dsn := fmt.Sprintf("%s?_busy_timeout=%d&_journal_mode=WAL&_synchronous=FULL&_foreign_keys=1&_pragma=secure_delete(1)", path, busyTimeoutMS)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("profile: open %s: %w", path, err)
	}
	// One writer at a time is what SQLite allows anyway; a single
	// connection also makes BEGIN IMMEDIATE semantics simple.
	db.SetMaxOpenConns(1)
	p := &Profile{dir: dir, db: db}
	if err := p.migrate(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	// WAL side files hold the same secrets as the database.
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + side); err == nil {
			_ = os.Chmod(path+side, 0o600)
		}
	}
	return p, nil
}

// Dir is the profile's directory.
func (p *Profile) Dir() string { return p.dir }

// Close closes the database and releases the profile for other processes.
// It first moves the write-ahead log into the database and truncates it,
// so old page images (with old secrets) do not linger in the -wal file.
func (p *Profile) Close() error {
	_, cerr := p.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	err := p.db.Close()
	p.unlock()
	if err == nil && cerr != nil {
		err = fmt.Errorf("profile: checkpoint: %w", cerr)
	}
	return err
}

// DeviceKey returns the device's key, generating and storing it on first
// use. The key never leaves the profile except to sign.
func (p *Profile) DeviceKey(ctx context.Context) (DeviceKey, error) {
	seed, err := p.meta(ctx, metaDeviceSeed)
	if err == nil && len(seed) == ed25519.SeedSize {
		return DeviceKey{priv: ed25519.NewKeyFromSeed(seed)}, nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return DeviceKey{}, err
	}
	seed = make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	// INSERT OR IGNORE: if another process raced us, its key wins and we
	// read it back, so a profile never ends up with two keys.
	if _, err := p.db.ExecContext(ctx, `INSERT OR IGNORE INTO meta(k, v) VALUES (?, ?)`, metaDeviceSeed, seed); err != nil {
		return DeviceKey{}, fmt.Errorf("profile: store device key: %w", err)
	}
	seed, err = p.meta(ctx, metaDeviceSeed)
	if err != nil {
		return DeviceKey{}, err
	}
	return DeviceKey{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Update runs fn in one write transaction: everything fn writes through tx
// is durable together when Update returns nil, or not at all.
func (p *Profile) Update(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("profile: begin: %w", err)
	}
	if err := fn(&Tx{tx: sqlTx, ctx: ctx}); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("profile: commit: %w", err)
	}
	return nil
}

// Tx is a write transaction handed to Update's function.
type Tx struct {
	tx  *sql.Tx
	ctx context.Context
}

func (t *Tx) exec(query string, args ...any) error {
	_, err := t.tx.ExecContext(t.ctx, query, args...)
	return err
}
