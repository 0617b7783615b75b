package sqlite

import (
	"strings"

	"github.com/parleyhq/parley/store/internal/sqlchannels"
)

// newChannels wires the shared channel implementation to this store's
// writer and readers. The directory's text search uses the FTS5 index
// channels_fts (migration 0003).
func (s *Store) newChannels() *sqlchannels.Channels {
	return sqlchannels.New(s.w, s.r, sqlchannels.Dialect{
		Name:     "sqlite",
		Wrap:     wrap,
		IsUnique: isUnique,
		Search:   ftsSearch,
	})
}

// ftsSearch matches every word as a prefix: `"lyon"* "meteo"*`. Words are
// quoted so FTS5 operators in them are plain text.
func ftsSearch(words []string) (string, any) {
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(`"` + strings.ReplaceAll(w, `"`, `""`) + `"*`)
	}
	return `c.rid IN (SELECT rowid FROM channels_fts WHERE channels_fts MATCH ?)`, b.String()
}
