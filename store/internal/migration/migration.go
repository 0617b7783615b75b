// Package migration loads a store's schema migrations: numbered SQL files
// (NNNN_name.sql) embedded in the store's binary. Each store applies them
// its own way (SQLite under its single writer, PostgreSQL under an
// advisory lock); what a migration is and how the files are found and
// checked is shared here so both stores agree on it.
package migration

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

// Dir is the directory, inside a store's embedded file system, that holds
// its migrations.
const Dir = "migrations"

// Migration is one step of the schema. A released file is never edited:
// the schema changes with a new file.
type Migration struct {
	Version int    // the file's number: 1, 2, 3… without gaps
	Name    string // the file name, for errors
	SQL     string
}

// Load reads Dir/*.sql from fsys in version order, and refuses names
// without a positive number and gaps in the numbering, so a misnamed or
// missing file stops the store at start instead of skipping a step.
func Load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, Dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	ms := make([]Migration, 0, len(names))
	for _, n := range names {
		base := strings.TrimPrefix(n, Dir+"/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", base)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must be 1, 2, 3… without gaps or repeats", m.Name)
		}
	}
	return ms, nil
}
