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
// quoted so FTS5 operators in them are plain text. CROSS JOIN makes SQLite
// start from the full-text matches and sort only them, instead of walking
// the whole sort index and probing each channel.
func ftsSearch(words []string) (string, string, any) {
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(`"` + strings.ReplaceAll(w, `"`, `""`) + `"*`)
	}
	return `channels_fts CROSS JOIN channels c ON c.rid = channels_fts.rowid`, `channels_fts MATCH ?`, b.String()
}
