// Package postgres is Parley's distributed store: every `parley serve` node
// of a cluster points at one PostgreSQL database through this package.
//
// Cross-node correctness comes from the database, not from the nodes:
// a per-device counter row, updated in the same transaction as the mail it
// numbers, orders concurrent deliveries; a key package is claimed with
// DELETE … FOR UPDATE SKIP LOCKED, so it is handed out once; a group's row
// is locked for the length of a commit, so one commit wins each epoch.
// Transactions run at READ COMMITTED and lock what they change in a fixed
// order (message ids, then counters sorted by device) to avoid deadlocks;
// the rare one PostgreSQL still reports is retried.
//
// Connection failures come back wrapping store.ErrUnavailable, which the
// server answers with a retryable code.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/sqlchannels"
)

const (
	// MaxFetch bounds the entries one Fetch returns, whatever limit asks.
	MaxFetch = 1024

	// keptCommits is how many past epochs keep their winning commit for
	// EpochConflict; a client further behind rejoins from the GroupInfo.
	keptCommits = 64

	// maxTxAttempts bounds retries of a transaction PostgreSQL aborted
	// as a deadlock or serialization failure; both are transient.
	maxTxAttempts = 4

	// defaultMaxConns is the pool size unless the DSN sets pool_max_conns.
	// pgxpool's own default (max(4, CPUs)) starves a node whose requests
	// wait on row locks held by other nodes; PostgreSQL's default of 100
	// connections still fits several nodes at this size.
	defaultMaxConns = 16

	// connectTimeout bounds establishing one connection, so a node whose
	// database is unreachable fails fast with ErrUnavailable.
	connectTimeout = 5 * time.Second
)

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool *pgxpool.Pool
	db   *sql.DB // database/sql over pool, for the channels
	*sqlchannels.Channels
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// URL or key=value
// string; pool settings such as pool_max_conns are honoured), applies
// pending migrations under an advisory lock and returns the store.
func Open(ctx context.Context, dsn string) (*Store, error) {
	pool, err := newPool(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, pool, migrations, 0); err != nil {
		pool.Close()
		return nil, wrap("open", err)
	}
	s := &Store{pool: pool}
	s.Channels = s.newChannels()
	return s, nil
}

// appName names Parley's sessions in pg_stat_activity, unless the DSN
// sets application_name itself.
const appName = "parley"

func newPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN, password included; do not.
		return nil, errors.New("postgres: open: the DSN is not a valid postgres:// URL or key=value string")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > connectTimeout {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = appName
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrap("open", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, wrap(fmt.Sprintf("connect to %s:%d", cfg.ConnConfig.Host, cfg.ConnConfig.Port), err)
	}
	return pool, nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	if s.db != nil {
		s.db.Close()
	}
	s.pool.Close()
	return nil
}

// tx runs fn in a transaction, committing when it returns nil, and runs it
// again (from scratch: fn must reset what it records) when PostgreSQL
// aborted it as a deadlock or serialization failure.
func (s *Store) tx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	var err error
	for range maxTxAttempts {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		if !transient(err) {
			break
		}
	}
	return wrap(op, err)
}

func transient(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// wrap names the operation and marks connection failures ErrUnavailable.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if unavailable(err) {
		return fmt.Errorf("postgres: %s: %w (%w)", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

func unavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutting down, cannot connect now
			pe.Code == "53300",                     // too many connections
			pe.Code == "40001", pe.Code == "40P01": // still failing after retries
			return true
		}
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// uniqueViolation returns the constraint a unique violation hit, or "".
func uniqueViolation(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return pe.ConstraintName
	}
	return ""
}
