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

const channelCols = `id, info, info_version, name, description, category, country, icon, listed, verified, suspended,
	COALESCE(invite_code, ''), admin_group, head_seq, info_seq, followers, posts_week, created_at`

type scanner interface{ Scan(dest ...any) error }

func scanChannel(s scanner) (store.Channel, error) {
	var c store.Channel
	var listed, verified, suspended int
	var head, infoSeq, followers, week, created, version int64
	err := s.Scan(&c.ID, &c.Info, &version, &c.Name, &c.Description, &c.Category, &c.Country, &c.Icon,
		&listed, &verified, &suspended, &c.InviteCode, &c.AdminGroup, &head, &infoSeq, &followers, &week, &created)
	if err != nil {
		return store.Channel{}, err
	}
	c.InfoVersion, c.HeadSeq, c.InfoSeq = uint64(version), uint64(head), uint64(infoSeq)
	c.Followers, c.PostsWeek = uint64(max(followers, 0)), uint64(max(week, 0))
	c.Listed, c.Verified, c.Suspended = listed != 0, verified != 0, suspended != 0
	c.CreatedAt = unixnano.Time(created)
	return c, nil
}

func (c *Channels) CreateChannel(ctx context.Context, ch store.Channel, owner string, first store.ChannelKey, now time.Time, maxOwned int) error {
	if first.Index != 0 {
		return c.wrap("create channel", fmt.Errorf("first key has index %d: %w", first.Index, store.ErrConflict))
	}
	return c.tx(ctx, "create channel", func(t *tx) error {
		var owned int
		if err := t.row(`SELECT COUNT(*) FROM channel_roles WHERE account_id = ? AND role = ?`, owner, store.RoleOwner).Scan(&owned); err != nil {
			return err
		}
		if owned >= maxOwned {
			return fmt.Errorf("%s owns %d channels: %w", owner, owned, store.ErrLimit)
		}
		_, err := t.exec(`INSERT INTO channels (id, info, info_version, name, description, category, country, icon, listed,
			owner, head_seq, info_seq, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?)`,
			ch.ID, ch.Info, int64(ch.InfoVersion), ch.Name, ch.Description, ch.Category, ch.Country, ch.Icon,
			boolInt(ch.Listed), owner, unixnano.From(now))
		if err != nil {
			if c.d.IsUnique(err) {
				return fmt.Errorf("channel %s: %w", ch.ID, store.ErrExists)
			}
			return err
		}
		if _, err := t.exec(`INSERT INTO channel_keys (channel_id, idx, entry, added_at) VALUES (?, 0, ?, ?)`, ch.ID, first.Entry, unixnano.From(now)); err != nil {
			return err
		}
		_, err = t.exec(`INSERT INTO channel_roles (channel_id, account_id, role, since) VALUES (?, ?, ?, ?)`, ch.ID, owner, store.RoleOwner, unixnano.From(now))
		return err
	})
}

func (c *Channels) channelBy(ctx context.Context, op, where string, arg any) (store.Channel, error) {
	ch, err := scanChannel(c.read(ctx).row(`SELECT `+channelCols+` FROM channels WHERE `+where+` = ?`, arg))
	return ch, c.wrap(op, err)
}

func (c *Channels) Channel(ctx context.Context, id string) (store.Channel, error) {
	return c.channelBy(ctx, "channel", "id", id)
}

func (c *Channels) ChannelByInviteCode(ctx context.Context, code string) (store.Channel, error) {
	return c.channelBy(ctx, "channel by invite code", "invite_code", code)
}

func (c *Channels) ChannelByAdminGroup(ctx context.Context, group []byte) (store.Channel, error) {
	return c.channelBy(ctx, "channel by admin group", "admin_group", group)
}

func (c *Channels) ChannelKeys(ctx context.Context, id string) ([]store.ChannelKey, error) {
	rows, err := c.read(ctx).rows(`SELECT idx, entry FROM channel_keys WHERE channel_id = ? ORDER BY idx`, id)
	if err != nil {
		return nil, c.wrap("channel keys", err)
	}
	defer rows.Close()
	var keys []store.ChannelKey
	for rows.Next() {
		var k store.ChannelKey
		var idx int64
		if err := rows.Scan(&idx, &k.Entry); err != nil {
			return nil, c.wrap("channel keys", err)
		}
		k.Index = uint32(idx)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, c.wrap("channel keys", err)
	}
	if len(keys) == 0 {
		return nil, c.wrap("channel keys", fmt.Errorf("channel %s: %w", id, store.ErrNotFound))
	}
	return keys, nil
}

