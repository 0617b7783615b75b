package storetest

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/store"
)

// testPair checks a directed relation: set, idempotent set, clear.
func testPair(t *testing.T, name string, set func(owner, other string, on bool) error, is func(owner, other string) (bool, error)) {
	check := func(owner, other string, want bool) {
		t.Helper()
		got, err := is(owner, other)
		noErr(t, "Is"+name, err)
		if got != want {
			t.Errorf("Is%s(%s, %s) = %v, want %v", name, owner, other, got, want)
		}
	}
	check("a", "b", false)
	noErr(t, "Set"+name, set("a", "b", true))
	noErr(t, "Set"+name+"(again)", set("a", "b", true))
	check("a", "b", true)
	check("b", "a", false) // directed
	check("a", "c", false)
	noErr(t, "Set"+name+"(false)", set("a", "b", false))
	check("a", "b", false)
	noErr(t, "Set"+name+"(false, absent)", set("a", "b", false))
}

func testContacts(t *testing.T, s store.Store) {
	ctx := t.Context()
	testPair(t, "Contact",
		func(o, x string, on bool) error { return s.SetContact(ctx, o, x, on) },
		func(o, x string) (bool, error) { return s.IsContact(ctx, o, x) })
}

func testBlocks(t *testing.T, s store.Store) {
	ctx := t.Context()
	testPair(t, "Blocked",
		func(o, x string, on bool) error { return s.SetBlocked(ctx, o, x, on) },
		func(o, x string) (bool, error) { return s.IsBlocked(ctx, o, x) })
	// Blocks and contacts are separate relations.
	noErr(t, "SetBlocked", s.SetBlocked(ctx, "a", "b", true))
	if c, _ := s.IsContact(ctx, "a", "b"); c {
		t.Errorf("a block made a contact")
	}
}

func testPresence(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, _ := account(t, s, "alice")
	noErr(t, "SetPresenceVisibility", s.SetPresenceVisibility(ctx, a.ID, int32(proto.PresenceVisibility_NOBODY)))
	seen := T0.Add(90 * time.Minute)
	noErr(t, "SetLastSeen", s.SetLastSeen(ctx, a.ID, seen))
	got, err := s.AccountByID(ctx, a.ID)
	noErr(t, "AccountByID", err)
	if got.Presence != int32(proto.PresenceVisibility_NOBODY) || !got.LastSeen.Equal(seen) {
		t.Errorf("account = %+v, want presence NOBODY and last seen %v", got, seen)
	}
	wantErr(t, "SetPresenceVisibility(unknown)", s.SetPresenceVisibility(ctx, "acct-ghost", 0), store.ErrNotFound)
	wantErr(t, "SetLastSeen(unknown)", s.SetLastSeen(ctx, "acct-ghost", seen), store.ErrNotFound)

	b, _ := account(t, s, "bob")
	later := seen.Add(time.Hour)
	noErr(t, "SetLastSeenAll", s.SetLastSeenAll(ctx, []store.LastSeen{
		{AccountID: a.ID, At: later}, {AccountID: "acct-ghost", At: later}, {AccountID: b.ID, At: later.Add(time.Minute)},
	}))
	for _, w := range []struct {
		id string
		at time.Time
	}{{a.ID, later}, {b.ID, later.Add(time.Minute)}} {
		got, err := s.AccountByID(ctx, w.id)
		noErr(t, "AccountByID", err)
		if !got.LastSeen.Equal(w.at) {
			t.Errorf("last seen of %s = %v, want %v", w.id, got.LastSeen, w.at)
		}
	}
	noErr(t, "SetLastSeenAll(none)", s.SetLastSeenAll(ctx, nil))
}
