// Package sqlchannels implements store.Channels once, over database/sql,
// for both SQL stores: store/sqlite hands it its writer and reader pools,
// store/postgres a database/sql view of its pgx pool. The schemas (one
// migration per store) have the same tables and columns; what differs —
// placeholders, row locks, error classes, full-text search — is the
// Dialect.
//
// Concurrency: every transaction that changes a channel's sequence, roles
// or follower count first locks the channel's row (FOR UPDATE on
// PostgreSQL; SQLite has one writer), and one that changes a post's
// counters locks the post's row, always in that order (channel, then
// post), so concurrent writers serialise instead of deadlocking, and a
// sequence number becomes visible only with its post: followers reading
// "after n" can never skip a post committed late with a lower number.
package sqlchannels

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley/store"
)

// Dialect is what differs between the SQL stores.
type Dialect struct {
	// Name prefixes errors ("sqlite", "postgres").
	Name string
	// Dollar: placeholders are $1, $2… instead of ?.
	Dollar bool
	// ForUpdate is appended to a SELECT that locks the rows it reads.
	ForUpdate string
	// Wrap maps driver errors (ErrUnavailable for transient ones).
	Wrap func(op string, err error) error
	// IsUnique reports a UNIQUE or PRIMARY KEY violation.
	IsUnique func(err error) bool
	// Retry reports an aborted transaction worth running again
	// (deadlock, serialization failure).
	Retry func(err error) bool
	// Search returns the FROM clause (it must name the channels table c),
	// an SQL condition and its one argument that match every word as a
	// prefix of a word of the name or description. The FROM clause lets
	// a full-text index drive the query: the matching rows are found
	// first and only they are sorted.
	Search func(words []string) (from, cond string, arg any)
}

// Channels implements store.Channels.
type Channels struct {
	w, r *sql.DB
	d    Dialect
}

// New returns the implementation over writer and reader pools (the same
// pool when the database has no separate readers).
func New(w, r *sql.DB, d Dialect) *Channels { return &Channels{w: w, r: r, d: d} }

var _ store.Channels = (*Channels)(nil)

// maxTxAttempts bounds retries of a transaction the database aborted.
const maxTxAttempts = 4

// q rewrites ? placeholders for the dialect.
func (c *Channels) q(query string) string {
	if !c.d.Dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// tx runs fn in a write transaction, committing when it returns nil, and
// runs it again from scratch when the database aborted it transiently.
func (c *Channels) tx(ctx context.Context, op string, fn func(t *tx) error) error {
	var err error
	for range maxTxAttempts {
		err = c.once(ctx, fn)
		if err == nil || c.d.Retry == nil || !c.d.Retry(err) {
			break
		}
	}
	return c.wrap(op, err)
}

func (c *Channels) once(ctx context.Context, fn func(t *tx) error) error {
	sqlTx, err := c.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(&tx{c: c, tx: sqlTx, ctx: ctx}); err != nil {
		sqlTx.Rollback()
		return err
	}
	return sqlTx.Commit()
}

func (c *Channels) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("%w (%w)", store.ErrNotFound, err)
	}
	// Errors of the store's own contract pass through with the operation.
	for _, e := range []error{store.ErrNotFound, store.ErrExists, store.ErrLimit, store.ErrConflict, store.ErrExpired} {
		if errors.Is(err, e) {
			return fmt.Errorf("%s: %s: %w", c.d.Name, op, err)
		}
	}
	return c.d.Wrap(op, err)
}

// tx is one transaction with the dialect's placeholders.
type tx struct {
	c   *Channels
	tx  *sql.Tx
	ctx context.Context
}

func (t *tx) exec(query string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(t.ctx, t.c.q(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *tx) row(query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, t.c.q(query), args...)
}

func (t *tx) rows(query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(t.ctx, t.c.q(query), args...)
}

// reader runs queries outside a transaction, on the read pool.
type reader struct {
	c   *Channels
	ctx context.Context
}

func (c *Channels) read(ctx context.Context) reader { return reader{c: c, ctx: ctx} }

func (r reader) row(query string, args ...any) *sql.Row {
	return r.c.r.QueryRowContext(r.ctx, r.c.q(query), args...)
}

func (r reader) rows(query string, args ...any) (*sql.Rows, error) {
	return r.c.r.QueryContext(r.ctx, r.c.q(query), args...)
}

// querier is a transaction or the reader.
type querier interface {
	row(query string, args ...any) *sql.Row
	rows(query string, args ...any) (*sql.Rows, error)
}

// lockChannel locks the channel's row for the transaction (ErrNotFound if
// there is none). On SQLite the single writer already excludes others.
func (t *tx) lockChannel(id string) error {
	var got string
	err := t.row(`SELECT id FROM channels WHERE id = ?`+t.c.d.ForUpdate, id).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("channel %s: %w", id, store.ErrNotFound)
	}
	return err
}

// nextSeq takes the channel's next change sequence number.
func (t *tx) nextSeq(id string) (uint64, error) {
	var seq int64
	err := t.row(`UPDATE channels SET head_seq = head_seq + 1 WHERE id = ? RETURNING head_seq`, id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("channel %s: %w", id, store.ErrNotFound)
	}
	return uint64(seq), err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// day is the UTC midnight starting t's day.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// placeholders is "?, ?, …" for n arguments.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// blobArgs turns ids into query arguments after the given leading ones.
func blobArgs(lead []any, ids [][]byte) []any {
	args := append([]any(nil), lead...)
	for _, id := range ids {
		args = append(args, id)
	}
	return args
}

func strArgs(lead []any, ss []string) []any {
	args := append([]any(nil), lead...)
	for _, s := range ss {
		args = append(args, s)
	}
	return args
}

// strings1 reads a one-column string result.
func strings1(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