func (c *Channels) UpdateChannelInfo(ctx context.Context, ch store.Channel, prev uint64) (uint64, error) {
	var seq uint64
	err := c.tx(ctx, "update channel info", func(t *tx) error {
		var version int64
		err := t.row(`SELECT info_version FROM channels WHERE id = ?`+c.d.ForUpdate, ch.ID).Scan(&version)
		if err != nil {
			return err
		}
		if uint64(version) != prev {
			return fmt.Errorf("info is at version %d, not %d: %w", version, prev, store.ErrConflict)
		}
		if seq, err = t.nextSeq(ch.ID); err != nil {
			return err
		}
		_, err = t.exec(`UPDATE channels SET info = ?, info_version = ?, name = ?, description = ?, category = ?, country = ?,
			icon = ?, listed = ?, info_seq = ? WHERE id = ?`,
			ch.Info, int64(ch.InfoVersion), ch.Name, ch.Description, ch.Category, ch.Country, ch.Icon, boolInt(ch.Listed), int64(seq), ch.ID)
		return err
	})
	return seq, err
}

// appendKey adds the next key of a locked channel and takes a sequence
// number for it.
func (t *tx) appendKey(id string, k store.ChannelKey, now time.Time) (uint64, error) {
	var last int64
	if err := t.row(`SELECT COALESCE(MAX(idx), -1) FROM channel_keys WHERE channel_id = ?`, id).Scan(&last); err != nil {
		return 0, err
	}
	if int64(k.Index) != last+1 {
		return 0, fmt.Errorf("key %d cannot follow key %d: %w", k.Index, last, store.ErrConflict)
	}
	if _, err := t.exec(`INSERT INTO channel_keys (channel_id, idx, entry, added_at) VALUES (?, ?, ?, ?)`, id, int64(k.Index), k.Entry, unixnano.From(now)); err != nil {
		return 0, err
	}
	seq, err := t.nextSeq(id)
	if err != nil {
		return 0, err
	}
	_, err = t.exec(`UPDATE channels SET info_seq = ? WHERE id = ?`, int64(seq), id)
	return seq, err
}

func (c *Channels) AppendChannelKey(ctx context.Context, id string, k store.ChannelKey, now time.Time) (uint64, error) {
	var seq uint64
	err := c.tx(ctx, "append channel key", func(t *tx) error {
		if err := t.lockChannel(id); err != nil {
			return err
		}
		var err error
		seq, err = t.appendKey(id, k, now)
		return err
	})
	return seq, err
}

// channelTables are the tables keyed by channel_id that go with a
// channel, besides channels itself and channel_media.
var channelTables = []string{
	"channel_keys", "channel_roles", "channel_invites", "channel_followers", "channel_days",
	"posts", "post_media", "post_reaction_counts", "post_option_counts", "post_reactions", "post_votes", "post_views",
	"channel_reports",
}

func (c *Channels) DeleteChannel(ctx context.Context, id string) ([]string, error) {
	var gone []string
	err := c.tx(ctx, "delete channel", func(t *tx) error {
		gone = nil
		if err := t.lockChannel(id); err != nil {
			return err
		}
		hashes, err := strings1(t.rows(`SELECT hash FROM channel_media WHERE channel_id = ?`, id))
		if err != nil {
			return err
		}
		for _, table := range channelTables {
			if _, err := t.exec(`DELETE FROM `+table+` WHERE channel_id = ?`, id); err != nil {
				return err
			}
		}
		if _, err := t.exec(`DELETE FROM channel_media WHERE channel_id = ?`, id); err != nil {
			return err
		}
		if _, err := t.exec(`DELETE FROM channels WHERE id = ?`, id); err != nil {
			return err
		}
		gone, err = t.unheld(hashes)
		return err
	})
	return gone, err
}

// unheld returns the hashes among hs that no channel holds any more.
func (t *tx) unheld(hs []string) ([]string, error) {
	var out []string
	for _, h := range hs {
		var n int
		if err := t.row(`SELECT COUNT(*) FROM channel_media WHERE hash = ?`, h).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			out = append(out, h)
		}
	}
	return out, nil
}

func (c *Channels) setColumn(ctx context.Context, op, set, id string, v any) error {
	return c.tx(ctx, op, func(t *tx) error {
		n, err := t.exec(`UPDATE channels SET `+set+` = ? WHERE id = ?`, v, id)
		if err == nil && n == 0 {
			return fmt.Errorf("channel %s: %w", id, store.ErrNotFound)
		}
		if err != nil && c.d.IsUnique(err) {
			return fmt.Errorf("%s: %w", set, store.ErrExists)
		}
		return err
	})
}

