package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/submission"
)

func (s *Store) ApplyCommit(ctx context.Context, c store.CommitRecord) (store.Group, error) {
	if err := submission.Check(c.SenderDevice, c.MessageID, c.Mail); err != nil {
		return store.Group{}, wrap("apply commit", err)
	}
	var g store.Group
	var seqs []uint64
	err := s.mailWrite(ctx, "apply commit", func(tx *sql.Tx, b *mailBatch) error {
		fresh, err := b.claimID(c.SenderDevice, c.MessageID, submission.SeenAt(c.At, c.Mail))
		if err != nil {
			return err
		}
		if !fresh {
			return repeated(ctx, tx, c)
		}
		var epoch uint64
		err = tx.QueryRowContext(ctx, `SELECT epoch FROM mls_groups WHERE id = ?`, c.GroupID).Scan(&epoch)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if c.Epoch != 0 {
				return fmt.Errorf("group %x at epoch %d: %w", c.GroupID, c.Epoch, store.ErrNotFound)
			}
			if err := createGroup(ctx, tx, c); err != nil {
				return err
			}
		case err != nil:
			return err
		case epoch != c.Epoch:
			conflict := &store.EpochConflict{Current: epoch}
			err := tx.QueryRowContext(ctx, `SELECT commit_msg FROM group_commits WHERE group_id = ? AND epoch = ?`,
				c.GroupID, c.Epoch).Scan(&conflict.Winning)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			return conflict
		}
		if err := applyMembership(ctx, tx, c); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO group_commits (group_id, epoch, commit_msg) VALUES (?, ?, ?)`,
			c.GroupID, c.Epoch, c.Commit); err != nil {
			return err
		}
		if c.Epoch >= keptCommits {
			if _, err := tx.ExecContext(ctx, `DELETE FROM group_commits WHERE group_id = ? AND epoch <= ?`,
				c.GroupID, c.Epoch-keptCommits); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mls_groups SET epoch = ?, group_info = COALESCE(?, group_info) WHERE id = ?`,
			c.Epoch+1, nullIfNil(c.GroupInfo), c.GroupID); err != nil {
			return err
		}
		seqs = make([]uint64, len(c.Mail))
		for i, m := range c.Mail {
			if seqs[i], err = b.add(m); err != nil {
				return err
			}
		}
		if err := b.flush(); err != nil {
			return err
		}
		g, err = readGroup(ctx, tx, c.GroupID)
		return err
	})
	if err != nil {
		return store.Group{}, err
	}
	for i := range seqs {
		c.Mail[i].Seq = seqs[i]
	}
	return g, nil
}

// repeated is the answer to a commit whose message id was used: the
// commit accepted for its epoch, if kept and byte for byte this one, was
// this one.
func repeated(ctx context.Context, tx *sql.Tx, c store.CommitRecord) error {
	var accepted []byte
	err := tx.QueryRowContext(ctx, `SELECT commit_msg FROM group_commits WHERE group_id = ? AND epoch = ?`,
		c.GroupID, c.Epoch).Scan(&accepted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrDuplicate
	case err != nil:
		return err
	case bytes.Equal(accepted, c.Commit):
		return &store.CommitRepeated{Epoch: c.Epoch + 1}
	}
	return store.ErrDuplicate
}

// createGroup makes the group at epoch 0 with the committer as its only
// member; the commit's own additions follow in applyMembership.
func createGroup(ctx context.Context, tx *sql.Tx, c store.CommitRecord) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO mls_groups (id, epoch, kind) VALUES (?, 0, ?)`, c.GroupID, c.Kind); err != nil {
		return err
	}
	for _, a := range c.Accounts {
		if _, err := tx.ExecContext(ctx, `INSERT INTO group_accounts (group_id, account_id) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			c.GroupID, a); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO group_members (group_id, device_id) VALUES (?, ?)`, c.GroupID, c.SenderDevice)
	return err
}

func applyMembership(ctx context.Context, tx *sql.Tx, c store.CommitRecord) error {
	for _, d := range c.AddDevices {
		if _, err := tx.ExecContext(ctx, `INSERT INTO group_members (group_id, device_id) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			c.GroupID, d); err != nil {
			return err
		}
	}
	for _, d := range c.RemoveDevices {
		if _, err := tx.ExecContext(ctx, `DELETE FROM group_members WHERE group_id = ? AND device_id = ?`, c.GroupID, d); err != nil {
			return err
		}
	}
	return nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func readGroup(ctx context.Context, q querier, id []byte) (store.Group, error) {
	g := store.Group{ID: id}
	err := q.QueryRowContext(ctx, `SELECT epoch, kind FROM mls_groups WHERE id = ?`, id).Scan(&g.Epoch, &g.Kind)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Group{}, fmt.Errorf("group %x: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Group{}, err
	}
	if g.Accounts, err = column(ctx, q, `SELECT account_id FROM group_accounts WHERE group_id = ? ORDER BY account_id`, id); err != nil {
		return store.Group{}, err
	}
	if g.Devices, err = column(ctx, q, `SELECT device_id FROM group_members WHERE group_id = ? ORDER BY device_id`, id); err != nil {
		return store.Group{}, err
	}
	return g, nil
}

// column runs a one-column query.
func column(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (s *Store) Group(ctx context.Context, id []byte) (store.Group, error) {
	g, err := readGroup(ctx, s.r, id)
	return g, wrap("group", err)
}

func (s *Store) GroupInfo(ctx context.Context, id []byte) ([]byte, error) {
	var info []byte
	err := s.r.QueryRowContext(ctx, `SELECT group_info FROM mls_groups WHERE id = ?`, id).Scan(&info)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && info == nil) {
		return nil, wrap("group info", fmt.Errorf("group %x: %w", id, store.ErrNotFound))
	}
	return info, wrap("group info", err)
}

func (s *Store) GroupsOfDevice(ctx context.Context, deviceID string) ([][]byte, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT group_id FROM group_members WHERE device_id = ? ORDER BY group_id`, deviceID)
	if err != nil {
		return nil, wrap("groups of device", err)
	}
	defer rows.Close()
	var ids [][]byte
	for rows.Next() {
		var id []byte
		if err := rows.Scan(&id); err != nil {
			return nil, wrap("groups of device", err)
		}
		ids = append(ids, id)
	}
	return ids, wrap("groups of device", rows.Err())
}

// nullIfNil binds a nil slice as SQL NULL (drivers may bind an empty blob).
func nullIfNil(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
