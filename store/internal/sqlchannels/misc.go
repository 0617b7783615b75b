package sqlchannels

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/unixnano"
)

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func isNotFoundOrExpired(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExpired)
}

// directoryOrder maps proto.DirectorySort to an ORDER BY served by one of
// the partial indexes of listed, unsuspended channels.
var directoryOrder = map[int32]string{
	0: `c.created_at DESC, c.id`,
	1: `c.followers DESC, c.id`,
	2: `c.posts_week DESC, c.id`,
}

func (c *Channels) SearchChannels(ctx context.Context, q store.DirectoryQuery) ([]store.Channel, error) {
	order, ok := directoryOrder[q.Sort]
	if !ok {
		return nil, c.wrap("search channels", fmt.Errorf("unknown sort %d: %w", q.Sort, store.ErrConflict))
	}
	from, where := `channels c`, `c.listed = 1 AND c.suspended = 0`
	var args []any
	var search any
	if len(q.Words) > 0 {
		var cond string
		from, cond, search = c.d.Search(q.Words)
		where += ` AND ` + cond
		args = append(args, search)
	}
	if q.Category != "" {
		where += ` AND c.category = ?`
		args = append(args, q.Category)
	}
	if q.Country != "" {
		where += ` AND c.country = ?`
		args = append(args, q.Country)
	}
	args = append(args, q.Limit, q.Offset)
	rows, err := c.read(ctx).rows(`SELECT `+channelColsC+` FROM `+from+` WHERE `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`, args...)
	if err != nil {
		return nil, c.wrap("search channels", err)
	}
	defer rows.Close()
	var out []store.Channel
	for rows.Next() {
		ch, err := scanChannel(rows)
		if err != nil {
			return nil, c.wrap("search channels", err)
		}
		out = append(out, ch)
	}
	return out, c.wrap("search channels", rows.Err())
}

// channelColsC is channelCols qualified with the alias c.
const channelColsC = `c.id, c.info, c.info_version, c.name, c.description, c.category, c.country, c.icon, c.listed, c.verified, c.suspended,
	COALESCE(c.invite_code, ''), c.admin_group, c.head_seq, c.info_seq, c.followers, c.posts_week, c.created_at`

func (c *Channels) PutReport(ctx context.Context, r store.Report) error {
	postID := r.PostID
	if postID == nil {
		postID = []byte{}
	}
	return c.tx(ctx, "put report", func(t *tx) error {
		_, err := t.exec(`INSERT INTO channel_reports (channel_id, post_id, reporter, reason, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (reporter, channel_id, post_id) DO UPDATE SET reason = excluded.reason, created_at = excluded.created_at`,
			r.ChannelID, postID, r.Reporter, r.Reason, unixnano.From(r.CreatedAt))
		return err
	})
}

func (c *Channels) Reports(ctx context.Context, limit int) ([]store.Report, error) {
	rows, err := c.read(ctx).rows(`SELECT id, channel_id, post_id, reporter, reason, created_at FROM channel_reports
		ORDER BY created_at, id LIMIT ?`, limit)
	if err != nil {
		return nil, c.wrap("reports", err)
	}
	defer rows.Close()
	var out []store.Report
	for rows.Next() {
		var r store.Report
		var created int64
		if err := rows.Scan(&r.ID, &r.ChannelID, &r.PostID, &r.Reporter, &r.Reason, &created); err != nil {
			return nil, c.wrap("reports", err)
		}
		if len(r.PostID) == 0 {
			r.PostID = nil
		}
		r.CreatedAt = unixnano.Time(created)
		out = append(out, r)
	}
	return out, c.wrap("reports", rows.Err())
}

func (c *Channels) ResolveReport(ctx context.Context, id int64) error {
	return c.tx(ctx, "resolve report", func(t *tx) error {
		n, err := t.exec(`DELETE FROM channel_reports WHERE id = ?`, id)
		if err == nil && n == 0 {
			return fmt.Errorf("report %d: %w", id, store.ErrNotFound)
		}
		return err
	})
}

func (c *Channels) PutMedia(ctx context.Context, m store.Media) error {
	return c.tx(ctx, "put media", func(t *tx) error {
		_, err := t.exec(`INSERT INTO channel_media (channel_id, hash, mime, size, width, height, thumbnail, uploaded_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (channel_id, hash) DO UPDATE SET uploaded_at = excluded.uploaded_at`,
			m.ChannelID, m.Hash, m.Mime, m.Size, m.Width, m.Height, m.Thumbnail, unixnano.From(m.UploadedAt))
		return err
	})
}

func (c *Channels) ChannelMedia(ctx context.Context, channelID, hash string) (store.Media, error) {
	m := store.Media{ChannelID: channelID, Hash: hash}
	var up int64
	err := c.read(ctx).row(`SELECT mime, size, width, height, thumbnail, uploaded_at FROM channel_media WHERE channel_id = ? AND hash = ?`,
		channelID, hash).Scan(&m.Mime, &m.Size, &m.Width, &m.Height, &m.Thumbnail, &up)
	if err != nil {
		return store.Media{}, c.wrap("channel media", err)
	}
	m.UploadedAt = unixnano.Time(up)
	return m, nil
}

func (c *Channels) MediaExists(ctx context.Context, hash string) (bool, error) {
	var n int
	err := c.read(ctx).row(`SELECT COUNT(*) FROM channel_media WHERE hash = ?`, hash).Scan(&n)
	return n > 0, c.wrap("media exists", err)
}

func (c *Channels) Secret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	var v []byte
	err := c.tx(ctx, "secret", func(t *tx) error {
		if _, err := t.exec(`INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, candidate); err != nil {
			return err
		}
		return t.row(`SELECT value FROM server_secrets WHERE name = ?`, name).Scan(&v)
	})
	return v, err
}

