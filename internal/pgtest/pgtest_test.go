package pgtest

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// A DSN names its own schema, and the schema is gone after the test.
func TestDSN(t *testing.T) {
	var schema string
	t.Run("use", func(t *testing.T) {
		dsn := DSN(t)
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		if err := conn.QueryRow(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatal(err)
		}
		if len(schema) <= len("parley_test_") || schema[:len("parley_test_")] != "parley_test_" {
			t.Fatalf("current schema %q, want a fresh parley_test_ schema", schema)
		}
	})
	var n int
	if err := Connect(t).QueryRow(t.Context(), "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("schema %s outlived its test", schema)
	}
}

func TestWithSearchPath(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?search_path=s&sslmode=disable"},
		{"host=h dbname=db", "host=h dbname=db search_path=s"},
	} {
		if got := withSearchPath(t, c.dsn, "s"); got != c.want {
			t.Errorf("withSearchPath(%q) = %q, want %q", c.dsn, got, c.want)
		}
	}
}
