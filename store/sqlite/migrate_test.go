package sqlite

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/store/internal/migration"
	"github.com/parleyhq/parley/store/storetest"
)

func versions(t *testing.T, path string) []int {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		rows.Scan(&v)
		vs = append(vs, v)
	}
	return vs
}

// TestMigrateOldDatabase opens a database left at schema version 1 with
// data in it: Open brings it to the latest version and keeps the data.
func TestMigrateOldDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(t.Context(), db, migrations, 1); err != nil {
		t.Fatalf("migrate to 1: %v", err)
	}
	if _, err := db.Exec(`INSERT INTO accounts (id, handle, created_at) VALUES ('acct-old', '@old', ?)`, storetest.T0.UnixNano()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if got := versions(t, path); len(got) != 1 {
		t.Fatalf("old database at versions %v, want [1]", got)
	}

	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(old database): %v", err)
	}
	a, err := s.AccountByHandle(t.Context(), "@old")
	if err != nil || a.ID != "acct-old" || !a.CreatedAt.Equal(storetest.T0) {
		t.Errorf("account after migration = %+v, %v", a, err)
	}
	var idx int
	if err := s.r.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'invites_expires'`).Scan(&idx); err != nil || idx != 1 {
		t.Errorf("migration 2 index present: %d, %v", idx, err)
	}
	s.Close()

	ms, err := migration.Load(migrations)
	if err != nil {
		t.Fatal(err)
	}
	want := len(ms)
	// Opening again is a no-op.
	s, err = Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(again): %v", err)
	}
	s.Close()
	if got := versions(t, path); len(got) != want || got[len(got)-1] != want {
		t.Errorf("versions after two opens = %v, want 1..%d once each", got, want)
	}
}

func TestMigrateRefusesNewerDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`INSERT INTO schema_migrations (version) VALUES (999)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("Open(newer database) = %v, want a refusal naming the version", err)
	}
}

// TestConcurrentOpen: stores opening one fresh file together all succeed
// (the switch to WAL mode is retried when another holds the lock) and
// migrate it once.
func TestConcurrentOpen(t *testing.T) {
	const openers = 4
	path := filepath.Join(t.TempDir(), "shared.db")
	errs := make(chan error, openers)
	stores := make(chan *Store, openers)
	for range openers {
		go func() {
			s, err := Open(t.Context(), path)
			errs <- err
			stores <- s
		}()
	}
	for range openers {
		if err := <-errs; err != nil {
			t.Errorf("Open: %v", err)
		}
		if s := <-stores; s != nil {
			s.Close()
		}
	}
	ms, _ := migration.Load(migrations)
	if got := versions(t, path); len(got) != len(ms) {
		t.Errorf("versions = %v, want each of 1..%d once", got, len(ms))
	}
}
