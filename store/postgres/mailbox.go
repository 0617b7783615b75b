package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/submission"
	"github.com/parleyhq/parley/store/internal/unixnano"
)

type msgKey struct {
	sender string
	id     string
}

// claimIDs records the submissions' message ids in one statement and
// reports which are new. Within the batch the first use of an id wins.
// Rows are inserted in key order so two batches never wait on each
// other's ids in opposite orders.
func claimIDs(ctx context.Context, tx pgx.Tx, subs []store.Submission) ([]bool, error) {
	first := make(map[msgKey]int, len(subs))
	var senders []string
	var ids [][]byte
	var seen []int64
	for i, sub := range subs {
		k := msgKey{sub.SenderDevice, string(sub.MessageID)}
		if _, dup := first[k]; dup {
			continue
		}
		first[k] = i
		senders = append(senders, sub.SenderDevice)
		ids = append(ids, sub.MessageID)
		seen = append(seen, submission.SeenAt(sub.At, sub.Mail))
	}
	rows, err := tx.Query(ctx, `INSERT INTO message_ids (sender, id, seen_at)
		SELECT s, i, t FROM unnest($1::text[], $2::bytea[], $3::bigint[]) AS u(s, i, t) ORDER BY s, i
		ON CONFLICT DO NOTHING RETURNING sender, id`, senders, ids, seen)
	if err != nil {
		return nil, err
	}
	fresh := make([]bool, len(subs))
	var k msgKey
	var id []byte
	_, err = pgx.ForEachRow(rows, []any{&k.sender, &id}, func() error {
		k.id = string(id)
		fresh[first[k]] = true
		return nil
	})
	return fresh, err
}

// writeMail numbers and inserts mail. Each device's counter row is bumped
// once by its count of mail, in device order (so concurrent batches lock
// counters in the same order), and holds its lock until commit: another
// node's batch for the same device waits, then numbers after this one.
func writeMail(ctx context.Context, tx pgx.Tx, mail []store.Mail) ([]uint64, error) {
	if len(mail) == 0 {
		return nil, nil
	}
	counts := make(map[string]int64)
	var devices []string
	for _, m := range mail {
		if counts[m.DeviceID] == 0 {
			devices = append(devices, m.DeviceID)
		}
		counts[m.DeviceID]++
	}
	ns := make([]int64, len(devices))
	for i, d := range devices {
		ns[i] = counts[d]
	}
	rows, err := tx.Query(ctx, `INSERT INTO mailbox_seq (device_id, last_seq)
		SELECT d, n FROM unnest($1::text[], $2::bigint[]) AS u(d, n) ORDER BY d
		ON CONFLICT (device_id) DO UPDATE SET last_seq = mailbox_seq.last_seq + EXCLUDED.last_seq
		RETURNING device_id, last_seq`, devices, ns)
	if err != nil {
		return nil, err
	}
	next := make(map[string]int64, len(devices))
	var dev string
	var last int64
	if _, err := pgx.ForEachRow(rows, []any{&dev, &last}, func() error {
		next[dev] = last - counts[dev] + 1
		return nil
	}); err != nil {
		return nil, err
	}
	seqs := make([]uint64, len(mail))
	devs := make([]string, len(mail))
	seqCol := make([]int64, len(mail))
	envs := make([][]byte, len(mail))
	exps := make([]int64, len(mail))
	for i, m := range mail {
		seqCol[i] = next[m.DeviceID]
		next[m.DeviceID]++
		seqs[i] = uint64(seqCol[i])
		devs[i], envs[i], exps[i] = m.DeviceID, m.Envelope, unixnano.From(m.Expires)
	}
	_, err = tx.Exec(ctx, `INSERT INTO mail (device_id, seq, envelope, expires)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bigint[])`, devs, seqCol, envs, exps)
	return seqs, err
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
	if len(subs) == 0 {
		if len(acks) > 0 {
			if err := s.AckAll(ctx, acks); err != nil {
				return nil, err
			}
		}
		return []error{}, nil
	}
	var results []error
	var seqs []uint64
	err := s.tx(ctx, "deliver", func(tx pgx.Tx) error {
		if len(acks) > 0 {
			if err := ackExec(ctx, tx, acks); err != nil {
				return err
			}
		}
		results = make([]error, len(subs))
		fresh, err := claimIDs(ctx, tx, subs)
		if err != nil {
			return err
		}
		var mail []store.Mail
		for i, sub := range subs {
			if !fresh[i] {
				results[i] = store.ErrDuplicate
				continue
			}
			mail = append(mail, sub.Mail...)
		}
		seqs, err = writeMail(ctx, tx, mail)
		return err
	})
	if err != nil {
		return nil, err
	}
	// Only now, with the batch committed, do the caller's Mail get their Seq.
	k := 0
	for i := range subs {
		if results[i] != nil {
			continue
		}
		for j := range subs[i].Mail {
			subs[i].Mail[j].Seq = seqs[k]
			k++
		}
	}
	return results, nil
}