func (c *Channels) SetInviteCode(ctx context.Context, id, code string) error {
	return c.setColumn(ctx, "set invite code", "invite_code", id, code)
}

func (c *Channels) SetVerified(ctx context.Context, id string, v bool) error {
	return c.setColumn(ctx, "set verified", "verified", id, boolInt(v))
}

func (c *Channels) SetSuspended(ctx context.Context, id string, v bool) error {
	return c.setColumn(ctx, "set suspended", "suspended", id, boolInt(v))
}

func (c *Channels) SetAdminGroup(ctx context.Context, id string, group []byte) error {
	return c.tx(ctx, "set admin group", func(t *tx) error {
		var cur []byte
		err := t.row(`SELECT admin_group FROM channels WHERE id = ?`+c.d.ForUpdate, id).Scan(&cur)
		if err != nil {
			return err
		}
		if cur != nil {
			return fmt.Errorf("channel %s has an admin group: %w", id, store.ErrExists)
		}
		_, err = t.exec(`UPDATE channels SET admin_group = ? WHERE id = ?`, group, id)
		if err != nil && c.d.IsUnique(err) {
			return fmt.Errorf("group serves another channel: %w", store.ErrExists)
		}
		return err
	})
}

func (c *Channels) Membership(ctx context.Context, channelID, accountID string) (store.Membership, error) {
	m := store.Membership{ChannelID: channelID, AccountID: accountID}
	var role, since sql.NullInt64
	var muted sql.NullInt64
	err := c.read(ctx).row(`SELECT r.role, r.since, f.muted FROM channels c
		LEFT JOIN channel_roles r ON r.channel_id = c.id AND r.account_id = ?
		LEFT JOIN channel_followers f ON f.channel_id = c.id AND f.account_id = ?
		WHERE c.id = ?`, accountID, accountID, channelID).Scan(&role, &since, &muted)
	if err != nil {
		return store.Membership{}, c.wrap("membership", err)
	}
	m.Role = int32(role.Int64)
	m.Since = unixnano.Time(since.Int64)
	m.Following = muted.Valid
	m.Muted = muted.Int64 != 0
	return m, nil
}

func (c *Channels) Memberships(ctx context.Context, accountID string) ([]store.Membership, error) {
	rows, err := c.read(ctx).rows(`SELECT channel_id, role, since, 0, 0 FROM channel_roles WHERE account_id = ?
		UNION ALL SELECT channel_id, 0, 0, 1, muted FROM channel_followers WHERE account_id = ?
		ORDER BY 1`, accountID, accountID)
	if err != nil {
		return nil, c.wrap("memberships", err)
	}
	defer rows.Close()
	var out []store.Membership
	for rows.Next() {
		var id string
		var role, since, following, muted int64
		if err := rows.Scan(&id, &role, &since, &following, &muted); err != nil {
			return nil, c.wrap("memberships", err)
		}
		if len(out) == 0 || out[len(out)-1].ChannelID != id {
			out = append(out, store.Membership{ChannelID: id, AccountID: accountID})
		}
		m := &out[len(out)-1]
		if role != 0 {
			m.Role, m.Since = int32(role), unixnano.Time(since)
		}
		if following != 0 {
			m.Following, m.Muted = true, muted != 0
		}
	}
	return out, c.wrap("memberships", rows.Err())
}

func (c *Channels) Admins(ctx context.Context, channelID string) ([]store.Membership, error) {
	rows, err := c.read(ctx).rows(`SELECT account_id, role, since FROM channel_roles WHERE channel_id = ?
		ORDER BY role DESC, since, account_id`, channelID)
	if err != nil {
		return nil, c.wrap("admins", err)
	}
	defer rows.Close()
	var out []store.Membership
	for rows.Next() {
		m := store.Membership{ChannelID: channelID}
		var role, since int64
		if err := rows.Scan(&m.AccountID, &role, &since); err != nil {
			return nil, c.wrap("admins", err)
		}
		m.Role, m.Since = int32(role), unixnano.Time(since)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, c.wrap("admins", err)
	}
	if len(out) == 0 {
		return nil, c.wrap("admins", fmt.Errorf("channel %s: %w", channelID, store.ErrNotFound))
	}
	return out, nil
}

// roleOf reads an account's role in a (locked) channel.
func (t *tx) roleOf(channelID, accountID string) (int32, error) {
	var role int64
	err := t.row(`SELECT role FROM channel_roles WHERE channel_id = ? AND account_id = ?`, channelID, accountID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return store.RoleNone, nil
	}
	return int32(role), err
}

