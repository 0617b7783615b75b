// Package pgtest gives each test its own schema in the machine's test
// PostgreSQL, so tests of several packages run against one server without
// seeing each other's rows. It is for tests only.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDSN is the test database when PARLEY_TEST_POSTGRES is unset.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

const (
	// connectTimeout bounds reaching the server, so a hung PostgreSQL fails
	// the test with instructions instead of hanging it.
	connectTimeout = 10 * time.Second
	// dropTimeout bounds the cleanup's DROP SCHEMA, which waits for the
	// locks of any session the test left open.
	dropTimeout = 30 * time.Second
)

// BaseDSN is the test database: PARLEY_TEST_POSTGRES, or DefaultDSN.
func BaseDSN() string {
	if dsn := os.Getenv("PARLEY_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// Unreachable is the message of a test that cannot reach PostgreSQL: what
// failed and how to start it.
func Unreachable(err error) string {
	return fmt.Sprintf("cannot reach the test PostgreSQL (%v).\n"+
		"Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"+
		"or point PARLEY_TEST_POSTGRES at a database (default %s).", err, DefaultDSN)
}

// Connect opens a connection to the test database, closed when the test
// ends. It fails (never skips) the test when PostgreSQL is not there.
func Connect(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, BaseDSN())
	if err != nil {
		t.Fatal(Unreachable(err))
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// DSN creates a uniquely named schema in the test database, dropped when
// the test ends, and returns a DSN whose search_path is that schema:
// parallel tests and packages never collide. It fails (never skips) the
// test when PostgreSQL is not there.
func DSN(t testing.TB) string {
	t.Helper()
	conn := Connect(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "parley_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	// Registered after Connect's close, so it runs before it (cleanups run
	// last-in first-out), and after the cleanups of whatever the test
	// started with this DSN.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
		defer cancel()
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, BaseDSN(), schema)
}

// withSearchPath returns dsn (a URL or key=value pairs) with its
// search_path set to schema.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("PARLEY_TEST_POSTGRES is not a valid URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
