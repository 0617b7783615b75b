package profile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ChannelKey is one private key of a channel's key chain, held because
// this account owns or administers the channel. Seed is the Ed25519 seed;
// it is stored like the device key (in this 0600 file) and leaves the
// device only inside the channel's CHANNEL_ADMINS MLS group.
type ChannelKey struct {
	ChannelID string
	Index     uint32
	Seed      []byte
	Added     time.Time
}

// PutChannelKey stores a channel key; a key already held is kept.
func (t *Tx) PutChannelKey(k ChannelKey) error {
	err := t.exec(`INSERT OR IGNORE INTO channel_keys(channel_id, key_index, seed, added_ms) VALUES (?, ?, ?, ?)`,
		k.ChannelID, k.Index, k.Seed, k.Added.UnixMilli())
	if err != nil {
		return fmt.Errorf("profile: save channel key: %w", err)
	}
	return nil
}

// ChannelKeys returns the channel's keys this device holds, by index.
func (p *Profile) ChannelKeys(ctx context.Context, channelID string) ([]ChannelKey, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT channel_id, key_index, seed, added_ms FROM channel_keys
		WHERE channel_id = ? ORDER BY key_index`, channelID)
	if err != nil {
		return nil, fmt.Errorf("profile: read channel keys: %w", err)
	}
	defer rows.Close()
	var out []ChannelKey
	for rows.Next() {
		var k ChannelKey
		var at int64
		if err := rows.Scan(&k.ChannelID, &k.Index, &k.Seed, &at); err != nil {
			return nil, fmt.Errorf("profile: read channel key: %w", err)
		}
		k.Added = time.UnixMilli(at)
		out = append(out, k)
	}
	return out, rows.Err()
}

// ChannelRecord is a channel this device follows or administers.
type ChannelRecord struct {
	ChannelID string
	// Channel is the serialized proto.Channel as last verified (its key
	// chain and signed info); the client verifies it again when loading.
	Channel []byte
	Role    int32  // proto.ChannelRole
	Cursor  uint64 // the last change sequence processed (ChannelSync)
	Muted   bool
	// Admins are the accounts of the owner and the admins (known to
	// admins only): the accounts whose devices may be in the channel's
	// CHANNEL_ADMINS group.
	Admins  []string
	Updated time.Time
}

const channelColumns = `channel_id, channel, role, cursor, muted, admins, updated_ms`

func scanChannel(row interface{ Scan(...any) error }) (ChannelRecord, error) {
	var r ChannelRecord
	var admins string
	var at int64
	err := row.Scan(&r.ChannelID, &r.Channel, &r.Role, &r.Cursor, &r.Muted, &admins, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return ChannelRecord{}, ErrNotFound
	}
	if err != nil {
		return ChannelRecord{}, fmt.Errorf("profile: read channel: %w", err)
	}
	if admins != "" {
		r.Admins = strings.Split(admins, ",")
	}
	r.Updated = time.UnixMilli(at)
	return r, nil
}

// Channel returns the record of a channel.
func (p *Profile) Channel(ctx context.Context, channelID string) (ChannelRecord, error) {
	return scanChannel(p.db.QueryRowContext(ctx, `SELECT `+channelColumns+` FROM channels WHERE channel_id = ?`, channelID))
}

// Channel reads a channel record inside the transaction.
func (t *Tx) Channel(channelID string) (ChannelRecord, error) {
	return scanChannel(t.tx.QueryRowContext(t.ctx, `SELECT `+channelColumns+` FROM channels WHERE channel_id = ?`, channelID))
}

// Channels lists every channel record, by id.
func (p *Profile) Channels(ctx context.Context) ([]ChannelRecord, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT `+channelColumns+` FROM channels ORDER BY channel_id`)
	if err != nil {
		return nil, fmt.Errorf("profile: list channels: %w", err)
	}
	defer rows.Close()
	var out []ChannelRecord
	for rows.Next() {
		r, err := scanChannel(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SaveChannel inserts or replaces a channel record.
func (t *Tx) SaveChannel(r ChannelRecord) error {
	for _, a := range r.Admins {
		if strings.Contains(a, ",") {
			return fmt.Errorf("profile: account id %q contains a comma", a)
		}
	}
	err := t.exec(`INSERT INTO channels(`+channelColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(channel_id) DO UPDATE SET channel = excluded.channel, role = excluded.role, cursor = excluded.cursor,
			muted = excluded.muted, admins = excluded.admins, updated_ms = excluded.updated_ms`,
		r.ChannelID, r.Channel, r.Role, r.Cursor, r.Muted, strings.Join(r.Admins, ","), r.Updated.UnixMilli())
	if err != nil {
		return fmt.Errorf("profile: save channel: %w", err)
	}
	return nil
}

// DeleteChannel forgets a channel: its record, its posts and its keys.
func (t *Tx) DeleteChannel(channelID string) error {
	for _, q := range []string{
		`DELETE FROM channels WHERE channel_id = ?`,
		`DELETE FROM channel_posts WHERE channel_id = ?`,
		`DELETE FROM channel_keys WHERE channel_id = ?`,
	} {
		if err := t.exec(q, channelID); err != nil {
			return fmt.Errorf("profile: delete channel: %w", err)
		}
	}
	return nil
}

// ChannelPost is a channel post as this device received and verified it.
type ChannelPost struct {
	ChannelID string
	PostID    []byte
	Seq       uint64 // the change sequence it last came with
	Version   uint32
	Signed    []byte // serialized proto.SignedPost; nil once deleted
	Published time.Time
	Expires   time.Time
	Edited    bool
	Deleted   bool
	Shown     bool // handed to the user
	Received  time.Time
}

const postColumns = `channel_id, post_id, seq, version, signed, published_ms, expires_ms, edited, deleted, shown, received_ms`

func scanChannelPosts(rows *sql.Rows) ([]ChannelPost, error) {
	defer rows.Close()
	var out []ChannelPost
	for rows.Next() {
		var p ChannelPost
		var pub, exp, recv int64
		if err := rows.Scan(&p.ChannelID, &p.PostID, &p.Seq, &p.Version, &p.Signed, &pub, &exp,
			&p.Edited, &p.Deleted, &p.Shown, &recv); err != nil {
			return nil, fmt.Errorf("profile: read channel post: %w", err)
		}
		p.Published, p.Expires, p.Received = time.UnixMilli(pub), time.UnixMilli(exp), time.UnixMilli(recv)
		out = append(out, p)
	}
	return out, rows.Err()
}

// PostChange is what PutChannelPost did.
type PostChange int

const (
	PostUnchanged PostChange = iota // already held at this version (a repeat)
	PostNew                         // first time this device sees the post
	PostUpdated                     // a newer version, or now deleted
)

// PutChannelPost records a verified post version (or, with Deleted, its
// deletion). A version not newer than the one held is ignored, and a
// deleted post never comes back, so replays change nothing.
func (t *Tx) PutChannelPost(p ChannelPost) (PostChange, error) {
	var version uint32
	var deleted bool
	err := t.tx.QueryRowContext(t.ctx, `SELECT version, deleted FROM channel_posts WHERE channel_id = ? AND post_id = ?`,
		p.ChannelID, p.PostID).Scan(&version, &deleted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		err = t.exec(`INSERT INTO channel_posts(`+postColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ChannelID, p.PostID, p.Seq, p.Version, p.Signed, p.Published.UnixMilli(), p.Expires.UnixMilli(),
			p.Edited, p.Deleted, p.Deleted, p.Received.UnixMilli())
		if err != nil {
			return 0, fmt.Errorf("profile: save channel post: %w", err)
		}
		if p.Deleted {
			return PostUnchanged, nil // deleted before this device saw it
		}
		return PostNew, nil
	case err != nil:
		return 0, fmt.Errorf("profile: read channel post: %w", err)
	case deleted:
		return PostUnchanged, nil
	case p.Deleted:
		err = t.exec(`UPDATE channel_posts SET deleted = 1, signed = NULL, seq = ? WHERE channel_id = ? AND post_id = ?`,
			p.Seq, p.ChannelID, p.PostID)
	case p.Version > version:
		err = t.exec(`UPDATE channel_posts SET seq = ?, version = ?, signed = ?, edited = ?, expires_ms = ?
			WHERE channel_id = ? AND post_id = ?`,
			p.Seq, p.Version, p.Signed, p.Edited, p.Expires.UnixMilli(), p.ChannelID, p.PostID)
	default:
		return PostUnchanged, nil
	}
	if err != nil {
		return 0, fmt.Errorf("profile: update channel post: %w", err)
	}
	return PostUpdated, nil
}

// SetChannelCursor records the last change sequence processed.
func (t *Tx) SetChannelCursor(channelID string, cursor uint64) error {
	return t.exec(`UPDATE channels SET cursor = max(cursor, ?) WHERE channel_id = ?`, cursor, channelID)
}

// ChannelPosts returns the last limit live (not deleted, not expired at
// now) posts of a channel, oldest first.
func (p *Profile) ChannelPosts(ctx context.Context, channelID string, now time.Time, limit int) ([]ChannelPost, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT `+postColumns+` FROM (SELECT * FROM channel_posts
		WHERE channel_id = ? AND deleted = 0 AND expires_ms > ? ORDER BY published_ms DESC, seq DESC LIMIT ?)
		ORDER BY published_ms, seq`, channelID, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("profile: list channel posts: %w", err)
	}
	return scanChannelPosts(rows)
}

// ChannelPostByID returns one post.
func (p *Profile) ChannelPostByID(ctx context.Context, channelID string, postID []byte) (ChannelPost, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT `+postColumns+` FROM channel_posts WHERE channel_id = ? AND post_id = ?`, channelID, postID)
	if err != nil {
		return ChannelPost{}, fmt.Errorf("profile: read channel post: %w", err)
	}
	ps, err := scanChannelPosts(rows)
	if err != nil {
		return ChannelPost{}, err
	}
	if len(ps) == 0 {
		return ChannelPost{}, ErrNotFound
	}
	return ps[0], nil
}

// UnshownChannelPosts returns up to limit live posts not yet handed to
// the user, oldest first.
func (p *Profile) UnshownChannelPosts(ctx context.Context, now time.Time, limit int) ([]ChannelPost, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT `+postColumns+` FROM channel_posts
		WHERE shown = 0 AND deleted = 0 AND expires_ms > ? ORDER BY received_ms, seq LIMIT ?`, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("profile: list unshown channel posts: %w", err)
	}
	return scanChannelPosts(rows)
}

// MarkChannelPostsShown records that posts were handed to the user.
func (p *Profile) MarkChannelPostsShown(ctx context.Context, channelID string, postIDs ...[]byte) error {
	for _, id := range postIDs {
		if _, err := p.db.ExecContext(ctx, `UPDATE channel_posts SET shown = 1 WHERE channel_id = ? AND post_id = ?`, channelID, id); err != nil {
			return fmt.Errorf("profile: mark channel post shown: %w", err)
		}
	}
	return nil
}

// ExpireChannelPosts deletes the posts that expired before now: the
// server no longer has them, and neither does this device. Tombstones of
// deleted posts go at their expiry too (their versions can no longer be
// replayed by the server after it).
func (p *Profile) ExpireChannelPosts(ctx context.Context, now time.Time) error {
	_, err := p.db.ExecContext(ctx, `DELETE FROM channel_posts WHERE expires_ms <= ?`, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("profile: expire channel posts: %w", err)
	}
	return nil
}

// SetChannelAdmins records the accounts of a channel's owner and admins
// (nothing happens when this device keeps no record of the channel).
func (t *Tx) SetChannelAdmins(channelID string, accounts []string) error {
	for _, a := range accounts {
		if strings.Contains(a, ",") {
			return fmt.Errorf("profile: account id %q contains a comma", a)
		}
	}
	return t.exec(`UPDATE channels SET admins = ? WHERE channel_id = ?`, strings.Join(accounts, ","), channelID)
}
