package sqlite

import (
	"testing"
)

// A query run again while rows of the same text are still open gets a
// statement of its own instead of resetting the one being read.
func TestStmtCacheNestedSameQuery(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := t.Context()
	const q = `SELECT value FROM json_each(?)`
	rows, err := s.w.QueryContext(ctx, q, `[1,2,3]`)
	if err != nil {
		t.Fatal(err)
	}
	var outer, inner int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		outer += v
		// Same conn (one writer connection), same text, while rows are open:
		// within a transaction database/sql would do the same on one conn.
		tx, err := s.r.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := tx.QueryContext(ctx, q, `[10,20]`)
		if err != nil {
			t.Fatal(err)
		}
		for r2.Next() {
			var w int
			if err := r2.Scan(&w); err != nil {
				t.Fatal(err)
			}
			inner += w
			r3, err := tx.QueryContext(ctx, q, `[100]`)
			if err != nil {
				t.Fatal(err)
			}
			for r3.Next() {
				var x int
				r3.Scan(&x)
				inner += x
			}
			r3.Close()
		}
		if err := r2.Err(); err != nil {
			t.Fatal(err)
		}
		r2.Close()
		tx.Rollback()
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if outer != 6 || inner != 3*(30+200) {
		t.Fatalf("outer %d inner %d, want 6 and %d", outer, inner, 3*230)
	}
	// The cached statement is reusable after its rows closed.
	var n int
	if err := s.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM json_each(?)`, `[1,2]`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("count %d, %v", n, err)
	}
	if err := s.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM json_each(?)`, `[1,2,3,4]`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("count %d, %v", n, err)
	}
}
