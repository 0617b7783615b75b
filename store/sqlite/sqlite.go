// Package sqlite is Parley's embedded store: one SQLite file, pure Go
// (modernc.org/sqlite), no external service. It is the default for a
// single-node `parley serve`.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a
// transaction is on disk (the WAL is fsynced) before Commit returns. WAL with
// synchronous=NORMAL would survive a kill -9 of the process but could lose
// the last transactions on an OS crash or power cut, and the server
// acknowledges a message only once it is durable. The cost of the extra
// fsync is paid once per transaction, and Deliver writes a whole batch of
// messages in one transaction (group commit), so it is small per message.
//
// Concurrency: SQLite allows one writer at a time. All writes go through a
// pool of exactly one connection, so they are serialised in Go (waiting
// callers queue in database/sql and honour their context) instead of
// spinning on SQLITE_BUSY. Reads use a small separate pool of query-only
// connections, which WAL lets run alongside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/sqlchannels"
)

const (
	// maxReaders bounds the read pool. Reads are short; two cores gain
	// nothing from more, and each connection holds its own page cache.
	maxReaders = 4

	// busyTimeoutMs is how long a connection waits for a lock held by
	// another process (a backup tool, `sqlite3` in a shell) before failing
	// with ErrUnavailable. Within this process the writer is never contended.
	busyTimeoutMs = 5000

	// writerCacheKiB is the writer connection's page cache. The writer
	// touches the tails of mail, message_ids and their indexes and a
	// scattered page per device it numbers mail for; SQLite's default
	// (2 MiB) made it read pages back from the OS at every batch.
	writerCacheKiB = 32 << 10

	// walCheckpointPages is the WAL size (in pages, 16 MiB at 4 KiB) past
	// which a commit copies the WAL back into the database file. A page
	// written by many transactions in between (the counters, the tails of
	// the tables and indexes) is copied once per checkpoint, so a longer
	// WAL than SQLite's default (1,000 pages) means fewer writes per
	// message.
	walCheckpointPages = 4000

	// MaxFetch bounds the entries one Fetch returns, whatever limit asks.
	MaxFetch = 1024

	// keptCommits is how many past epochs keep their winning commit for
	// EpochConflict. A client more than this many epochs behind gets no
	// winning commit and must rejoin from the GroupInfo.
	keptCommits = 64
)

// Store is the SQLite implementation of store.Store.
type Store struct {
	w    *sql.DB // exactly one connection: the writer
	r    *sql.DB // query-only readers
	seqs *seqCache
	// gen counts the writer connections opened; seqs is only valid on
	// the one it was filled on.
	gen atomic.Uint64
	*sqlchannels.Channels
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path, applies any
// pending schema migrations and returns the store.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty database path")
	}
	// The database file must be a file we can create or open; give a clear
	// error for a missing directory rather than SQLite's "out of memory".
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	} else {
		f.Close()
	}
	s := &Store{seqs: newSeqCache()}
	w := sql.OpenDB(&connector{dsn: dsn(path, false), opened: &s.gen})
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	s.w = w
	if err := s.init(ctx, path); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init(ctx context.Context, path string) error {
	// The first statement touches the file: on one that is not a database
	// this fails with SQLITE_NOTADB, reported as such instead of a
	// migration error.
	mode, err := setWAL(ctx, s.w)
	if isBusy(err) {
		return fmt.Errorf("sqlite: open %s: another process holds the database locked; stop it or retry: %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("sqlite: open %s: not a usable Parley database (restore it from a backup, or move it aside to start empty): %w", path, err)
	}
	if mode != "wal" {
		return fmt.Errorf("sqlite: open %s: journal mode is %q, want wal", path, mode)
	}
	var check string
	if err := s.w.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil {
		return fmt.Errorf("sqlite: open %s: integrity check: %w", path, err)
	}
	if check != "ok" {
		return fmt.Errorf("sqlite: open %s: database is corrupt (%s); restore it from a backup", path, check)
	}
	if err := migrate(ctx, s.w, migrations, 0); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r := sql.OpenDB(&connector{dsn: dsn(path, true)})
	r.SetMaxOpenConns(maxReaders)
	r.SetMaxIdleConns(maxReaders)
	s.r = r
	s.Channels = s.newChannels()
	return nil
}

// setWAL switches the database file to WAL mode (a no-op once it is in
// it: the mode is stored in the file) and returns the mode now in force.
// SQLite does not call the busy handler for this switch, which needs an
// exclusive lock (waiting for it while holding a read lock could
// deadlock), so two processes opening a fresh file at once can get
// SQLITE_BUSY straight away: retry, for as long as busyTimeoutMs would
// have waited.
func setWAL(ctx context.Context, db *sql.DB) (string, error) {
	deadline := time.Now().Add(busyTimeoutMs * time.Millisecond)
	for pause := time.Millisecond; ; pause = min(2*pause, maxWALPause) {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if !isBusy(err) || time.Now().After(deadline) {
			return mode, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
	}
}

// maxWALPause caps the pause between two attempts of setWAL: the other
// opener holds the lock for a few milliseconds.
const maxWALPause = 50 * time.Millisecond

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// dsn builds the connection string. Pragmas are per connection, so they go
// in the DSN where database/sql applies them to every new connection. The
// journal mode is not among them: it belongs to the file, and setWAL sets
// it once at Open, where a busy lock can be retried.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMs))
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		// Take the write lock at BEGIN, so a transaction never fails
		// half-way with SQLITE_BUSY when upgrading a read lock.
		q.Set("_txlock", "immediate")
		// A multi-row statement keeps a statement journal (the pages it
		// changed, to undo it alone if it fails half-way); in memory it
		// costs a copy, on a temporary file (the default past 64 KiB) a
		// write per page. It never outlives its statement.
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -writerCacheKiB))
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walCheckpointPages))
	}
	return "file:" + path + "?" + q.Encode()
}

// Close closes the store's connections.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	return errors.Join(errs...)
}

// write runs fn in one write transaction, committing when it returns nil.
func (s *Store) write(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// wrap names the operation and maps SQLite's transient failures to
// store.ErrUnavailable, keeping the original error for the log.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN:
			return fmt.Errorf("sqlite: %s: %w (%w)", op, store.ErrUnavailable, err)
		}
	}
	if errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("sqlite: %s: %w (%w)", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code()
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}
