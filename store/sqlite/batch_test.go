package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

func TestChunks(t *testing.T) {
	for _, total := range []int{0, 1, 2, 3, 127, 128, 129, 255, 256, 300, 1000} {
		off := 0
		err := chunks(total, func(o, n int) error {
			if o != off {
				t.Errorf("total %d: chunk at %d, want %d", total, o, off)
			}
			if n <= 0 || n > maxRowsPerStmt || n&(n-1) != 0 {
				t.Errorf("total %d: chunk of %d rows", total, n)
			}
			off += n
			return nil
		})
		if err != nil || off != total {
			t.Errorf("total %d: covered %d, err %v", total, off, err)
		}
	}
}

func TestMultiRowText(t *testing.T) {
	m := newMultiRow("INSERT INTO t (a, b)", 2, " ON CONFLICT DO NOTHING")
	if got, want := m.text(1), "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT DO NOTHING"; got != want {
		t.Errorf("text(1) = %q, want %q", got, want)
	}
	if got, want := m.text(4), "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?), (?, ?) ON CONFLICT DO NOTHING"; got != want {
		t.Errorf("text(4) = %q, want %q", got, want)
	}
}

// deliverTo delivers one message from sender with id n to each device and
// returns their sequence numbers.
func deliverTo(t *testing.T, s *Store, sender string, n int, devices ...string) []uint64 {
	t.Helper()
	sub := store.Submission{SenderDevice: sender, MessageID: []byte(fmt.Sprintf("%s-%d", sender, n)), At: storetest.T0}
	for _, d := range devices {
		sub.Mail = append(sub.Mail, store.Mail{DeviceID: d, Envelope: []byte(fmt.Sprint(n)), Expires: storetest.T0.Add(1e12)})
	}
	errs, err := s.Deliver(t.Context(), []store.Submission{sub})
	if err != nil || errs[0] != nil {
		t.Fatalf("Deliver: %v, %v", err, errs)
	}
	seqs := make([]uint64, len(sub.Mail))
	for i, m := range sub.Mail {
		seqs[i] = m.Seq
	}
	return seqs
}

func wantSeqs(t *testing.T, what string, got []uint64, want ...uint64) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: seqs %v, want %v", what, got, want)
	}
}

// TestSeqCacheOtherWriter: mail numbered through another connection to the
// file (another process) is seen by the writer's in-memory counters.
func TestSeqCacheOtherWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	a, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	wantSeqs(t, "a first", deliverTo(t, a, "s", 1, "x", "y"), 1, 1)
	wantSeqs(t, "b after a", deliverTo(t, b, "s", 2, "x"), 2)
	wantSeqs(t, "a after b", deliverTo(t, a, "s", 3, "x", "y"), 3, 2)
	wantSeqs(t, "b after a again", deliverTo(t, b, "s", 4, "y"), 3)
	wantSeqs(t, "a last", deliverTo(t, a, "s", 5, "y"), 4)
}

// TestSeqCacheRollback: a batch that fails after numbering its mail leaves
// the counters as they were.
func TestSeqCacheRollback(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	wantSeqs(t, "first", deliverTo(t, s, "s", 1, "x", "y"), 1, 1)
	if _, err := s.w.ExecContext(t.Context(), `CREATE TRIGGER boom BEFORE INSERT ON mail
		WHEN NEW.device_id = 'bad' BEGIN SELECT RAISE(ABORT, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	failing := store.Submission{SenderDevice: "s", MessageID: []byte("s-2"), At: storetest.T0, Mail: []store.Mail{
		{DeviceID: "x", Envelope: []byte("2"), Expires: storetest.T0.Add(1e12)},
		{DeviceID: "bad", Envelope: []byte("2"), Expires: storetest.T0.Add(1e12)},
	}}
	if _, err := s.Deliver(t.Context(), []store.Submission{failing}); err == nil {
		t.Fatal("Deliver to the failing device succeeded")
	}
	wantSeqs(t, "after the failed batch", deliverTo(t, s, "s", 3, "x", "y"), 2, 2)
	if n, last, err := s.MailboxDepth(t.Context(), "x"); err != nil || n != 2 || last != 2 {
		t.Errorf("MailboxDepth(x) = %d, %d, %v; want 2, 2", n, last, err)
	}
}

// TestSeqCacheBound: past maxCachedSeqs devices the cache starts again,
// and numbering goes on from mailbox_seq.
func TestSeqCacheBound(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	s.seqs.max = 3
	devices := []string{"a", "b", "c", "d", "e"}
	count := map[string]uint64{}
	n := 0
	for round := range 4 {
		for i, d := range devices {
			n++
			// One entry for d, and one for the device after it.
			other := devices[(i+1)%len(devices)]
			got := deliverTo(t, s, "s", n, d, other)
			count[d]++
			count[other]++
			wantSeqs(t, fmt.Sprintf("round %d, %s and %s", round, d, other), got, count[d], count[other])
			if len(s.seqs.last) > s.seqs.max {
				t.Fatalf("cache holds %d devices, bound %d", len(s.seqs.last), s.seqs.max)
			}
			for dev, last := range s.seqs.last {
				if last != count[dev] {
					t.Fatalf("round %d: cache says %s is at %d, the store at %d", round, dev, last, count[dev])
				}
			}
		}
	}
	// A full cache keeps its entries for a batch to devices it holds.
	clear(s.seqs.last)
	n++
	deliverTo(t, s, "s", n, "a", "b")
	n++
	deliverTo(t, s, "s", n, "c", "a")
	if len(s.seqs.last) != 3 {
		t.Fatalf("cache holds %d devices after a, b, c; want 3", len(s.seqs.last))
	}
	n++
	deliverTo(t, s, "s", n, "a", "b")
	if len(s.seqs.last) != 3 {
		t.Errorf("a batch to cached devices left %d of 3 in the full cache", len(s.seqs.last))
	}
}

// TestWriterPragmas: the writer keeps statement journals in memory, a
// page cache of writerCacheKiB and checkpoints at walCheckpointPages.
func TestWriterPragmas(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	var tempStore, cache int
	if err := s.w.QueryRowContext(t.Context(), `PRAGMA temp_store`).Scan(&tempStore); err != nil {
		t.Fatal(err)
	}
	if err := s.w.QueryRowContext(t.Context(), `PRAGMA cache_size`).Scan(&cache); err != nil {
		t.Fatal(err)
	}
	if tempStore != 2 || cache != -writerCacheKiB {
		t.Errorf("writer temp_store %d, cache_size %d; want 2 (memory), %d", tempStore, cache, -writerCacheKiB)
	}
	var pages int
	if err := s.w.QueryRowContext(t.Context(), `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages != walCheckpointPages {
		t.Errorf("writer wal_autocheckpoint %d, want %d", pages, walCheckpointPages)
	}
}
