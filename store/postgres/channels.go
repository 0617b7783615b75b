package postgres

import (
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/parleyhq/parley/store/internal/sqlchannels"
)

// newChannels wires the shared channel implementation to a database/sql
// view of this store's pool (same connections, same search_path). The
// directory's text search uses the generated tsvector column and its GIN
// index (migration 0003).
func (s *Store) newChannels() *sqlchannels.Channels {
	db := stdlib.OpenDBFromPool(s.pool)
	s.db = db
	return sqlchannels.New(db, db, sqlchannels.Dialect{
		Name:      "postgres",
		Dollar:    true,
		ForUpdate: " FOR UPDATE",
		Wrap:      wrap,
		IsUnique:  func(err error) bool { return uniqueViolation(err) != "" },
		Retry:     transient,
		Search:    tsSearch,
	})
}

// tsSearch matches every word as a prefix: to_tsquery('simple',
// 'lyon:* & meteo:*'). Anything but letters and digits is dropped from the
// words so nothing in them is tsquery syntax.
func tsSearch(words []string) (string, string, any) {
	var terms []string
	for _, w := range words {
		w = strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return unicode.ToLower(r)
			}
			return -1
		}, w)
		if w != "" {
			terms = append(terms, w+":*")
		}
	}
	if len(terms) == 0 {
		// Nothing searchable: match nothing rather than everything.
		return `channels c`, `c.search @@ to_tsquery('simple', ?)`, "''"
	}
	return `channels c`, `c.search @@ to_tsquery('simple', ?)`, strings.Join(terms, " & ")
}
