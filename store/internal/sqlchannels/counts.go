package sqlchannels

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/unixnano"
)

// fillCounts adds reaction and poll counts, and the reader's own reaction
// and votes (reader "" for none), to posts of one channel: a constant
// number of queries for the whole batch.
func (c *Channels) fillCounts(q querier, channelID, reader string, ps []store.Post) error {
	if len(ps) == 0 {
		return nil
	}
	idx := make(map[string]int, len(ps))
	ids := make([][]byte, 0, len(ps))
	for i := range ps {
		ps[i].PollCounts = make([]uint64, ps[i].PollOptions)
		ps[i].Reactions, ps[i].MyReaction, ps[i].MyVotes = nil, "", nil
		if ps[i].Deleted {
			continue
		}
		idx[string(ps[i].ID)] = i
		ids = append(ids, ps[i].ID)
	}
	if len(ids) == 0 {
		return nil
	}
	in := `post_id IN (` + placeholders(len(ids)) + `)`
	args := blobArgs([]any{channelID}, ids)

	rows, err := q.rows(`SELECT post_id, emoji, count FROM post_reaction_counts WHERE channel_id = ? AND `+in+` AND count > 0
		ORDER BY post_id, emoji`, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id []byte
		var rc store.ReactionCount
		var n int64
		if err := rows.Scan(&id, &rc.Emoji, &n); err != nil {
			rows.Close()
			return err
		}
		rc.Count = uint64(n)
		if i, ok := idx[string(id)]; ok {
			ps[i].Reactions = append(ps[i].Reactions, rc)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	rows, err = q.rows(`SELECT post_id, option_idx, count FROM post_option_counts WHERE channel_id = ? AND `+in, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id []byte
		var opt, n int64
		if err := rows.Scan(&id, &opt, &n); err != nil {
			rows.Close()
			return err
		}
		if i, ok := idx[string(id)]; ok && opt >= 0 && opt < int64(len(ps[i].PollCounts)) {
			ps[i].PollCounts[opt] = uint64(max(n, 0))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if reader == "" {
		return nil
	}

	mine := blobArgs([]any{channelID, reader}, ids)
	rows, err = q.rows(`SELECT post_id, emoji FROM post_reactions WHERE channel_id = ? AND account_id = ? AND `+in, mine...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id []byte
		var e string
		if err := rows.Scan(&id, &e); err != nil {
			rows.Close()
			return err
		}
		if i, ok := idx[string(id)]; ok {
			ps[i].MyReaction = e
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.rows(`SELECT post_id, option_idx FROM post_votes WHERE channel_id = ? AND account_id = ? AND `+in+`
		ORDER BY post_id, option_idx`, mine...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id []byte
		var opt int64
		if err := rows.Scan(&id, &opt); err != nil {
			return err
		}
		if i, ok := idx[string(id)]; ok {
			ps[i].MyVotes = append(ps[i].MyVotes, uint32(opt))
		}
	}
	return rows.Err()
}

func (c *Channels) React(ctx context.Context, channelID string, postID []byte, accountID, emoji string, now time.Time) (store.Post, error) {
	err := c.tx(ctx, "react", func(t *tx) error {
		if _, err := t.livePost(channelID, postID, now); err != nil {
			return err
		}
		var old string
		err := t.row(`SELECT emoji FROM post_reactions WHERE channel_id = ? AND post_id = ? AND account_id = ?`, channelID, postID, accountID).Scan(&old)
		if err != nil && !isNoRows(err) {
			return err
		}
		had := err == nil
		if had && old == emoji {
			return nil
		}
		if had {
			if _, err := t.exec(`UPDATE post_reaction_counts SET count = count - 1 WHERE channel_id = ? AND post_id = ? AND emoji = ?`,
				channelID, postID, old); err != nil {
				return err
			}
		}
		switch {
		case emoji == "" && had:
			if _, err := t.exec(`DELETE FROM post_reactions WHERE channel_id = ? AND post_id = ? AND account_id = ?`, channelID, postID, accountID); err != nil {
				return err
			}
			_, err = t.exec(`UPDATE posts SET reacted = reacted - 1 WHERE channel_id = ? AND post_id = ?`, channelID, postID)
			return err
		case emoji == "":
			return nil
		case had:
			if _, err := t.exec(`UPDATE post_reactions SET emoji = ? WHERE channel_id = ? AND post_id = ? AND account_id = ?`,
				emoji, channelID, postID, accountID); err != nil {
				return err
			}
		default:
			if _, err := t.exec(`INSERT INTO post_reactions (channel_id, post_id, account_id, emoji) VALUES (?, ?, ?, ?)`,
				channelID, postID, accountID, emoji); err != nil {
				return err
			}
			if _, err := t.exec(`UPDATE posts SET reacted = reacted + 1 WHERE channel_id = ? AND post_id = ?`, channelID, postID); err != nil {
				return err
			}
		}
		_, err = t.exec(`INSERT INTO post_reaction_counts (channel_id, post_id, emoji, count) VALUES (?, ?, ?, 1)
			ON CONFLICT (channel_id, post_id, emoji) DO UPDATE SET count = post_reaction_counts.count + 1`, channelID, postID, emoji)
		return err
	})
	if err != nil {
		return store.Post{}, err
	}
	return c.readerPost(ctx, channelID, accountID, postID)
}

// readerPost re-reads a post with the reader's own reaction and votes.
func (c *Channels) readerPost(ctx context.Context, channelID, reader string, id []byte) (store.Post, error) {
	r := c.read(ctx)
	p, err := scanPost(r.row(`SELECT `+postCols+` FROM posts WHERE channel_id = ? AND post_id = ?`, channelID, id))
	if err != nil {
		return store.Post{}, c.wrap("read post", err)
	}
	ps := []store.Post{p}
	return ps[0], c.wrap("read post", c.fillCounts(r, channelID, reader, ps))
}

func (c *Channels) Vote(ctx context.Context, channelID string, postID []byte, accountID string, options []uint32, now time.Time) (store.Post, error) {
	options = slices.Clone(options)
	slices.Sort(options)
	options = slices.Compact(options)
	err := c.tx(ctx, "vote", func(t *tx) error {
		p, err := t.livePost(channelID, postID, now)
		if err != nil {
			return err
		}
		for _, o := range options {
			if int64(o) >= int64(p.PollOptions) {
				return fmt.Errorf("post %x has %d options, not %d: %w", postID, p.PollOptions, o+1, store.ErrConflict)
			}
		}
		rows, err := t.rows(`SELECT option_idx FROM post_votes WHERE channel_id = ? AND post_id = ? AND account_id = ?`, channelID, postID, accountID)
		if err != nil {
			return err
		}
		var old []int64
		for rows.Next() {
			var o int64
			if err := rows.Scan(&o); err != nil {
				rows.Close()
				return err
			}
			old = append(old, o)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, o := range old {
			if _, err := t.exec(`UPDATE post_option_counts SET count = count - 1 WHERE channel_id = ? AND post_id = ? AND option_idx = ?`,
				channelID, postID, o); err != nil {
				return err
			}
		}
		if _, err := t.exec(`DELETE FROM post_votes WHERE channel_id = ? AND post_id = ? AND account_id = ?`, channelID, postID, accountID); err != nil {
			return err
		}
		for _, o := range options {
			if _, err := t.exec(`INSERT INTO post_votes (channel_id, post_id, account_id, option_idx) VALUES (?, ?, ?, ?)`,
				channelID, postID, accountID, int64(o)); err != nil {
				return err
			}
			if _, err := t.exec(`INSERT INTO post_option_counts (channel_id, post_id, option_idx, count) VALUES (?, ?, ?, 1)
				ON CONFLICT (channel_id, post_id, option_idx) DO UPDATE SET count = post_option_counts.count + 1`,
				channelID, postID, int64(o)); err != nil {
				return err
			}
		}
		switch {
		case len(old) == 0 && len(options) > 0:
			_, err = t.exec(`UPDATE posts SET voters = voters + 1 WHERE channel_id = ? AND post_id = ?`, channelID, postID)
		case len(old) > 0 && len(options) == 0:
			_, err = t.exec(`UPDATE posts SET voters = voters - 1 WHERE channel_id = ? AND post_id = ?`, channelID, postID)
		}
		return err
	})
	if err != nil {
		return store.Post{}, err
	}
	return c.readerPost(ctx, channelID, accountID, postID)
}

func (c *Channels) View(ctx context.Context, channelID, accountID string, ids [][]byte, now time.Time) error {
	return c.tx(ctx, "view", func(t *tx) error {
		for _, id := range ids {
			if _, err := t.livePost(channelID, id, now); err != nil {
				if isNotFoundOrExpired(err) {
					continue
				}
				return err
			}
			n, err := t.exec(`INSERT INTO post_views (channel_id, post_id, account_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				channelID, id, accountID)
			if err != nil {
				return err
			}
			if n > 0 {
				if _, err := t.exec(`UPDATE posts SET views = views + 1 WHERE channel_id = ? AND post_id = ?`, channelID, id); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (c *Channels) Stats(ctx context.Context, channelID string, since time.Time, ids [][]byte, latest int, now time.Time) (store.ChannelStats, error) {
	r := c.read(ctx)
	var st store.ChannelStats
	var followers int64
	if err := r.row(`SELECT followers FROM channels WHERE id = ?`, channelID).Scan(&followers); err != nil {
		return st, c.wrap("stats", err)
	}
	st.Followers = uint64(max(followers, 0))
	rows, err := r.rows(`SELECT day, follows, unfollows FROM channel_days WHERE channel_id = ? AND day >= ? ORDER BY day`,
		channelID, unixnano.From(day(since)))
	if err != nil {
		return st, c.wrap("stats", err)
	}
	for rows.Next() {
		var d, f, u int64
		if err := rows.Scan(&d, &f, &u); err != nil {
			rows.Close()
			return st, c.wrap("stats", err)
		}
		st.Days = append(st.Days, store.DayStats{Day: unixnano.Time(d), Follows: uint64(f), Unfollows: uint64(u)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, c.wrap("stats", err)
	}
	if len(ids) > 0 {
		st.Posts, err = c.PostsByID(ctx, channelID, "", ids, now)
		return st, err
	}
	st.Posts, err = scanPosts(r.rows(`SELECT `+postCols+` FROM posts WHERE channel_id = ? AND state = ? AND deleted = 0
		AND expired = 0 AND expires_at > ? ORDER BY published_at DESC, post_id LIMIT ?`, channelID, store.PostPublished, unixnano.From(now), latest))
	if err != nil {
		return st, c.wrap("stats", err)
	}
	return st, c.wrap("stats", c.fillCounts(r, channelID, "", st.Posts))
}
