package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleyhq/parley/store/internal/migration"
)

// migrations are the schema's numbered steps, NNNN_name.sql, applied in
// order. A released file is never edited: change the schema with a new one.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies the migrations not yet recorded in schema_migrations, up
// to version upTo (0: all), each in a transaction with its version row.
// Nodes starting together take a session advisory lock (keyed by the
// schema, so test schemas do not wait for each other) and migrate once; the
// others find the work done. A schema newer than this binary is refused.
func migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, upTo int) error {
	ms, err := migration.Load(fsys)
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	const lockKey = `hashtext('parley schema migrations ' || current_schema())`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+lockKey+`)`)

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("migrate: database schema version %d is newer than this binary's %d; upgrade parley", current, len(ms))
	}
	for _, m := range ms[current:] {
		if upTo > 0 && m.Version > upTo {
			break
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.Version)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
	}
	return nil
}
