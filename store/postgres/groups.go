package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/submission"
)

// repeated is the answer to a commit whose message id was used: the
// commit accepted for its epoch, if kept and byte for byte this one, was
// this one.
func repeated(ctx context.Context, tx pgx.Tx, c store.CommitRecord) error {
	var accepted []byte
	err := tx.QueryRow(ctx, `SELECT commit_msg FROM group_commits WHERE group_id = $1 AND epoch = $2`,
		c.GroupID, int64(c.Epoch)).Scan(&accepted)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.ErrDuplicate
	case err != nil:
		return err
	case bytes.Equal(accepted, c.Commit):
		return &store.CommitRepeated{Epoch: c.Epoch + 1}
	}
	return store.ErrDuplicate
}

// ApplyCommit locks the group's row for the whole transaction: of two
// commits for one epoch, on any nodes, the second waits, then sees the
// epoch moved and gets the first one's commit in its EpochConflict.
func (s *Store) ApplyCommit(ctx context.Context, c store.CommitRecord) (store.Group, error) {
	if err := submission.Check(c.SenderDevice, c.MessageID, c.Mail); err != nil {
		return store.Group{}, wrap("apply commit", err)
	}
	var g store.Group
	var seqs []uint64
	err := s.tx(ctx, "apply commit", func(tx pgx.Tx) error {
		fresh, err := claimIDs(ctx, tx, []store.Submission{{SenderDevice: c.SenderDevice, MessageID: c.MessageID, Mail: c.Mail, At: c.At}})
		if err != nil {
			return err
		}
		if !fresh[0] {
			return repeated(ctx, tx, c)
		}
		epoch, exists, err := lockGroup(ctx, tx, c.GroupID)
		if err != nil {
			return err
		}
		if !exists {
			if c.Epoch != 0 {
				return fmt.Errorf("group %x at epoch %d: %w", c.GroupID, c.Epoch, store.ErrNotFound)
			}
			created, err := createGroup(ctx, tx, c)
			if err != nil {
				return err
			}
			if !created { // another node created it first: conflict with that commit
				if epoch, _, err = lockGroup(ctx, tx, c.GroupID); err != nil {
					return err
				}
				exists = true
			}
		}
		if exists && epoch != c.Epoch {
			conflict := &store.EpochConflict{Current: epoch}
			err := tx.QueryRow(ctx, `SELECT commit_msg FROM group_commits WHERE group_id = $1 AND epoch = $2`,
				c.GroupID, int64(c.Epoch)).Scan(&conflict.Winning)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			return conflict
		}
		if err := applyMembership(ctx, tx, c); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO group_commits (group_id, epoch, commit_msg) VALUES ($1, $2, $3)`,
			c.GroupID, int64(c.Epoch), c.Commit); err != nil {
			return err
		}
		if c.Epoch >= keptCommits {
			if _, err := tx.Exec(ctx, `DELETE FROM group_commits WHERE group_id = $1 AND epoch <= $2`,
				c.GroupID, int64(c.Epoch-keptCommits)); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE mls_groups SET epoch = $1, group_info = COALESCE($2, group_info) WHERE id = $3`,
			int64(c.Epoch+1), c.GroupInfo, c.GroupID); err != nil {
			return err
		}
		if seqs, err = writeMail(ctx, tx, c.Mail); err != nil {
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

func lockGroup(ctx context.Context, tx pgx.Tx, id []byte) (epoch uint64, exists bool, err error) {
	var e int64
	err = tx.QueryRow(ctx, `SELECT epoch FROM mls_groups WHERE id = $1 FOR UPDATE`, id).Scan(&e)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return uint64(e), err == nil, err
}

// createGroup makes the group at epoch 0 with the committer as its only
// member; false if a concurrent transaction created it first.
func createGroup(ctx context.Context, tx pgx.Tx, c store.CommitRecord) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO mls_groups (id, epoch, kind) VALUES ($1, 0, $2) ON CONFLICT (id) DO NOTHING`, c.GroupID, c.Kind)
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO group_accounts (group_id, account_id)
		SELECT $1, a FROM unnest($2::text[]) AS u(a) ON CONFLICT DO NOTHING`, c.GroupID, c.Accounts); err != nil {
		return false, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO group_members (group_id, device_id) VALUES ($1, $2)`, c.GroupID, c.SenderDevice)
	return err == nil, err
}

func applyMembership(ctx context.Context, tx pgx.Tx, c store.CommitRecord) error {
	if len(c.AddDevices) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO group_members (group_id, device_id)
			SELECT $1, d FROM unnest($2::text[]) AS u(d) ON CONFLICT DO NOTHING`, c.GroupID, c.AddDevices); err != nil {
			return err
		}
	}
	if len(c.RemoveDevices) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM group_members WHERE group_id = $1 AND device_id = ANY($2::text[])`,
			c.GroupID, c.RemoveDevices); err != nil {
			return err
		}
	}
	return nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func readGroup(ctx context.Context, q querier, id []byte) (store.Group, error) {
	g := store.Group{ID: id}
	var epoch int64
	err := q.QueryRow(ctx, `SELECT epoch, kind FROM mls_groups WHERE id = $1`, id).Scan(&epoch, &g.Kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Group{}, fmt.Errorf("group %x: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Group{}, err
	}
	g.Epoch = uint64(epoch)
	if g.Accounts, err = column[string](ctx, q, `SELECT account_id FROM group_accounts WHERE group_id = $1 ORDER BY account_id COLLATE "C"`, id); err != nil {
		return store.Group{}, err
	}
	if g.Devices, err = column[string](ctx, q, `SELECT device_id FROM group_members WHERE group_id = $1 ORDER BY device_id COLLATE "C"`, id); err != nil {
		return store.Group{}, err
	}
	return g, nil
}

// column runs a one-column query.
func column[T any](ctx context.Context, q querier, sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[T])
}

func (s *Store) Group(ctx context.Context, id []byte) (store.Group, error) {
	g, err := readGroup(ctx, s.pool, id)
	return g, wrap("group", err)
}

func (s *Store) GroupInfo(ctx context.Context, id []byte) ([]byte, error) {
	var info []byte
	err := s.pool.QueryRow(ctx, `SELECT group_info FROM mls_groups WHERE id = $1`, id).Scan(&info)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && info == nil) {
		return nil, wrap("group info", fmt.Errorf("group %x: %w", id, store.ErrNotFound))
	}
	return info, wrap("group info", err)
}

func (s *Store) GroupsOfDevice(ctx context.Context, deviceID string) ([][]byte, error) {
	ids, err := column[[]byte](ctx, s.pool, `SELECT group_id FROM group_members WHERE device_id = $1 ORDER BY group_id`, deviceID)
	return ids, wrap("groups of device", err)
}
