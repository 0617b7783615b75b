package directory

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

// A disconnect storm: every account's last-seen time is recorded (each
// Left either writes or leaves its entry to the caller already writing).
func TestLeftStorm(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 2000
	for i := range n {
		id := fmt.Sprintf("acct-%d", i)
		if err := st.CreateAccount(t.Context(), store.Account{ID: id, Handle: fmt.Sprintf("@u%d", i), CreatedAt: t0},
			store.Device{ID: fmt.Sprintf("dev-%d", i), AccountID: id, SigningKey: []byte(id), AddedAt: t0},
			store.LogEntry{AccountID: id, Entry: []byte(id)}); err != nil {
			t.Fatal(err)
		}
	}
	s := &Service{st: st, log: slog.New(slog.DiscardHandler)}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { s.Left(fmt.Sprintf("acct-%d", i), t0.Add(time.Duration(i)*time.Second)) })
	}
	wg.Wait()
	for i := range n {
		a, err := st.AccountByID(t.Context(), fmt.Sprintf("acct-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(time.Duration(i) * time.Second); !a.LastSeen.Equal(want) {
			t.Fatalf("acct-%d last seen %v, want %v", i, a.LastSeen, want)
		}
	}
	// A later time wins over an earlier one still pending.
	s.lastSeen.mu.Lock()
	s.lastSeen.writing = true // as if another caller were writing
	s.lastSeen.mu.Unlock()
	s.Left("acct-1", t0.Add(time.Hour))
	s.Left("acct-1", t0.Add(time.Minute))
	s.lastSeen.mu.Lock()
	s.lastSeen.writing = false
	s.lastSeen.mu.Unlock()
	s.Left("acct-2", t0.Add(time.Hour))
	if a, _ := st.AccountByID(t.Context(), "acct-1"); !a.LastSeen.Equal(t0.Add(time.Hour)) {
		t.Fatalf("acct-1 last seen %v, want the later time", a.LastSeen)
	}
}
