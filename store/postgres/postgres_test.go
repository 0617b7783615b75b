package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/internal/pgtest"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/migration"
	"github.com/parleyhq/parley/store/storetest"
)

// TestMain checks once that PostgreSQL is reachable and fails the whole
// package (never skips it) with instructions when it is not.
func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	conn, err := pgx.Connect(ctx, pgtest.BaseDSN())
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %s\n", pgtest.Unreachable(err))
		os.Exit(1)
	}
	conn.Close(context.Background())
	os.Exit(m.Run())
}

func openFresh(t testing.TB) *Store {
	t.Helper()
	dsn := pgtest.DSN(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := openFresh(t)
		return s
	})
}

// TestMigrateOldDatabase: a schema left at version 1 with data in it is
// brought to the latest version by Open, keeping the data; opening again
// is a no-op.
func TestMigrateOldDatabase(t *testing.T) {
	dsn := pgtest.DSN(t)
	s, err := openAt(t, dsn, 1)
	if err != nil {
		t.Fatalf("migrate to 1: %v", err)
	}
	if _, err := s.pool.Exec(t.Context(), `INSERT INTO accounts (id, handle, created_at) VALUES ('acct-old', '@old', $1)`, storetest.T0.UnixNano()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ms, _ := migration.Load(migrations)
	for range 2 {
		s, err := Open(t.Context(), dsn)
		if err != nil {
			t.Fatalf("Open(old schema): %v", err)
		}
		a, err := s.AccountByHandle(t.Context(), "@old")
		if err != nil || a.ID != "acct-old" || !a.CreatedAt.Equal(storetest.T0) {
			t.Errorf("account after migration = %+v, %v", a, err)
		}
		var n, top int
		if err := s.pool.QueryRow(t.Context(), `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &top); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) || top != len(ms) {
			t.Errorf("schema_migrations has %d rows up to %d, want 1..%d once each", n, top, len(ms))
		}
		s.Close()
	}
}

// openAt opens a store with the schema migrated only up to version upTo.
func openAt(t testing.TB, dsn string, upTo int) (*Store, error) {
	s := &Store{}
	var err error
	s.pool, err = newPool(t.Context(), dsn)
	if err != nil {
		return nil, err
	}
	if err := migrate(t.Context(), s.pool, migrations, upTo); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	dsn := pgtest.DSN(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version) VALUES (999)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(t.Context(), dsn); err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("Open(newer schema) = %v, want a refusal naming the version", err)
	}
}

// TestConcurrentMigrate: nodes starting together on an empty schema
// migrate it exactly once.
func TestConcurrentMigrate(t *testing.T) {
	dsn := pgtest.DSN(t)
	const nodes = 4
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Go(func() {
			s, err := Open(t.Context(), dsn)
			errs[i] = err
			if err == nil {
				s.Close()
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: Open: %v", i, err)
		}
	}
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ms, _ := migration.Load(migrations)
	var n int
	s.pool.QueryRow(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n)
	if n != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
	}
}

// TestUnavailable: a database that cannot be reached is ErrUnavailable,
// and the error does not leak the DSN's password.
func TestUnavailable(t *testing.T) {
	_, err := Open(t.Context(), "postgres://parley:secret-password@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open(closed port) = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "secret-password") {
		t.Errorf("error leaks the password: %v", err)
	}
	_, err = Open(t.Context(), "postgres://%zz")
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open(bad DSN) = %v, want a plain error", err)
	}
}

// TestConnectionLost: when the server drops the store's connections, calls
// fail with ErrUnavailable or succeed on a new connection; they never
// report another error, and the store recovers.
func TestConnectionLost(t *testing.T) {
	s := openFresh(t)
	defer s.Close()
	conn := pgtest.Connect(t)
	// Terminate this store's own sessions only: other packages' tests share
	// the server.
	var pids []uint32
	for _, c := range s.pool.AcquireAllIdle(t.Context()) {
		pids = append(pids, c.Conn().PgConn().PID())
		c.Release()
	}
	if len(pids) == 0 {
		t.Fatal("the store has no idle connection to drop")
	}
	if _, err := conn.Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS u(pid)`, pids); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, _, err := s.MailboxDepth(t.Context(), "dev-x")
		if err != nil && !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("call %d after the connections dropped: %v, want nil or ErrUnavailable", i, err)
		}
	}
	if _, _, err := s.MailboxDepth(t.Context(), "dev-x"); err != nil {
		t.Errorf("store did not recover: %v", err)
	}
}

func BenchmarkDeliver(b *testing.B) {
	s := openFresh(b)
	defer s.Close()
	storetest.BenchDeliver(b, s)
}
