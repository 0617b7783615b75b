package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math/bits"
	"strings"
	"sync"
)

// maxRowsPerStmt bounds the rows of one multi-row statement. A batch of n
// rows is written as n/maxRowsPerStmt full statements and one statement
// per set bit of the remainder, so each multi-row statement exists in at
// most eight texts (the statement cache keeps them all) and binds at most
// 4 × 128 = 512 variables, far below SQLite's limit (32,766).
const maxRowsPerStmt = 128

// multiRow is a statement over a VALUES list of 1 to maxRowsPerStmt
// rows, its texts built once.
type multiRow struct {
	texts [8]string // texts[k] has 1<<k rows
}

// newMultiRow builds the texts of prefix + "VALUES (?, ...), ..." + suffix
// for cols variables per row.
func newMultiRow(prefix string, cols int, suffix string) *multiRow {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	var m multiRow
	for k := range m.texts {
		var b strings.Builder
		b.WriteString(prefix)
		b.WriteString(" VALUES ")
		for i := range 1 << k {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row)
		}
		b.WriteString(suffix)
		m.texts[k] = b.String()
	}
	return &m
}

// text is the statement for n rows, n a power of two ≤ maxRowsPerStmt.
func (m *multiRow) text(n int) string { return m.texts[bits.TrailingZeros(uint(n))] }

// chunks calls fn for consecutive ranges [off, off+n) covering total rows,
// each n a power of two ≤ maxRowsPerStmt, largest first.
func chunks(total int, fn func(off, n int) error) error {
	off := 0
	for n := maxRowsPerStmt; n > 0; n >>= 1 {
		for total-off >= n {
			if err := fn(off, n); err != nil {
				return err
			}
			off += n
		}
	}
	return nil
}

// ackOne is Ack's statement: one device's mail up to a sequence.
const ackOne = `DELETE FROM mail WHERE device_id = ? AND seq <= ?`

var (
	// claimRows records message ids; RETURNING names the ones that were
	// new (a row left alone by DO NOTHING is not returned).
	claimRows = newMultiRow(`INSERT INTO message_ids (sender, id, seen_at)`, 3, ` ON CONFLICT DO NOTHING RETURNING sender, id`)
	mailRows  = newMultiRow(`INSERT INTO mail (device_id, seq, envelope, expires)`, 4, ``)
	seqRows   = newMultiRow(`INSERT INTO mailbox_seq (device_id, last_seq)`, 2,
		` ON CONFLICT (device_id) DO UPDATE SET last_seq = excluded.last_seq`)
	// ackRows deletes each listed device's mail up to its sequence, through
	// the (device_id, seq) primary key index.
	ackRows = newMultiRow(`WITH a (d, u) AS (`, 2,
		`) DELETE FROM mail WHERE rowid IN (SELECT mail.rowid FROM a JOIN mail ON mail.device_id = a.d AND mail.seq <= a.u)`)
)

// maxCachedSeqs bounds the devices whose last sequence the writer keeps in
// memory (about 100 bytes each). Past it the cache starts again empty and
// refills from mailbox_seq as devices get mail.
const maxCachedSeqs = 1 << 18

// seqCache is each device's last sequence number as committed, kept for
// the single writer so that numbering mail needs no read of mailbox_seq.
// mailbox_seq stays the durable record, written in the same transaction
// as the mail.
//
// Only DeliverAndAck writes mailbox_seq, and it holds mu from before its
// transaction begins until the cache has taken the committed numbers, so
// the cache always equals the table for the devices it holds. It is
// dropped when that cannot be known: after a failed transaction (whose
// outcome may be unknown), and when another connection to the file (a
// second process) committed anything since, or the writer connection was
// replaced, as PRAGMA data_version and the connection's generation tell.
type seqCache struct {
	mu      sync.Mutex
	last    map[string]uint64
	max     int
	gen     uint64 // writer connection generation the cache was filled on
	version int64  // its PRAGMA data_version then
}

func newSeqCache() *seqCache {
	return &seqCache{last: make(map[string]uint64), max: maxCachedSeqs}
}

// check drops the cache unless the writer connection is the one it was
// filled on and no other connection committed since. Called inside the
// transaction, with mu held.
func (c *seqCache) check(ctx context.Context, tx *sql.Tx, gen uint64) error {
	var v int64
	if err := tx.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return err
	}
	if gen != c.gen || v != c.version {
		clear(c.last)
		c.gen, c.version = gen, v
	}
	return nil
}

// lookup returns the device's last sequence, reading mailbox_seq on a
// miss. It does not fill the cache: only committed numbers go in.
func (c *seqCache) lookup(ctx context.Context, tx *sql.Tx, device string) (uint64, error) {
	if last, ok := c.last[device]; ok {
		return last, nil
	}
	var last int64
	err := tx.QueryRowContext(ctx, `SELECT last_seq FROM mailbox_seq WHERE device_id = ?`, device).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	return uint64(last), nil
}

// commit takes the numbers of a committed transaction. Only devices not
// cached yet count against the bound: a batch to known devices never
// empties a full cache. Past the bound the cache starts again empty.
func (c *seqCache) commit(next map[string]uint64) {
	added := 0
	for d := range next {
		if _, ok := c.last[d]; !ok {
			added++
		}
	}
	if len(c.last)+added > c.max {
		clear(c.last)
	}
	for d, seq := range next {
		if _, ok := c.last[d]; !ok && len(c.last) >= c.max {
			continue // a single batch with more new devices than room
		}
		c.last[d] = seq // a cached device always takes its new number
	}
}

// drop forgets everything, after a transaction that failed.
func (c *seqCache) drop() { clear(c.last) }
