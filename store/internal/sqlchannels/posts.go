package sqlchannels

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/unixnano"
)

const postCols = `channel_id, post_id, version, signed, state, author, seq, publish_at, published_at, expires_at,
	updated_at, edited, deleted, poll_options, views, reacted, voters`

func scanPost(s scanner) (store.Post, error) {
	var p store.Post
	var version, state, seq, publishAt, published, expires, updated, edited, deleted, pollOptions, views, reacted, voters int64
	err := s.Scan(&p.ChannelID, &p.ID, &version, &p.Signed, &state, &p.Author, &seq, &publishAt, &published, &expires,
		&updated, &edited, &deleted, &pollOptions, &views, &reacted, &voters)
	if err != nil {
		return store.Post{}, err
	}
	p.Version, p.State, p.Seq = uint32(version), int32(state), uint64(seq)
	p.PublishAt, p.PublishedAt, p.ExpiresAt, p.UpdatedAt = unixnano.Time(publishAt), unixnano.Time(published), unixnano.Time(expires), unixnano.Time(updated)
	p.Edited, p.Deleted = edited != 0, deleted != 0
	p.PollOptions = int(pollOptions)
	p.Views, p.Reacted, p.Voters = uint64(max(views, 0)), uint64(max(reacted, 0)), uint64(max(voters, 0))
	return p, nil
}