func (t *tx) countAdmins(channelID string) (int, error) {
	var n int
	err := t.row(`SELECT COUNT(*) FROM channel_roles WHERE channel_id = ? AND role = ?`, channelID, store.RoleAdmin).Scan(&n)
	return n, err
}

func (c *Channels) InviteAdmin(ctx context.Context, inv store.AdminInvitation, maxAdmins int) error {
	return c.tx(ctx, "invite admin", func(t *tx) error {
		if err := t.lockChannel(inv.ChannelID); err != nil {
			return err
		}
		role, err := t.roleOf(inv.ChannelID, inv.AccountID)
		if err != nil {
			return err
		}
		if role != store.RoleNone {
			return fmt.Errorf("%s already administers %s: %w", inv.AccountID, inv.ChannelID, store.ErrExists)
		}
		n, err := t.countAdmins(inv.ChannelID)
		if err != nil {
			return err
		}
		if n >= maxAdmins {
			return fmt.Errorf("channel %s has %d admins: %w", inv.ChannelID, n, store.ErrLimit)
		}
		_, err = t.exec(`INSERT INTO channel_invites (channel_id, account_id, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (channel_id, account_id) DO UPDATE SET expires_at = excluded.expires_at`,
			inv.ChannelID, inv.AccountID, unixnano.From(inv.ExpiresAt))
		return err
	})
}

func (c *Channels) invitations(ctx context.Context, op, where, key string, now time.Time) ([]store.AdminInvitation, error) {
	rows, err := c.read(ctx).rows(`SELECT channel_id, account_id, expires_at FROM channel_invites
		WHERE `+where+` = ? AND expires_at > ? ORDER BY expires_at, channel_id, account_id`, key, unixnano.From(now))
	if err != nil {
		return nil, c.wrap(op, err)
	}
	defer rows.Close()
	var out []store.AdminInvitation
	for rows.Next() {
		var inv store.AdminInvitation
		var exp int64
		if err := rows.Scan(&inv.ChannelID, &inv.AccountID, &exp); err != nil {
			return nil, c.wrap(op, err)
		}
		inv.ExpiresAt = unixnano.Time(exp)
		out = append(out, inv)
	}
	return out, c.wrap(op, rows.Err())
}

func (c *Channels) Invitations(ctx context.Context, channelID string, now time.Time) ([]store.AdminInvitation, error) {
	return c.invitations(ctx, "invitations", "channel_id", channelID, now)
}

func (c *Channels) InvitationsOf(ctx context.Context, accountID string, now time.Time) ([]store.AdminInvitation, error) {
	return c.invitations(ctx, "invitations of account", "account_id", accountID, now)
}

func (c *Channels) AcceptAdmin(ctx context.Context, channelID, accountID string, now time.Time, maxAdmins int) error {
	return c.tx(ctx, "accept admin", func(t *tx) error {
		if err := t.lockChannel(channelID); err != nil {
			return err
		}
		var exp int64
		err := t.row(`SELECT expires_at FROM channel_invites WHERE channel_id = ? AND account_id = ?`, channelID, accountID).Scan(&exp)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no invitation for %s: %w", accountID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if exp <= unixnano.From(now) {
			return fmt.Errorf("invitation for %s: %w", accountID, store.ErrExpired)
		}
		role, err := t.roleOf(channelID, accountID)
		if err != nil {
			return err
		}
		if role == store.RoleNone {
			n, err := t.countAdmins(channelID)
			if err != nil {
				return err
			}
			if n >= maxAdmins {
				return fmt.Errorf("channel %s has %d admins: %w", channelID, n, store.ErrLimit)
			}
			if _, err := t.exec(`INSERT INTO channel_roles (channel_id, account_id, role, since) VALUES (?, ?, ?, ?)`,
				channelID, accountID, store.RoleAdmin, unixnano.From(now)); err != nil {
				return err
			}
		}
		_, err = t.exec(`DELETE FROM channel_invites WHERE channel_id = ? AND account_id = ?`, channelID, accountID)
		return err
	})
}

func (c *Channels) DeclineAdmin(ctx context.Context, channelID, accountID string) error {
	return c.tx(ctx, "decline admin", func(t *tx) error {
		_, err := t.exec(`DELETE FROM channel_invites WHERE channel_id = ? AND account_id = ?`, channelID, accountID)
		return err
	})
}

