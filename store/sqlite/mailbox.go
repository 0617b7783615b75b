package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/submission"
	"github.com/parleyhq/parley/store/internal/unixnano"
)

// writeStmts are the hot path's statements, prepared once on the writer
// connection and bound to each transaction with Tx.StmtContext.
type writeStmts struct {
	insertID, getSeq, putSeq, insertMail *sql.Stmt
}

func (p *writeStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, st := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&p.insertID, `INSERT INTO message_ids (sender, id, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`},
		{&p.getSeq, `SELECT last_seq FROM mailbox_seq WHERE device_id = ?`},
		{&p.putSeq, `INSERT INTO mailbox_seq (device_id, last_seq) VALUES (?, ?)
			ON CONFLICT (device_id) DO UPDATE SET last_seq = excluded.last_seq`},
		{&p.insertMail, `INSERT INTO mail (device_id, seq, envelope, expires) VALUES (?, ?, ?, ?)`},
	} {
		stmt, err := db.PrepareContext(ctx, st.sql)
		if err != nil {
			return err
		}
		*st.dst = stmt
	}
	return nil
}

func (p *writeStmts) close() {
	for _, st := range []*sql.Stmt{p.insertID, p.getSeq, p.putSeq, p.insertMail} {
		if st != nil {
			st.Close()
		}
	}
}

// mailBatch writes mail inside one transaction. It reads each device's
// counter once, numbers that device's mail in memory and writes the counter
// back once at flush, so a batch costs one insert per mail plus two
// statements per distinct device. The single writer connection makes the
// read-modify-write safe.
type mailBatch struct {
	ctx                                  context.Context
	insertID, getSeq, putSeq, insertMail *sql.Stmt
	last                                 map[string]uint64
	order                                []string // devices in first-use order, for flush
}

func (s *Store) newBatch(ctx context.Context, tx *sql.Tx) *mailBatch {
	return &mailBatch{
		ctx:        ctx,
		insertID:   tx.StmtContext(ctx, s.stmts.insertID),
		getSeq:     tx.StmtContext(ctx, s.stmts.getSeq),
		putSeq:     tx.StmtContext(ctx, s.stmts.putSeq),
		insertMail: tx.StmtContext(ctx, s.stmts.insertMail),
		last:       make(map[string]uint64),
	}
}

// claimID records the sender's message id; false if it was seen before.
func (b *mailBatch) claimID(sender string, id []byte, seen int64) (bool, error) {
	res, err := b.insertID.ExecContext(b.ctx, sender, id, seen)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// add writes one mail entry and returns its sequence number.
func (b *mailBatch) add(m store.Mail) (uint64, error) {
	last, ok := b.last[m.DeviceID]
	if !ok {
		err := b.getSeq.QueryRowContext(b.ctx, m.DeviceID).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, err
		}
		b.order = append(b.order, m.DeviceID)
	}
	seq := last + 1
	if _, err := b.insertMail.ExecContext(b.ctx, m.DeviceID, seq, m.Envelope, unixnano.From(m.Expires)); err != nil {
		return 0, err
	}
	b.last[m.DeviceID] = seq
	return seq, nil
}