func scanPosts(rows *sql.Rows, err error) ([]store.Post, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Post
	for rows.Next() {
		p, err := scanPost(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (t *tx) setPostMedia(channelID string, id []byte, hashes []string) error {
	if _, err := t.exec(`DELETE FROM post_media WHERE channel_id = ? AND post_id = ?`, channelID, id); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := t.exec(`INSERT INTO post_media (channel_id, post_id, hash) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, channelID, id, h); err != nil {
			return err
		}
	}
	return nil
}

func (c *Channels) PutPost(ctx context.Context, p store.Post, maxUnpublished int) (store.Post, error) {
	err := c.tx(ctx, "put post", func(t *tx) error {
		if err := t.lockChannel(p.ChannelID); err != nil {
			return err
		}
		var n int
		if err := t.row(`SELECT COUNT(*) FROM posts WHERE channel_id = ? AND post_id = ?`, p.ChannelID, p.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("post %x: %w", p.ID, store.ErrExists)
		}
		p.Seq = 0
		inWeek := 0
		if p.State == store.PostPublished {
			seq, err := t.nextSeq(p.ChannelID)
			if err != nil {
				return err
			}
			p.Seq, inWeek = seq, 1
			if _, err := t.exec(`UPDATE channels SET posts_week = posts_week + 1 WHERE id = ?`, p.ChannelID); err != nil {
				return err
			}
		} else {
			if err := t.row(`SELECT COUNT(*) FROM posts WHERE channel_id = ? AND state <> ?`, p.ChannelID, store.PostPublished).Scan(&n); err != nil {
				return err
			}
			if n >= maxUnpublished {
				return fmt.Errorf("channel %s has %d unpublished posts: %w", p.ChannelID, n, store.ErrLimit)
			}
		}
		if _, err := t.exec(`INSERT INTO posts (channel_id, post_id, version, signed, state, author, seq, publish_at, published_at,
			expires_at, updated_at, edited, deleted, expired, in_week, poll_options, views, reacted, voters)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, ?, 0, 0, 0)`,
			p.ChannelID, p.ID, int64(p.Version), p.Signed, p.State, p.Author, int64(p.Seq), unixnano.From(p.PublishAt), unixnano.From(p.PublishedAt),
			unixnano.From(p.ExpiresAt), unixnano.From(p.UpdatedAt), inWeek, p.PollOptions); err != nil {
			return err
		}
		return t.setPostMedia(p.ChannelID, p.ID, p.Media)
	})
	if err != nil {
		return store.Post{}, err
	}
	p.Edited, p.Deleted = false, false
	p.PollCounts = make([]uint64, p.PollOptions)
	return p, nil
}

func (c *Channels) Post(ctx context.Context, channelID string, id []byte) (store.Post, error) {
	r := c.read(ctx)
	p, err := scanPost(r.row(`SELECT `+postCols+` FROM posts WHERE channel_id = ? AND post_id = ?`, channelID, id))
	if err != nil {
		return store.Post{}, c.wrap("post", err)
	}
	if p.Media, err = strings1(r.rows(`SELECT hash FROM post_media WHERE channel_id = ? AND post_id = ? ORDER BY hash`, channelID, id)); err != nil {
		return store.Post{}, c.wrap("post", err)
	}
	ps := []store.Post{p}
	if err := c.fillCounts(r, channelID, "", ps); err != nil {
		return store.Post{}, c.wrap("post", err)
	}
	return ps[0], nil
}

// lockPost reads a post's row for update inside a transaction.
func (t *tx) lockPost(channelID string, id []byte) (store.Post, bool, error) {
	var expired int64
	var p store.Post
	row := t.row(`SELECT `+postCols+`, expired FROM posts WHERE channel_id = ? AND post_id = ?`+t.c.d.ForUpdate, channelID, id)
	var version, state, seq, publishAt, published, expires, updated, edited, deleted, pollOptions, views, reacted, voters int64
	err := row.Scan(&p.ChannelID, &p.ID, &version, &p.Signed, &state, &p.Author, &seq, &publishAt, &published, &expires,
		&updated, &edited, &deleted, &pollOptions, &views, &reacted, &voters, &expired)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Post{}, false, fmt.Errorf("post %x: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Post{}, false, err
	}
	p.Version, p.State, p.Seq = uint32(version), int32(state), uint64(seq)
	p.PublishAt, p.PublishedAt, p.ExpiresAt, p.UpdatedAt = unixnano.Time(publishAt), unixnano.Time(published), unixnano.Time(expires), unixnano.Time(updated)
	p.Edited, p.Deleted, p.PollOptions = edited != 0, deleted != 0, int(pollOptions)
	p.Views, p.Reacted, p.Voters = uint64(views), uint64(reacted), uint64(voters)
	return p, expired != 0, nil
}

// livePost locks a post that followers may act on: published, not a
// tombstone, not expired.
func (t *tx) livePost(channelID string, id []byte, now time.Time) (store.Post, error) {
	p, expired, err := t.lockPost(channelID, id)
	if err != nil {
		return store.Post{}, err
	}
	if p.Deleted || p.State != store.PostPublished {
		return store.Post{}, fmt.Errorf("post %x: %w", id, store.ErrNotFound)
	}
	if expired || !p.ExpiresAt.After(now) {
		return store.Post{}, fmt.Errorf("post %x: %w", id, store.ErrExpired)
	}
	return p, nil
}

func (c *Channels) UpdatePost(ctx context.Context, u store.PostUpdate) (store.Post, error) {
	var out store.Post
	err := c.tx(ctx, "update post", func(t *tx) error {
		if err := t.lockChannel(u.ChannelID); err != nil {
			return err
		}
		p, expired, err := t.lockPost(u.ChannelID, u.ID)
		if err != nil {
			return err
		}
		if p.Deleted {
			return fmt.Errorf("post %x was deleted: %w", u.ID, store.ErrNotFound)
		}
		if p.State == store.PostPublished && (expired || !p.ExpiresAt.After(u.Now)) {
			return fmt.Errorf("post %x: %w", u.ID, store.ErrExpired)
		}
		if p.Version != u.IfVersion {
			return fmt.Errorf("post %x is at version %d, not %d: %w", u.ID, p.Version, u.IfVersion, store.ErrConflict)
		}
		if u.IfState != 0 && p.State != u.IfState {
			return fmt.Errorf("post %x is in state %d, not %d: %w", u.ID, p.State, u.IfState, store.ErrConflict)
		}
		wasPublished := p.State == store.PostPublished
		if u.Signed != nil {
			p.Version, p.Signed, p.Author = u.Version, u.Signed, u.Author
			if err := t.setPostMedia(u.ChannelID, u.ID, u.Media); err != nil {
				return err
			}
			if wasPublished {
				p.Edited = true
			}
		}
		p.State, p.UpdatedAt = u.State, u.Now
		if !wasPublished {
			p.PublishAt = u.PublishAt
		}
		inWeek := ""
		if p.State == store.PostPublished {
			if p.Seq, err = t.nextSeq(u.ChannelID); err != nil {
				return err
			}
			if !wasPublished {
				p.PublishedAt, p.ExpiresAt = u.PublishedAt, u.ExpiresAt
				inWeek = ", in_week = 1"
				if _, err := t.exec(`UPDATE channels SET posts_week = posts_week + 1 WHERE id = ?`, u.ChannelID); err != nil {
					return err
				}
			}
		}
		if _, err := t.exec(`UPDATE posts SET version = ?, signed = ?, author = ?, state = ?, seq = ?, publish_at = ?,
			published_at = ?, expires_at = ?, updated_at = ?, edited = ?`+inWeek+` WHERE channel_id = ? AND post_id = ?`,
			int64(p.Version), p.Signed, p.Author, p.State, int64(p.Seq), unixnano.From(p.PublishAt), unixnano.From(p.PublishedAt),
			unixnano.From(p.ExpiresAt), unixnano.From(p.UpdatedAt), boolInt(p.Edited), u.ChannelID, u.ID); err != nil {
			return err
		}
		out = p
		return nil
	})
	if err != nil {
		return store.Post{}, err
	}
	return c.Post(ctx, out.ChannelID, out.ID)
}

// dropInteractions deletes a post's reactions, votes, views, counts and
// media references (the post leaves: deleted or expired).
func (t *tx) dropInteractions(channelID string, id []byte) error {
	for _, table := range []string{"post_media", "post_reaction_counts", "post_option_counts", "post_reactions", "post_votes", "post_views"} {
		if _, err := t.exec(`DELETE FROM `+table+` WHERE channel_id = ? AND post_id = ?`, channelID, id); err != nil {
			return err
		}
	}
	return nil
}

// leaveWeek takes a post that leaves out of its channel's active count.
func (t *tx) leaveWeek(channelID string, id []byte) error {
	n, err := t.exec(`UPDATE posts SET in_week = 0 WHERE channel_id = ? AND post_id = ? AND in_week = 1`, channelID, id)
	if err != nil || n == 0 {
		return err
	}
	_, err = t.exec(`UPDATE channels SET posts_week = posts_week - 1 WHERE id = ?`, channelID)
	return err
}

func (c *Channels) DeletePost(ctx context.Context, channelID string, id []byte, now time.Time) (store.Post, error) {
	var out store.Post
	err := c.tx(ctx, "delete post", func(t *tx) error {
		if err := t.lockChannel(channelID); err != nil {
			return err
		}
		p, expired, err := t.lockPost(channelID, id)
		if err != nil {
			return err
		}
		if p.Deleted || expired {
			return fmt.Errorf("post %x: %w", id, store.ErrNotFound)
		}
		if err := t.leaveWeek(channelID, id); err != nil {
			return err
		}
		if err := t.dropInteractions(channelID, id); err != nil {
			return err
		}
		if p.State != store.PostPublished {
			_, err := t.exec(`DELETE FROM posts WHERE channel_id = ? AND post_id = ?`, channelID, id)
			out = p
			out.Deleted = true
			return err
		}
		if p.Seq, err = t.nextSeq(channelID); err != nil {
			return err
		}
		p.Deleted, p.Signed, p.UpdatedAt = true, nil, now
		p.Views, p.Reacted, p.Voters = 0, 0, 0
		_, err = t.exec(`UPDATE posts SET deleted = 1, signed = NULL, seq = ?, updated_at = ?, views = 0, reacted = 0, voters = 0
			WHERE channel_id = ? AND post_id = ?`, int64(p.Seq), unixnano.From(now), channelID, id)
		out = p
		return err
	})
	return out, err
}

func (c *Channels) PublishDue(ctx context.Context, now time.Time, ttl time.Duration, limit int) ([]store.Post, error) {
	type key struct {
		ch string
		id []byte
	}
	var due []key
	rows, err := c.read(ctx).rows(`SELECT channel_id, post_id FROM posts WHERE state = ? AND publish_at <= ?
		ORDER BY publish_at LIMIT ?`, store.PostScheduled, unixnano.From(now), limit)
	if err != nil {
		return nil, c.wrap("publish due", err)
	}
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.ch, &k.id); err != nil {
			rows.Close()
			return nil, c.wrap("publish due", err)
		}
		due = append(due, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, c.wrap("publish due", err)
	}
	var out []store.Post
	for _, k := range due {
		var p store.Post
		err := c.tx(ctx, "publish due", func(t *tx) error {
			if err := t.lockChannel(k.ch); err != nil {
				return err
			}
			cur, _, err := t.lockPost(k.ch, k.id)
			if err != nil {
				return err
			}
			if cur.State != store.PostScheduled || cur.Deleted {
				return errSkip // published, edited back to a draft or deleted meanwhile
			}
			seq, err := t.nextSeq(k.ch)
			if err != nil {
				return err
			}
			if _, err := t.exec(`UPDATE posts SET state = ?, seq = ?, published_at = ?, expires_at = ?, updated_at = ?, in_week = 1
				WHERE channel_id = ? AND post_id = ?`, store.PostPublished, int64(seq), unixnano.From(now), unixnano.From(now.Add(ttl)), unixnano.From(now), k.ch, k.id); err != nil {
				return err
			}
			if _, err := t.exec(`UPDATE channels SET posts_week = posts_week + 1 WHERE id = ?`, k.ch); err != nil {
				return err
			}
			p = cur
			p.State, p.Seq, p.PublishedAt, p.ExpiresAt, p.UpdatedAt = store.PostPublished, seq, now, now.Add(ttl), now
			return nil
		})
		switch {
		case errors.Is(err, errSkip), errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// errSkip rolls back a transaction that found nothing to do.
var errSkip = errors.New("skip")

func (c *Channels) SyncPosts(ctx context.Context, channelID, reader string, after uint64, limit int, now time.Time) ([]store.Post, error) {
	r := c.read(ctx)
	ps, err := scanPosts(r.rows(`SELECT `+postCols+` FROM posts WHERE channel_id = ? AND seq > ? AND state = ?
		AND expired = 0 AND expires_at > ? ORDER BY seq LIMIT ?`, channelID, clamp(after), store.PostPublished, unixnano.From(now), limit))
	if err != nil {
		return nil, c.wrap("sync posts", err)
	}
	return ps, c.wrap("sync posts", c.fillCounts(r, channelID, reader, ps))
}

func (c *Channels) PostsByID(ctx context.Context, channelID, reader string, ids [][]byte, now time.Time) ([]store.Post, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	r := c.read(ctx)
	ps, err := scanPosts(r.rows(`SELECT `+postCols+` FROM posts WHERE channel_id = ? AND state = ? AND deleted = 0
		AND expired = 0 AND expires_at > ? AND post_id IN (`+placeholders(len(ids))+`)`,
		blobArgs([]any{channelID, store.PostPublished, unixnano.From(now)}, ids)...))
	if err != nil {
		return nil, c.wrap("posts by id", err)
	}
	byID := make(map[string]store.Post, len(ps))
	for _, p := range ps {
		byID[string(p.ID)] = p
	}
	ordered := make([]store.Post, 0, len(ps))
	for _, id := range ids {
		if p, ok := byID[string(id)]; ok {
			ordered = append(ordered, p)
			delete(byID, string(id))
		}
	}
	return ordered, c.wrap("posts by id", c.fillCounts(r, channelID, reader, ordered))
}

func (c *Channels) Unpublished(ctx context.Context, channelID string) ([]store.Post, error) {
	ps, err := scanPosts(c.read(ctx).rows(`SELECT `+postCols+` FROM posts WHERE channel_id = ? AND state <> ?
		ORDER BY updated_at, post_id`, channelID, store.PostPublished))
	return ps, c.wrap("unpublished posts", err)
}

// clamp keeps a client's cursor within int64.
func clamp(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}