func (c *Channels) RemoveAdmin(ctx context.Context, channelID, accountID string, newKey *store.ChannelKey, now time.Time) error {
	return c.tx(ctx, "remove admin", func(t *tx) error {
		if err := t.lockChannel(channelID); err != nil {
			return err
		}
		n, err := t.exec(`DELETE FROM channel_roles WHERE channel_id = ? AND account_id = ? AND role = ?`, channelID, accountID, store.RoleAdmin)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%s is not an admin of %s: %w", accountID, channelID, store.ErrNotFound)
		}
		if newKey != nil {
			_, err = t.appendKey(channelID, *newKey, now)
		}
		return err
	})
}

func (c *Channels) TransferOwnership(ctx context.Context, channelID, from, to string, newKey *store.ChannelKey, now time.Time) error {
	return c.tx(ctx, "transfer ownership", func(t *tx) error {
		if err := t.lockChannel(channelID); err != nil {
			return err
		}
		if r, err := t.roleOf(channelID, from); err != nil {
			return err
		} else if r != store.RoleOwner {
			return fmt.Errorf("%s is not the owner: %w", from, store.ErrConflict)
		}
		if r, err := t.roleOf(channelID, to); err != nil {
			return err
		} else if r != store.RoleAdmin {
			return fmt.Errorf("%s is not an admin: %w", to, store.ErrNotFound)
		}
		if _, err := t.exec(`UPDATE channel_roles SET role = ?, since = ? WHERE channel_id = ? AND account_id = ?`,
			store.RoleOwner, unixnano.From(now), channelID, to); err != nil {
			return err
		}
		if _, err := t.exec(`UPDATE channel_roles SET role = ?, since = ? WHERE channel_id = ? AND account_id = ?`,
			store.RoleAdmin, unixnano.From(now), channelID, from); err != nil {
			return err
		}
		if _, err := t.exec(`UPDATE channels SET owner = ? WHERE id = ?`, to, channelID); err != nil {
			return err
		}
		if newKey != nil {
			_, err := t.appendKey(channelID, *newKey, now)
			return err
		}
		return nil
	})
}

// bumpDay adds to today's follow or unfollow bucket.
func (t *tx) bumpDay(channelID string, now time.Time, follows, unfollows int) error {
	_, err := t.exec(`INSERT INTO channel_days (channel_id, day, follows, unfollows) VALUES (?, ?, ?, ?)
		ON CONFLICT (channel_id, day) DO UPDATE SET follows = channel_days.follows + excluded.follows,
		unfollows = channel_days.unfollows + excluded.unfollows`,
		channelID, unixnano.From(day(now)), follows, unfollows)
	return err
}

func (c *Channels) Follow(ctx context.Context, channelID, accountID string, now time.Time) (bool, error) {
	var fresh bool
	err := c.tx(ctx, "follow", func(t *tx) error {
		fresh = false
		if err := t.lockChannel(channelID); err != nil {
			return err
		}
		n, err := t.exec(`INSERT INTO channel_followers (channel_id, account_id, muted, since) VALUES (?, ?, 0, ?)
			ON CONFLICT (channel_id, account_id) DO NOTHING`, channelID, accountID, unixnano.From(now))
		if err != nil || n == 0 {
			return err
		}
		fresh = true
		if _, err := t.exec(`UPDATE channels SET followers = followers + 1 WHERE id = ?`, channelID); err != nil {
			return err
		}
		return t.bumpDay(channelID, now, 1, 0)
	})
	return fresh, err
}

func (c *Channels) Unfollow(ctx context.Context, channelID, accountID string, now time.Time) (bool, error) {
	var gone bool
	err := c.tx(ctx, "unfollow", func(t *tx) error {
		gone = false
		if err := t.lockChannel(channelID); err != nil {
			return err
		}
		n, err := t.exec(`DELETE FROM channel_followers WHERE channel_id = ? AND account_id = ?`, channelID, accountID)
		if err != nil || n == 0 {
			return err
		}
		gone = true
		if _, err := t.exec(`UPDATE channels SET followers = followers - 1 WHERE id = ?`, channelID); err != nil {
			return err
		}
		return t.bumpDay(channelID, now, 0, 1)
	})
	return gone, err
}

func (c *Channels) SetMuted(ctx context.Context, channelID, accountID string, muted bool) error {
	return c.tx(ctx, "set muted", func(t *tx) error {
		n, err := t.exec(`UPDATE channel_followers SET muted = ? WHERE channel_id = ? AND account_id = ?`, boolInt(muted), channelID, accountID)
		if err == nil && n == 0 {
			return fmt.Errorf("%s does not follow %s: %w", accountID, channelID, store.ErrNotFound)
		}
		return err
	})
}
