package cache

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/store/storetest"
)

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// The wrapper is a store like any other: the whole conformance suite
// passes through it.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
		if err != nil {
			t.Fatal(err)
		}
		return New(st, 0, nil)
	})
}

func commit(group []byte, epoch uint64, sender string, add, remove []string, msg byte) store.CommitRecord {
	id := make([]byte, 16)
	id[0], id[1] = msg, byte(epoch)
	return store.CommitRecord{
		GroupID: group, Epoch: epoch, Kind: 1, SenderDevice: sender, MessageID: id,
		Accounts: []string{"acct-a", "acct-b"}, AddDevices: add, RemoveDevices: remove,
		Commit: []byte{msg}, At: storetest.T0,
	}
}

// A commit applied through the wrapper is seen at once; one applied
// behind its back (another node) is seen once the entry's lifetime ends,
// or at once through Fresh.
func TestGroupCoherence(t *testing.T) {
	st := openSQLite(t)
	clk := clock.NewFake(storetest.T0)
	c := New(st, time.Second, clk)
	ctx := t.Context()
	gid := []byte("group-1")
	if _, err := c.ApplyCommit(ctx, commit(gid, 0, "dev-a", []string{"dev-b"}, nil, 1)); err != nil {
		t.Fatal(err)
	}
	g, err := c.Group(ctx, gid)
	if err != nil || g.Epoch != 1 || !slices.Equal(g.Devices, []string{"dev-a", "dev-b"}) {
		t.Fatalf("after own commit: %+v, %v", g, err)
	}
	g.Devices[0] = "mutated" // the caller's copy
	// Behind the cache's back: dev-c joins.
	if _, err := st.ApplyCommit(ctx, commit(gid, 1, "dev-a", []string{"dev-c"}, nil, 2)); err != nil {
		t.Fatal(err)
	}
	g, _ = c.Group(ctx, gid)
	if g.Epoch != 1 || !slices.Equal(g.Devices, []string{"dev-a", "dev-b"}) {
		t.Fatalf("within the lifetime, want the cached state: %+v", g)
	}
	if f, _ := c.Fresh(ctx, gid); f.Epoch != 2 || len(f.Devices) != 3 {
		t.Fatalf("Fresh: %+v", f)
	}
	// Behind its back again, then the lifetime passes.
	if _, err := st.ApplyCommit(ctx, commit(gid, 2, "dev-a", nil, []string{"dev-b"}, 3)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if g, _ = c.Group(ctx, gid); g.Epoch != 3 || !slices.Equal(g.Devices, []string{"dev-a", "dev-c"}) {
		t.Fatalf("after the lifetime: %+v", g)
	}
	// A revocation through the wrapper drops the device from the cached state.
	noErr(t, st.CreateAccount(ctx, store.Account{ID: "acct-a", Handle: "@a", CreatedAt: storetest.T0},
		store.Device{ID: "dev-a", AccountID: "acct-a", SigningKey: make([]byte, 32), AddedAt: storetest.T0},
		store.LogEntry{AccountID: "acct-a", Index: 0, Entry: []byte("e0")}))
	noErr(t, st.AddDevice(ctx, store.Device{ID: "dev-c", AccountID: "acct-a", SigningKey: make([]byte, 32), AddedAt: storetest.T0},
		store.LogEntry{AccountID: "acct-a", Index: 1, Entry: []byte("e1")}, 10))
	noErr(t, c.RevokeDevice(ctx, "acct-a", "dev-c", store.LogEntry{AccountID: "acct-a", Index: 2, Entry: []byte("e2")}, storetest.T0))
	if g, _ = c.Group(ctx, gid); !slices.Equal(g.Devices, []string{"dev-a"}) {
		t.Fatalf("after revocation: %+v", g.Devices)
	}
}

func TestBlocks(t *testing.T) {
	st := openSQLite(t)
	c := New(st, 0, nil)
	ctx := t.Context()
	if b, err := c.IsBlocked(ctx, "acct-a", "acct-b"); err != nil || b {
		t.Fatalf("IsBlocked = %v, %v", b, err)
	}
	noErr(t, c.SetBlocked(ctx, "acct-a", "acct-b", true))
	if b, _ := c.IsBlocked(ctx, "acct-a", "acct-b"); !b {
		t.Fatal("block not seen")
	}
	if b, _ := c.IsBlocked(ctx, "acct-b", "acct-a"); b {
		t.Fatal("block is one-way")
	}
	noErr(t, c.SetBlocked(ctx, "acct-a", "acct-b", false))
	if b, _ := c.IsBlocked(ctx, "acct-a", "acct-b"); b {
		t.Fatal("unblock not seen")
	}
}

// A read that began before a change does not store its older answer.
func TestReadRacingChange(t *testing.T) {
	st := openSQLite(t)
	c := New(st, 0, nil)
	ctx := t.Context()
	gen := c.gen.Load()
	noErr(t, c.SetBlocked(ctx, "acct-a", "acct-b", true))
	c.put(gen, func(now time.Time) { c.blocks.put([2]string{"acct-a", "acct-b"}, false, time.Time{}) })
	if b, _ := c.IsBlocked(ctx, "acct-a", "acct-b"); !b {
		t.Fatal("a stale read overwrote the change")
	}
}

func TestLRUBound(t *testing.T) {
	l := newLRU[int, int](3)
	for i := range 5 {
		l.put(i, i, time.Time{})
	}
	if l.len() != 3 {
		t.Fatalf("len %d", l.len())
	}
	if _, ok := l.get(0, time.Time{}); ok {
		t.Fatal("oldest kept")
	}
	l.get(2, time.Time{}) // 2 is now the most recent
	l.put(5, 5, time.Time{})
	if _, ok := l.get(2, time.Time{}); !ok {
		t.Fatal("recently used entry evicted")
	}
	if _, ok := l.get(3, time.Time{}); ok {
		t.Fatal("least recently used entry kept")
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