func (s *Store) Fetch(ctx context.Context, deviceID string, after uint64, limit int, now time.Time) ([]store.Mail, error) {
	if limit <= 0 || limit > MaxFetch {
		limit = MaxFetch
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, envelope, expires FROM mail
		WHERE device_id = $1 AND seq > $2 AND expires >= $3 ORDER BY seq LIMIT $4`,
		deviceID, int64(min(after, 1<<63-1)), unixnano.From(now), limit)
	if err != nil {
		return nil, wrap("fetch", err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Mail, error) {
		m := store.Mail{DeviceID: deviceID}
		var seq, exp int64
		err := r.Scan(&seq, &m.Envelope, &exp)
		m.Seq, m.Expires = uint64(seq), unixnano.Time(exp)
		return m, err
	})
	return ms, wrap("fetch", err)
}

func (s *Store) Ack(ctx context.Context, deviceID string, upTo uint64) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM mail WHERE device_id = $1 AND seq <= $2`, deviceID, int64(min(upTo, 1<<63-1)))
	return wrap("ack", err)
}

func (s *Store) AckAll(ctx context.Context, acks []store.AckUpTo) error {
	return wrap("ack", ackExec(ctx, s.pool, acks))
}

// ackExec deletes the acknowledged mail of many devices in one statement.
func ackExec(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, acks []store.AckUpTo) error {
	devs := make([]string, len(acks))
	seqs := make([]int64, len(acks))
	for i, a := range acks {
		devs[i], seqs[i] = a.DeviceID, int64(min(a.UpTo, 1<<63-1))
	}
	_, err := db.Exec(ctx, `DELETE FROM mail m USING unnest($1::text[], $2::bigint[]) AS a(device_id, up_to)
		WHERE m.device_id = a.device_id AND m.seq <= a.up_to`, devs, seqs)
	return err
}

func (s *Store) MailboxDepth(ctx context.Context, deviceID string) (int, uint64, error) {
	var n, last int64
	err := s.pool.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM mail WHERE device_id = $1),
		COALESCE((SELECT last_seq FROM mailbox_seq WHERE device_id = $1), 0)`, deviceID).Scan(&n, &last)
	return int(n), uint64(last), wrap("mailbox depth", err)
}

// expireChunk bounds the rows one Expire statement deletes, so a large
// backlog never holds locks or bloats one transaction for long.
const expireChunk = 5000

// Expire also drops expired link requests and invites: nothing else
// would, and an expired one behaves exactly like an unknown one. It deletes
// in chunks, each its own transaction; a failure part-way leaves the rest
// for the next run.
func (s *Store) Expire(ctx context.Context, now, idsBefore time.Time) (int, error) {
	var mailDeleted int
	for _, q := range []struct {
		sql  string
		at   time.Time
		mail bool
	}{
		{`DELETE FROM mail WHERE ctid IN (SELECT ctid FROM mail WHERE expires < $1 LIMIT $2)`, now, true},
		{`DELETE FROM message_ids WHERE ctid IN (SELECT ctid FROM message_ids WHERE seen_at < $1 LIMIT $2)`, idsBefore, false},
		{`DELETE FROM link_requests WHERE ctid IN (SELECT ctid FROM link_requests WHERE expires_at < $1 LIMIT $2)`, now, false},
		{`DELETE FROM invites WHERE ctid IN (SELECT ctid FROM invites WHERE expires_at < $1 LIMIT $2)`, now, false},
	} {
		for {
			tag, err := s.pool.Exec(ctx, q.sql, unixnano.From(q.at), expireChunk)
			if err != nil {
				return mailDeleted, wrap("expire", err)
			}
			n := tag.RowsAffected()
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
