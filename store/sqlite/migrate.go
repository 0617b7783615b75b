package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/parleyhq/parley/store/internal/migration"
)

// migrations are the schema's numbered steps, NNNN_name.sql, applied in
// order. A released file is never edited: change the schema with a new one.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies the migrations not yet recorded in schema_migrations,
// each in its own transaction with its version row, up to version upTo (0:
// all). Running it again is a no-op. A database newer than this binary is
// refused rather than used with a schema it does not know.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, upTo int) error {
	ms, err := migration.Load(fsys)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	target := len(ms)
	if upTo > 0 && upTo < target {
		target = upTo
	}
	// One step per transaction, reading the version inside it: the writer
	// takes the lock at BEGIN, so a second process opening the same file
	// waits and then sees the step done instead of applying it twice.
	for {
		done, err := migrateStep(ctx, db, ms, target)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func migrateStep(ctx context.Context, db *sql.DB, ms []migration.Migration, target int) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	if current > len(ms) {
		return false, fmt.Errorf("migrate: database schema version %d is newer than this binary's %d; upgrade parley", current, len(ms))
	}
	if current >= target {
		return true, nil
	}
	m := ms[current]
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("migrate %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, m.Version); err != nil {
		return false, fmt.Errorf("migrate %s: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate %s: %w", m.Name, err)
	}
	return false, nil
}
