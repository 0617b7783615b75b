package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/submission"
	"github.com/parleyhq/parley/store/internal/unixnano"
)

type msgKey struct {
	sender string
	id     string
}

// mailBatch claims message ids and numbers and writes mail inside one
// transaction of mailWrite. add numbers mail from the writer's counters
// (seqCache, falling back on mailbox_seq) and buffers it; flush writes the
// buffered mail and each device's new counter with multi-row statements.
type mailBatch struct {
	ctx   context.Context
	tx    *sql.Tx
	seqs  *seqCache
	next  map[string]uint64 // each device's last sequence in this batch
	order []string          // devices in first-use order
	rows  []store.Mail      // numbered, not yet written
}

// mailWrite runs fn in one write transaction with a mailBatch. It holds
// the counters' lock from before the transaction begins until they have
// taken its numbers (committed) or been dropped (failed), so every
// transaction that numbers mail sees the counters its predecessor left.
func (s *Store) mailWrite(ctx context.Context, op string, fn func(*sql.Tx, *mailBatch) error) error {
	s.seqs.mu.Lock()
	defer s.seqs.mu.Unlock()
	b := &mailBatch{ctx: ctx, seqs: s.seqs, next: make(map[string]uint64)}
	committing := false
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		if err := s.seqs.check(ctx, tx, s.gen.Load()); err != nil {
			return err
		}
		b.tx = tx
		if err := fn(tx, b); err != nil {
			return err // rolled back: the counters are as they were
		}
		committing = true
		return nil
	})
	if err != nil {
		if committing {
			// A failed commit may or may not have reached the file.
			s.seqs.drop()
		}
		return err
	}
	s.seqs.commit(b.next)
	return nil
}

// claimID records the sender's message id; false if it was seen before.
func (b *mailBatch) claimID(sender string, id []byte, seen int64) (bool, error) {
	fresh, err := b.claimIDs([]store.Submission{{SenderDevice: sender, MessageID: id}}, []int64{seen})
	if err != nil {
		return false, err
	}
	return fresh[0], nil
}

// claimIDs records the submissions' message ids, each seen at seen[i], and
// reports which are new. Within the batch the first use of an id wins.
func (b *mailBatch) claimIDs(subs []store.Submission, seen []int64) ([]bool, error) {
	first := make(map[msgKey]int, len(subs))
	todo := make([]int, 0, len(subs))
	for i, sub := range subs {
		k := msgKey{sub.SenderDevice, string(sub.MessageID)}
		if _, dup := first[k]; dup {
			continue
		}
		first[k] = i
		todo = append(todo, i)
	}
	fresh := make([]bool, len(subs))
	args := make([]any, 0, 3*min(len(todo), maxRowsPerStmt))
	err := chunks(len(todo), func(off, n int) error {
		args = args[:0]
		for _, i := range todo[off : off+n] {
			args = append(args, subs[i].SenderDevice, subs[i].MessageID, seen[i])
		}
		rows, err := b.tx.QueryContext(b.ctx, claimRows.text(n), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var k msgKey
		var id sql.RawBytes
		for rows.Next() {
			if err := rows.Scan(&k.sender, &id); err != nil {
				return err
			}
			k.id = string(id)
			fresh[first[k]] = true
		}
		return rows.Err()
	})
	return fresh, err
}

// add numbers one mail entry, to be written by flush, and returns its
// sequence number.
func (b *mailBatch) add(m store.Mail) (uint64, error) {
	last, ok := b.next[m.DeviceID]
	if !ok {
		var err error
		if last, err = b.seqs.lookup(b.ctx, b.tx, m.DeviceID); err != nil {
			return 0, err
		}
		b.order = append(b.order, m.DeviceID)
	}
	m.Seq = last + 1
	b.next[m.DeviceID] = m.Seq
	b.rows = append(b.rows, m)
	return m.Seq, nil
}

// flush writes the mail added since the last flush and the counters of
// every device numbered in this transaction (all of them, so a second
// flush in one transaction never leaves a counter behind its mail).
func (b *mailBatch) flush() error {
	args := make([]any, 0, 4*min(len(b.rows), maxRowsPerStmt))
	if err := chunks(len(b.rows), func(off, n int) error {
		args = args[:0]
		for _, m := range b.rows[off : off+n] {
			args = append(args, m.DeviceID, int64(m.Seq), m.Envelope, unixnano.From(m.Expires))
		}
		_, err := b.tx.ExecContext(b.ctx, mailRows.text(n), args...)
		return err
	}); err != nil {
		return err
	}
	b.rows = b.rows[:0]
	err := chunks(len(b.order), func(off, n int) error {
		args = args[:0]
		for _, d := range b.order[off : off+n] {
			args = append(args, d, int64(b.next[d]))
		}
		_, err := b.tx.ExecContext(b.ctx, seqRows.text(n), args...)
		return err
	})
	return err
}

func (s *Store) Deliver(ctx context.Context, subs []store.Submission) ([]error, error) {
	return s.DeliverAndAck(ctx, subs, nil)
}

// DeliverAndAck writes the batch with a few multi-row statements (message
// ids, mail, the devices' counters, acks; each in statements of up to
// maxRowsPerStmt rows), numbering mail from the writer's in-memory
// counters.
func (s *Store) DeliverAndAck(ctx context.Context, subs []store.Submission, acks []store.AckUpTo) ([]error, error) {
	seen := make([]int64, len(subs))
	for i, sub := range subs {
		if err := submission.Check(sub.SenderDevice, sub.MessageID, sub.Mail); err != nil {
			return nil, wrap("deliver", err)
		}
		seen[i] = submission.SeenAt(sub.At, sub.Mail)
	}
	results := make([]error, len(subs))
	seqs := make([][]uint64, len(subs))
	err := s.mailWrite(ctx, "deliver", func(tx *sql.Tx, b *mailBatch) error {
		if len(subs) > 0 {
			fresh, err := b.claimIDs(subs, seen)
			if err != nil {
				return err
			}
			for i, sub := range subs {
				if !fresh[i] {
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
		_, err := tx.ExecContext(ctx, ackOne, deviceID, clamp(upTo))
		return err
	})
}

func (s *Store) AckAll(ctx context.Context, acks []store.AckUpTo) error {
	return s.write(ctx, "ack", func(tx *sql.Tx) error { return ackTx(ctx, tx, acks) })
}

// ackTx applies acks, merged per device (the highest wins), with
// multi-row deletes.
func ackTx(ctx context.Context, tx *sql.Tx, acks []store.AckUpTo) error {
	if len(acks) == 0 {
		return nil
	}
	upTo := make(map[string]int64, len(acks))
	order := make([]string, 0, len(acks))
	for _, a := range acks {
		u, ok := upTo[a.DeviceID]
		if !ok {
			order = append(order, a.DeviceID)
		}
		upTo[a.DeviceID] = max(u, clamp(a.UpTo))
	}
	args := make([]any, 0, 2*min(len(order), maxRowsPerStmt))
	return chunks(len(order), func(off, n int) error {
		args = args[:0]
		for _, d := range order[off : off+n] {
			args = append(args, d, upTo[d])
		}
		_, err := tx.ExecContext(ctx, ackRows.text(n), args...)
		return err
	})
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