func (b *mailBatch) flush() error {
	for _, dev := range b.order {
		if _, err := b.putSeq.ExecContext(b.ctx, dev, b.last[dev]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) Deliver(ctx context.Context, subs []store.Submission) ([]error, error) {
	return s.DeliverAndAck(ctx, subs, nil)
}

func (s *Store) DeliverAndAck(ctx context.Context, subs []store.Submission, acks []store.AckUpTo) ([]error, error) {
	for _, sub := range subs {
		if err := submission.Check(sub.SenderDevice, sub.MessageID, sub.Mail); err != nil {
			return nil, wrap("deliver", err)
		}
	}
	results := make([]error, len(subs))
	seqs := make([][]uint64, len(subs))
	err := s.write(ctx, "deliver", func(tx *sql.Tx) error {
		b := s.newBatch(ctx, tx)
		for i, sub := range subs {
			fresh, err := b.claimID(sub.SenderDevice, sub.MessageID, submission.SeenAt(sub.At, sub.Mail))
			if err != nil {
				return err
			}
			if !fresh {
				results[i] = store.ErrDuplicate
				continue
			}
			seqs[i] = make([]uint64, len(sub.Mail))
			for j, m := range sub.Mail {
				if seqs[i][j], err = b.add(m); err != nil {
					return err
				}
			}
		}
		if err := b.flush(); err != nil {
			return err
		}
		return ackTx(ctx, tx, acks)
	})
	if err != nil {
		return nil, err
	}
	// Only now, with the batch durable, do the caller's Mail get their Seq.
	for i := range subs {
		for j := range seqs[i] {
			subs[i].Mail[j].Seq = seqs[i][j]
		}
	}
	return results, nil
}

// fetchSQL reads a mailbox in order. Its LIMIT is a constant and Fetch
// stops reading at its own limit: a bound LIMIT parameter makes SQLite
// plan the statement anew at every use (the planner takes the limit's
// value into account), which cost two thirds of each Fetch; rows past the
// caller's limit are never computed, since SQLite steps lazily.
var fetchSQL = fmt.Sprintf(`SELECT seq, envelope, expires FROM mail
		WHERE device_id = ? AND seq > ? AND expires >= ? ORDER BY seq LIMIT %d`, MaxFetch)

func (s *Store) Fetch(ctx context.Context, deviceID string, after uint64, limit int, now time.Time) ([]store.Mail, error) {
	if limit <= 0 || limit > MaxFetch {
		limit = MaxFetch
	}
	rows, err := s.r.QueryContext(ctx, fetchSQL, deviceID, clamp(after), unixnano.From(now))
	if err != nil {
		return nil, wrap("fetch", err)
	}
	defer rows.Close()
	var ms []store.Mail
	for len(ms) < limit && rows.Next() {
		m := store.Mail{DeviceID: deviceID}
		var exp int64
		if err := rows.Scan(&m.Seq, &m.Envelope, &exp); err != nil {
			return nil, wrap("fetch", err)
		}
		m.Expires = unixnano.Time(exp)
		ms = append(ms, m)
	}
	return ms, wrap("fetch", rows.Err())
}

func (s *Store) Ack(ctx context.Context, deviceID string, upTo uint64) error {
	return s.write(ctx, "ack", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM mail WHERE device_id = ? AND seq <= ?`, deviceID, clamp(upTo))
		return err
	})
}

func (s *Store) AckAll(ctx context.Context, acks []store.AckUpTo) error {
	return s.write(ctx, "ack", func(tx *sql.Tx) error { return ackTx(ctx, tx, acks) })
}

func ackTx(ctx context.Context, tx *sql.Tx, acks []store.AckUpTo) error {
	for _, a := range acks {
		if _, err := tx.ExecContext(ctx, `DELETE FROM mail WHERE device_id = ? AND seq <= ?`, a.DeviceID, clamp(a.UpTo)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) MailboxDepth(ctx context.Context, deviceID string) (int, uint64, error) {
	var n int
	var last uint64
	err := s.r.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM mail WHERE device_id = ?1),
		COALESCE((SELECT last_seq FROM mailbox_seq WHERE device_id = ?1), 0)`, deviceID).Scan(&n, &last)
	return n, last, wrap("mailbox depth", err)
}

// expireChunk bounds the rows one Expire transaction deletes, so a large
// backlog of expired mail never holds the single writer (and with it every
// Deliver) for long.
const expireChunk = 5000

// Expire also drops expired link requests and invites: nothing else
// would, and an expired one behaves exactly like an unknown one. It deletes
// in chunks, one transaction each; a failure part-way leaves the rest for
// the next run.
func (s *Store) Expire(ctx context.Context, now, idsBefore time.Time) (int, error) {
	var mailDeleted int
	for _, q := range []struct {
		sql  string
		at   time.Time
		mail bool
	}{
		{`DELETE FROM mail WHERE rowid IN (SELECT rowid FROM mail WHERE expires < ? LIMIT ?)`, now, true},
		{`DELETE FROM message_ids WHERE (sender, id) IN (SELECT sender, id FROM message_ids WHERE seen_at < ? LIMIT ?)`, idsBefore, false},
		{`DELETE FROM link_requests WHERE code IN (SELECT code FROM link_requests WHERE expires_at < ? LIMIT ?)`, now, false},
		{`DELETE FROM invites WHERE code IN (SELECT code FROM invites WHERE expires_at < ? LIMIT ?)`, now, false},
	} {
		for {
			var n int64
			err := s.write(ctx, "expire", func(tx *sql.Tx) error {
				res, err := tx.ExecContext(ctx, q.sql, unixnano.From(q.at), expireChunk)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return mailDeleted, err
			}
			if q.mail {
				mailDeleted += int(n)
			}
			if n < expireChunk {
				break
			}
		}
	}
	return mailDeleted, nil
}

// clamp maps a client-supplied sequence into SQLite's signed 64-bit range
// (database/sql refuses uint64 values with the high bit set); real
// sequences never get near it.
func clamp(seq uint64) int64 { return int64(min(seq, math.MaxInt64)) }