// sweepChunk bounds the rows one sweep transaction touches, so a backlog
// never holds the writer (SQLite) or many row locks (PostgreSQL) for long.
const sweepChunk = 500

func (c *Channels) ExpireChannels(ctx context.Context, o store.ExpireChannelsOptions) (store.ExpiredChannels, error) {
	var res store.ExpiredChannels
	// 1. Posts published before the active window leave PostsWeek.
	if err := c.sweep(ctx, `SELECT channel_id, post_id FROM posts WHERE in_week = 1 AND published_at < ? LIMIT ?`,
		[]any{unixnano.From(o.ActiveSince)}, func(t *tx, ch string, id []byte) error { return t.leaveWeek(ch, id) }); err != nil {
		return res, err
	}
	// 2. Published posts (and tombstones) past their expiry: content,
	// interactions and media references go; a header stays until
	// ExpiredBefore so a late edit is told EXPIRED.
	if err := c.sweep(ctx, `SELECT channel_id, post_id FROM posts WHERE state = 1 AND expired = 0 AND expires_at <= ? LIMIT ?`,
		[]any{unixnano.From(o.Now)}, func(t *tx, ch string, id []byte) error {
			if err := t.leaveWeek(ch, id); err != nil {
				return err
			}
			if err := t.dropInteractions(ch, id); err != nil {
				return err
			}
			n, err := t.exec(`UPDATE posts SET expired = 1, signed = NULL WHERE channel_id = ? AND post_id = ? AND expired = 0`, ch, id)
			res.Posts += int(n)
			return err
		}); err != nil {
		return res, err
	}
	if err := c.sweep(ctx, `SELECT channel_id, post_id FROM posts WHERE expired = 1 AND expires_at < ? LIMIT ?`,
		[]any{unixnano.From(o.ExpiredBefore)}, func(t *tx, ch string, id []byte) error {
			_, err := t.exec(`DELETE FROM posts WHERE channel_id = ? AND post_id = ? AND expired = 1`, ch, id)
			return err
		}); err != nil {
		return res, err
	}
	// 3. Drafts and posts waiting for review nobody touched. Scheduled
	// posts are left alone: they publish.
	if err := c.sweep(ctx, `SELECT channel_id, post_id FROM posts WHERE state IN (2, 4) AND updated_at < ? LIMIT ?`,
		[]any{unixnano.From(o.UnpublishedBefore)}, func(t *tx, ch string, id []byte) error {
			if err := t.dropInteractions(ch, id); err != nil {
				return err
			}
			_, err := t.exec(`DELETE FROM posts WHERE channel_id = ? AND post_id = ? AND state IN (2, 4)`, ch, id)
			return err
		}); err != nil {
		return res, err
	}
	// 4. Invitations long expired (kept a while to answer EXPIRED).
	if err := c.tx(ctx, "expire invitations", func(t *tx) error {
		_, err := t.exec(`DELETE FROM channel_invites WHERE expires_at < ?`, unixnano.From(o.InvitationsBefore))
		return err
	}); err != nil {
		return res, err
	}
	// 5. Uploads no post and no icon references, old enough that nobody
	// is still writing the post that will use them.
	for {
		var gone []string
		var n int
		err := c.tx(ctx, "expire media", func(t *tx) error {
			gone, n = nil, 0
			rows, err := t.rows(`SELECT m.channel_id, m.hash FROM channel_media m WHERE m.uploaded_at < ?
				AND NOT EXISTS (SELECT 1 FROM post_media p WHERE p.channel_id = m.channel_id AND p.hash = m.hash)
				AND NOT EXISTS (SELECT 1 FROM channel_media t JOIN post_media p ON p.channel_id = t.channel_id AND p.hash = t.hash
					WHERE t.channel_id = m.channel_id AND t.thumbnail = m.hash)
				AND NOT EXISTS (SELECT 1 FROM channels c WHERE c.id = m.channel_id AND c.icon = m.hash)
				LIMIT ?`, unixnano.From(o.MediaBefore), sweepChunk)
			if err != nil {
				return err
			}
			type cm struct{ ch, hash string }
			var del []cm
			for rows.Next() {
				var x cm
				if err := rows.Scan(&x.ch, &x.hash); err != nil {
					rows.Close()
					return err
				}
				del = append(del, x)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			var hashes []string
			for _, x := range del {
				if _, err := t.exec(`DELETE FROM channel_media WHERE channel_id = ? AND hash = ?`, x.ch, x.hash); err != nil {
					return err
				}
				hashes = append(hashes, x.hash)
			}
			n = len(del)
			gone, err = t.unheld(dedupe(hashes))
			return err
		})
		if err != nil {
			return res, err
		}
		res.Hashes = append(res.Hashes, gone...)
		if n < sweepChunk {
			break
		}
	}
	sort.Strings(res.Hashes)
	return res, nil
}

// sweep runs fn on the posts the query selects, a chunk per transaction,
// until a chunk comes back short. The query takes its arguments then a
// LIMIT; fn runs with the post's channel locked.
func (c *Channels) sweep(ctx context.Context, query string, args []any, fn func(t *tx, ch string, id []byte) error) error {
	for {
		n := 0
		err := c.tx(ctx, "expire posts", func(t *tx) error {
			n = 0
			rows, err := t.rows(query, append(append([]any(nil), args...), sweepChunk)...)
			if err != nil {
				return err
			}
			type key struct {
				ch string
				id []byte
			}
			var keys []key
			for rows.Next() {
				var k key
				if err := rows.Scan(&k.ch, &k.id); err != nil {
					rows.Close()
					return err
				}
				keys = append(keys, k)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			// Channels first, in a fixed order, as every writer does.
			sort.Slice(keys, func(i, j int) bool { return keys[i].ch < keys[j].ch })
			locked := map[string]bool{}
			for _, k := range keys {
				if !locked[k.ch] {
					if err := t.lockChannel(k.ch); err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
					locked[k.ch] = true
				}
			}
			for _, k := range keys {
				if err := fn(t, k.ch, k.id); err != nil {
					return err
				}
			}
			n = len(keys)
			return nil
		})
		if err != nil {
			return err
		}
		if n < sweepChunk {
			return nil
		}
	}
}

func dedupe(ss []string) []string {
	sort.Strings(ss)
	out := ss[:0]
	for i, s := range ss {
		if i == 0 || s != ss[i-1] {
			out = append(out, s)
		}
	}
	return out
}
