package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/store"
)

// channelTests are the conformance tests of store.Channels; Run runs them
// with the others.
var channelTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"ChannelCreate", testChannelCreate},
	{"ChannelInfoAndKeys", testChannelInfoAndKeys},
	{"ChannelAdmins", testChannelAdmins},
	{"ChannelTransfer", testChannelTransfer},
	{"ChannelFollow", testChannelFollow},
	{"ChannelPosts", testChannelPosts},
	{"ChannelPostUpdates", testChannelPostUpdates},
	{"ChannelPublishDue", testChannelPublishDue},
	{"ChannelReactions", testChannelReactions},
	{"ChannelVotesAndViews", testChannelVotesAndViews},
	{"ChannelConcurrentCounters", testChannelConcurrentCounters},
	{"ChannelStats", testChannelStats},
	{"ChannelDirectory", testChannelDirectory},
	{"ChannelExpiry", testChannelExpiry},
	{"ChannelReports", testChannelReports},
	{"ChannelMediaAndDelete", testChannelMediaAndDelete},
	{"ChannelAdminGroup", testChannelAdminGroup},
}

// newChannel creates channel id owned by owner, listed, "news", "FR".
func newChannel(t *testing.T, s store.Store, id, owner string) store.Channel {
	t.Helper()
	c := store.Channel{
		ID: id, Info: []byte("info-1 " + id), InfoVersion: 1, Name: "Channel " + id,
		Description: "about " + id, Category: "news", Country: "FR", Listed: true,
	}
	noErr(t, "CreateChannel", s.CreateChannel(t.Context(), c, owner, store.ChannelKey{Index: 0, Entry: []byte("key0 " + id)}, T0, 10))
	return c
}

func postID(n int) []byte {
	id := make([]byte, proto.PostIDBytes)
	copy(id, fmt.Sprintf("p%015d", n))
	return id
}

// published is a post published at T0+at.
func published(ch string, n int, at time.Duration) store.Post {
	return store.Post{
		ChannelID: ch, ID: postID(n), Version: 1, Signed: []byte(fmt.Sprintf("post %d v1", n)), State: store.PostPublished,
		Author: "acct-owner", PublishedAt: T0.Add(at), ExpiresAt: T0.Add(at + proto.PostTTL), UpdatedAt: T0.Add(at),
	}
}

func putPost(t *testing.T, s store.Store, p store.Post) store.Post {
	t.Helper()
	got, err := s.PutPost(t.Context(), p, 5)
	noErr(t, "PutPost", err)
	return got
}

func getChannel(t *testing.T, s store.Store, id string) store.Channel {
	t.Helper()
	c, err := s.Channel(t.Context(), id)
	noErr(t, "Channel", err)
	return c
}

func testChannelCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	c := getChannel(t, s, "c1")
	if c.Name != "Channel c1" || c.Category != "news" || c.Country != "FR" || !c.Listed || c.Verified || c.Suspended ||
		c.HeadSeq != 0 || c.Followers != 0 || !c.CreatedAt.Equal(T0) || string(c.Info) != "info-1 c1" || c.InfoVersion != 1 {
		t.Fatalf("Channel = %+v", c)
	}
	keys, err := s.ChannelKeys(ctx, "c1")
	noErr(t, "ChannelKeys", err)
	if len(keys) != 1 || keys[0].Index != 0 || string(keys[0].Entry) != "key0 c1" {
		t.Fatalf("keys = %+v", keys)
	}
	err = s.CreateChannel(ctx, store.Channel{ID: "c1", Info: []byte("x"), InfoVersion: 1, Name: "x", Category: "news"},
		"acct-other", store.ChannelKey{Entry: []byte("k")}, T0, 10)
	wantErr(t, "CreateChannel(taken id)", err, store.ErrExists)

	m, err := s.Membership(ctx, "c1", "acct-owner")
	noErr(t, "Membership", err)
	if m.Role != store.RoleOwner || m.Following || !m.Since.Equal(T0) {
		t.Fatalf("owner membership = %+v", m)
	}
	m, err = s.Membership(ctx, "c1", "acct-nobody")
	noErr(t, "Membership", err)
	if m.Role != store.RoleNone || m.Following {
		t.Fatalf("stranger membership = %+v", m)
	}
	_, err = s.Membership(ctx, "c-missing", "acct-owner")
	wantErr(t, "Membership(missing channel)", err, store.ErrNotFound)
	_, err = s.Channel(ctx, "c-missing")
	wantErr(t, "Channel(missing)", err, store.ErrNotFound)

	// The per-owner limit counts owned channels.
	newChannel(t, s, "c2", "acct-owner")
	err = s.CreateChannel(ctx, store.Channel{ID: "c3", Info: []byte("x"), InfoVersion: 1, Name: "x", Category: "news"},
		"acct-owner", store.ChannelKey{Entry: []byte("k")}, T0, 2)
	wantErr(t, "CreateChannel(over the owner limit)", err, store.ErrLimit)
	if _, err := s.Channel(ctx, "c3"); err == nil {
		t.Fatal("a refused channel was stored")
	}
}

func testChannelInfoAndKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newChannel(t, s, "c1", "acct-owner")
	c.Info, c.InfoVersion, c.Name, c.Listed, c.Icon = []byte("info-2"), 2, "Renamed", false, "icon-hash"
	seq, err := s.UpdateChannelInfo(ctx, c, 1)
	noErr(t, "UpdateChannelInfo", err)
	if seq != 1 {
		t.Fatalf("seq = %d, want 1", seq)
	}
	_, err = s.UpdateChannelInfo(ctx, c, 1)
	wantErr(t, "UpdateChannelInfo(stale version)", err, store.ErrConflict)
	got := getChannel(t, s, "c1")
	if got.Name != "Renamed" || got.Listed || got.Icon != "icon-hash" || got.InfoVersion != 2 || got.HeadSeq != 1 || got.InfoSeq != 1 {
		t.Fatalf("after update: %+v", got)
	}

	_, err = s.AppendChannelKey(ctx, "c1", store.ChannelKey{Index: 2, Entry: []byte("k2")}, T0)
	wantErr(t, "AppendChannelKey(gap)", err, store.ErrConflict)
	seq, err = s.AppendChannelKey(ctx, "c1", store.ChannelKey{Index: 1, Entry: []byte("k1")}, T0)
	noErr(t, "AppendChannelKey", err)
	if seq != 2 {
		t.Fatalf("key seq = %d", seq)
	}
	_, err = s.AppendChannelKey(ctx, "c1", store.ChannelKey{Index: 1, Entry: []byte("k1 again")}, T0)
	wantErr(t, "AppendChannelKey(taken index)", err, store.ErrConflict)
	keys, _ := s.ChannelKeys(ctx, "c1")
	if len(keys) != 2 || string(keys[1].Entry) != "k1" {
		t.Fatalf("keys = %+v", keys)
	}
	if got := getChannel(t, s, "c1"); got.InfoSeq != 2 || got.HeadSeq != 2 {
		t.Fatalf("after key: head %d info %d", got.HeadSeq, got.InfoSeq)
	}
	_, err = s.AppendChannelKey(ctx, "c-missing", store.ChannelKey{Index: 1}, T0)
	wantErr(t, "AppendChannelKey(missing)", err, store.ErrNotFound)

	noErr(t, "SetInviteCode", s.SetInviteCode(ctx, "c1", "code1"))
	byCode, err := s.ChannelByInviteCode(ctx, "code1")
	noErr(t, "ChannelByInviteCode", err)
	if byCode.ID != "c1" || byCode.InviteCode != "code1" {
		t.Fatalf("by code: %+v", byCode)
	}
	noErr(t, "SetInviteCode(reset)", s.SetInviteCode(ctx, "c1", "code2"))
	_, err = s.ChannelByInviteCode(ctx, "code1")
	wantErr(t, "ChannelByInviteCode(old code)", err, store.ErrNotFound)
	noErr(t, "SetVerified", s.SetVerified(ctx, "c1", true))
	noErr(t, "SetSuspended", s.SetSuspended(ctx, "c1", true))
	if got := getChannel(t, s, "c1"); !got.Verified || !got.Suspended {
		t.Fatalf("flags: %+v", got)
	}
	wantErr(t, "SetSuspended(missing)", s.SetSuspended(ctx, "c-missing", true), store.ErrNotFound)
}

func testChannelAdmins(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	exp := T0.Add(proto.AdminInviteTTL)
	inv := func(a string) store.AdminInvitation {
		return store.AdminInvitation{ChannelID: "c1", AccountID: a, ExpiresAt: exp}
	}

	wantErr(t, "InviteAdmin(owner)", s.InviteAdmin(ctx, inv("acct-owner"), 2), store.ErrExists)
	noErr(t, "InviteAdmin(a)", s.InviteAdmin(ctx, inv("acct-a"), 2))
	noErr(t, "InviteAdmin(b)", s.InviteAdmin(ctx, inv("acct-b"), 2))
	noErr(t, "InviteAdmin(c)", s.InviteAdmin(ctx, inv("acct-c"), 2)) // pending invitations do not count
	invs, err := s.Invitations(ctx, "c1", T0)
	noErr(t, "Invitations", err)
	if len(invs) != 3 {
		t.Fatalf("invitations = %+v", invs)
	}
	mine, err := s.InvitationsOf(ctx, "acct-a", T0)
	noErr(t, "InvitationsOf", err)
	if len(mine) != 1 || mine[0].ChannelID != "c1" || !mine[0].ExpiresAt.Equal(exp) {
		t.Fatalf("InvitationsOf = %+v", mine)
	}

	wantErr(t, "AcceptAdmin(no invitation)", s.AcceptAdmin(ctx, "c1", "acct-z", T0, 2), store.ErrNotFound)
	wantErr(t, "AcceptAdmin(expired)", s.AcceptAdmin(ctx, "c1", "acct-a", exp, 2), store.ErrExpired)
	noErr(t, "AcceptAdmin(a)", s.AcceptAdmin(ctx, "c1", "acct-a", T0.Add(time.Hour), 2))
	noErr(t, "AcceptAdmin(b)", s.AcceptAdmin(ctx, "c1", "acct-b", T0.Add(2*time.Hour), 2))
	wantErr(t, "AcceptAdmin(third of 2)", s.AcceptAdmin(ctx, "c1", "acct-c", T0.Add(3*time.Hour), 2), store.ErrLimit)
	wantErr(t, "InviteAdmin(full)", s.InviteAdmin(ctx, inv("acct-d"), 2), store.ErrLimit)
	wantErr(t, "InviteAdmin(already admin)", s.InviteAdmin(ctx, inv("acct-a"), 16), store.ErrExists)

	admins, err := s.Admins(ctx, "c1")
	noErr(t, "Admins", err)
	var got []string
	for _, m := range admins {
		got = append(got, fmt.Sprintf("%s:%d", m.AccountID, m.Role))
	}
	if !equalStrings(got, []string{"acct-owner:3", "acct-a:2", "acct-b:2"}) {
		t.Fatalf("Admins = %v", got)
	}
	if invs, _ := s.Invitations(ctx, "c1", T0); len(invs) != 1 || invs[0].AccountID != "acct-c" {
		t.Fatalf("invitations after accepts = %+v", invs)
	}
	noErr(t, "DeclineAdmin", s.DeclineAdmin(ctx, "c1", "acct-c"))
	noErr(t, "DeclineAdmin(again)", s.DeclineAdmin(ctx, "c1", "acct-c"))
	if invs, _ := s.Invitations(ctx, "c1", T0); len(invs) != 0 {
		t.Fatalf("invitations after decline = %+v", invs)
	}

	// Removing with a key rotation is one step; a bad key leaves the admin.
	err = s.RemoveAdmin(ctx, "c1", "acct-a", &store.ChannelKey{Index: 5, Entry: []byte("k5")}, T0)
	wantErr(t, "RemoveAdmin(bad key index)", err, store.ErrConflict)
	if m, _ := s.Membership(ctx, "c1", "acct-a"); m.Role != store.RoleAdmin {
		t.Fatalf("failed removal changed the role: %+v", m)
	}
	noErr(t, "RemoveAdmin", s.RemoveAdmin(ctx, "c1", "acct-a", &store.ChannelKey{Index: 1, Entry: []byte("k1")}, T0))
	wantErr(t, "RemoveAdmin(again)", s.RemoveAdmin(ctx, "c1", "acct-a", nil, T0), store.ErrNotFound)
	wantErr(t, "RemoveAdmin(owner)", s.RemoveAdmin(ctx, "c1", "acct-owner", nil, T0), store.ErrNotFound)
	if keys, _ := s.ChannelKeys(ctx, "c1"); len(keys) != 2 {
		t.Fatalf("keys after removal = %d", len(keys))
	}
	noErr(t, "RemoveAdmin(self, no key)", s.RemoveAdmin(ctx, "c1", "acct-b", nil, T0))

	ms, err := s.Memberships(ctx, "acct-owner")
	noErr(t, "Memberships", err)
	if len(ms) != 1 || ms[0].ChannelID != "c1" || ms[0].Role != store.RoleOwner {
		t.Fatalf("Memberships = %+v", ms)
	}
}

func testChannelTransfer(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	noErr(t, "InviteAdmin", s.InviteAdmin(ctx, store.AdminInvitation{ChannelID: "c1", AccountID: "acct-a", ExpiresAt: T0.Add(time.Hour)}, 16))
	noErr(t, "AcceptAdmin", s.AcceptAdmin(ctx, "c1", "acct-a", T0, 16))
	wantErr(t, "Transfer(to a stranger)", s.TransferOwnership(ctx, "c1", "acct-owner", "acct-x", nil, T0), store.ErrNotFound)
	wantErr(t, "Transfer(from a non-owner)", s.TransferOwnership(ctx, "c1", "acct-a", "acct-owner", nil, T0), store.ErrConflict)
	noErr(t, "Transfer", s.TransferOwnership(ctx, "c1", "acct-owner", "acct-a", &store.ChannelKey{Index: 1, Entry: []byte("k1")}, T0))
	a, _ := s.Membership(ctx, "c1", "acct-a")
	o, _ := s.Membership(ctx, "c1", "acct-owner")
	if a.Role != store.RoleOwner || o.Role != store.RoleAdmin {
		t.Fatalf("after transfer: new %+v old %+v", a, o)
	}
	if keys, _ := s.ChannelKeys(ctx, "c1"); len(keys) != 2 {
		t.Fatalf("transfer did not rotate the key")
	}
}

func testChannelFollow(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	fresh, err := s.Follow(ctx, "c1", "acct-f1", T0)
	noErr(t, "Follow", err)
	again, err := s.Follow(ctx, "c1", "acct-f1", T0)
	noErr(t, "Follow(again)", err)
	if !fresh || again {
		t.Fatalf("Follow fresh=%v again=%v", fresh, again)
	}
	if _, err := s.Follow(ctx, "c1", "acct-f2", T0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c := getChannel(t, s, "c1"); c.Followers != 2 {
		t.Fatalf("followers = %d", c.Followers)
	}
	_, err = s.Follow(ctx, "c-missing", "acct-f1", T0)
	wantErr(t, "Follow(missing)", err, store.ErrNotFound)

	noErr(t, "SetMuted", s.SetMuted(ctx, "c1", "acct-f1", true))
	wantErr(t, "SetMuted(not following)", s.SetMuted(ctx, "c1", "acct-x", true), store.ErrNotFound)
	m, _ := s.Membership(ctx, "c1", "acct-f1")
	if !m.Following || !m.Muted || m.Role != store.RoleNone {
		t.Fatalf("follower membership = %+v", m)
	}
	ms, _ := s.Memberships(ctx, "acct-f1")
	if len(ms) != 1 || !ms[0].Following || !ms[0].Muted {
		t.Fatalf("Memberships = %+v", ms)
	}

	gone, err := s.Unfollow(ctx, "c1", "acct-f1", T0.Add(24*time.Hour))
	noErr(t, "Unfollow", err)
	gone2, _ := s.Unfollow(ctx, "c1", "acct-f1", T0.Add(24*time.Hour))
	if !gone || gone2 {
		t.Fatalf("Unfollow gone=%v again=%v", gone, gone2)
	}
	st, err := s.Stats(ctx, "c1", T0.Add(-48*time.Hour), nil, 10, T0)
	noErr(t, "Stats", err)
	if st.Followers != 1 || len(st.Days) != 2 ||
		st.Days[0].Follows != 1 || st.Days[0].Unfollows != 0 || st.Days[1].Follows != 1 || st.Days[1].Unfollows != 1 ||
		!st.Days[0].Day.Equal(T0.Truncate(24*time.Hour)) {
		t.Fatalf("stats = %+v", st)
	}
}

func testChannelPosts(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	p1 := putPost(t, s, published("c1", 1, 0))
	if p1.Seq != 1 {
		t.Fatalf("first post seq = %d", p1.Seq)
	}
	draft := published("c1", 2, 0)
	draft.State, draft.PublishedAt, draft.ExpiresAt = store.PostDraft, time.Time{}, time.Time{}
	d := putPost(t, s, draft)
	if d.Seq != 0 {
		t.Fatalf("draft seq = %d", d.Seq)
	}
	_, err := s.PutPost(ctx, published("c1", 1, 0), 5)
	wantErr(t, "PutPost(taken id)", err, store.ErrExists)
	_, err = s.PutPost(ctx, published("c-missing", 9, 0), 5)
	wantErr(t, "PutPost(missing channel)", err, store.ErrNotFound)
	for i := 3; i <= 7; i++ {
		dr := draft
		dr.ID = postID(i)
		_, err = s.PutPost(ctx, dr, 5)
		if i < 7 {
			noErr(t, "PutPost(draft)", err)
		}
	}
	wantErr(t, "PutPost(6th unpublished of 5)", err, store.ErrLimit)
	p7 := putPost(t, s, published("c1", 8, time.Minute))

	got, err := s.SyncPosts(ctx, "c1", "acct-f", 0, 10, T0.Add(time.Hour))
	noErr(t, "SyncPosts", err)
	if len(got) != 2 || !bytes.Equal(got[0].ID, p1.ID) || !bytes.Equal(got[1].ID, p7.ID) || got[1].Seq != 2 {
		t.Fatalf("sync = %+v", got)
	}
	got, _ = s.SyncPosts(ctx, "c1", "acct-f", 1, 10, T0.Add(time.Hour))
	if len(got) != 1 || got[0].Seq != 2 || string(got[0].Signed) != "post 8 v1" {
		t.Fatalf("sync after 1 = %+v", got)
	}
	got, _ = s.SyncPosts(ctx, "c1", "acct-f", 0, 1, T0.Add(time.Hour))
	if len(got) != 1 || got[0].Seq != 1 {
		t.Fatalf("sync limit 1 = %+v", got)
	}
	un, err := s.Unpublished(ctx, "c1")
	noErr(t, "Unpublished", err)
	if len(un) != 5 {
		t.Fatalf("unpublished = %d", len(un))
	}
	byID, err := s.PostsByID(ctx, "c1", "acct-f", [][]byte{p7.ID, postID(2), postID(99), p1.ID}, T0.Add(time.Hour))
	noErr(t, "PostsByID", err)
	if len(byID) != 2 || !bytes.Equal(byID[0].ID, p7.ID) || !bytes.Equal(byID[1].ID, p1.ID) {
		t.Fatalf("PostsByID returned drafts or wrong order: %+v", byID)
	}

	// Deleting a published post leaves a tombstone at a new sequence.
	del, err := s.DeletePost(ctx, "c1", p1.ID, T0.Add(2*time.Minute))
	noErr(t, "DeletePost", err)
	if del.Seq != 3 || !del.Deleted {
		t.Fatalf("tombstone = %+v", del)
	}
	_, err = s.DeletePost(ctx, "c1", p1.ID, T0)
	wantErr(t, "DeletePost(again)", err, store.ErrNotFound)
	got, _ = s.SyncPosts(ctx, "c1", "acct-f", 2, 10, T0.Add(time.Hour))
	if len(got) != 1 || !got[0].Deleted || got[0].Signed != nil || got[0].Seq != 3 {
		t.Fatalf("sync tombstone = %+v", got)
	}
	// Deleting a draft removes it.
	_, err = s.DeletePost(ctx, "c1", postID(2), T0)
	noErr(t, "DeletePost(draft)", err)
	if _, err := s.Post(ctx, "c1", postID(2)); err == nil {
		t.Fatal("deleted draft still there")
	}
	// Expired posts are not synced.
	got, _ = s.SyncPosts(ctx, "c1", "acct-f", 0, 10, T0.Add(proto.PostTTL+time.Minute))
	if len(got) != 0 {
		t.Fatalf("sync after expiry = %+v", got)
	}
}

func testChannelPostUpdates(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	p := putPost(t, s, published("c1", 1, 0))
	upd := store.PostUpdate{ChannelID: "c1", ID: p.ID, IfVersion: 1, Version: 2, Signed: []byte("post 1 v2"), Author: "acct-a",
		Media: []string{"h1"}, State: store.PostPublished, Now: T0.Add(time.Minute)}
	got, err := s.UpdatePost(ctx, upd)
	noErr(t, "UpdatePost(edit)", err)
	if got.Version != 2 || !got.Edited || got.Seq != 2 || !got.PublishedAt.Equal(T0) || !got.ExpiresAt.Equal(T0.Add(proto.PostTTL)) ||
		string(got.Signed) != "post 1 v2" || got.Author != "acct-a" || !equalStrings(got.Media, []string{"h1"}) {
		t.Fatalf("edited = %+v", got)
	}
	_, err = s.UpdatePost(ctx, upd)
	wantErr(t, "UpdatePost(stale version)", err, store.ErrConflict)
	upd.IfVersion, upd.Version, upd.Now = 2, 3, T0.Add(proto.PostTTL)
	_, err = s.UpdatePost(ctx, upd)
	wantErr(t, "UpdatePost(expired)", err, store.ErrExpired)
	upd.ID = postID(9)
	_, err = s.UpdatePost(ctx, upd)
	wantErr(t, "UpdatePost(missing)", err, store.ErrNotFound)

	// A pending post, approved: an update with no new version and a state
	// precondition; it publishes with the update's times.
	pend := published("c1", 2, 0)
	pend.State, pend.PublishedAt, pend.ExpiresAt, pend.Author = store.PostPending, time.Time{}, time.Time{}, "acct-a"
	putPost(t, s, pend)
	approve := store.PostUpdate{ChannelID: "c1", ID: pend.ID, IfVersion: 1, IfState: store.PostScheduled, State: store.PostPublished,
		PublishedAt: T0.Add(time.Hour), ExpiresAt: T0.Add(time.Hour + proto.PostTTL), Now: T0.Add(time.Hour)}
	_, err = s.UpdatePost(ctx, approve)
	wantErr(t, "UpdatePost(wrong state)", err, store.ErrConflict)
	approve.IfState = store.PostPending
	got, err = s.UpdatePost(ctx, approve)
	noErr(t, "UpdatePost(approve)", err)
	if got.State != store.PostPublished || got.Seq != 3 || got.Edited || got.Author != "acct-a" || string(got.Signed) != "post 2 v1" ||
		!got.PublishedAt.Equal(T0.Add(time.Hour)) {
		t.Fatalf("approved = %+v", got)
	}
	if c := getChannel(t, s, "c1"); c.PostsWeek != 2 || c.HeadSeq != 3 {
		t.Fatalf("channel after approve: week %d head %d", c.PostsWeek, c.HeadSeq)
	}
}

func testChannelPublishDue(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	for i, at := range []time.Duration{time.Hour, 2 * time.Hour} {
		p := published("c1", i+1, 0)
		p.State, p.PublishAt, p.PublishedAt, p.ExpiresAt = store.PostScheduled, T0.Add(at), time.Time{}, time.Time{}
		putPost(t, s, p)
	}
	got, err := s.PublishDue(ctx, T0.Add(30*time.Minute), proto.PostTTL, 10)
	noErr(t, "PublishDue(early)", err)
	if len(got) != 0 {
		t.Fatalf("published early: %+v", got)
	}
	now := T0.Add(90 * time.Minute)
	got, err = s.PublishDue(ctx, now, proto.PostTTL, 10)
	noErr(t, "PublishDue", err)
	if len(got) != 1 || !bytes.Equal(got[0].ID, postID(1)) || got[0].Seq != 1 || !got[0].PublishedAt.Equal(now) ||
		!got[0].ExpiresAt.Equal(now.Add(proto.PostTTL)) {
		t.Fatalf("PublishDue = %+v", got)
	}
	if got, _ := s.PublishDue(ctx, now, proto.PostTTL, 10); len(got) != 0 {
		t.Fatalf("published twice: %+v", got)
	}
	synced, _ := s.SyncPosts(ctx, "c1", "", 0, 10, now)
	if len(synced) != 1 || synced[0].State != store.PostPublished {
		t.Fatalf("sync after schedule = %+v", synced)
	}
}

func testChannelReactions(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	p := putPost(t, s, published("c1", 1, 0))
	react := func(a, e string) store.Post {
		t.Helper()
		got, err := s.React(ctx, "c1", p.ID, a, e, T0)
		noErr(t, "React", err)
		return got
	}
	react("acct-1", "👍")
	react("acct-2", "👍")
	got := react("acct-3", "❤️")
	if got.MyReaction != "❤️" || got.Reacted != 3 || fmt.Sprint(got.Reactions) != fmt.Sprint([]store.ReactionCount{{Emoji: "❤️", Count: 1}, {Emoji: "👍", Count: 2}}) {
		t.Fatalf("after three: %+v", got)
	}
	got = react("acct-1", "❤️") // change
	if fmt.Sprint(got.Reactions) != fmt.Sprint([]store.ReactionCount{{Emoji: "❤️", Count: 2}, {Emoji: "👍", Count: 1}}) || got.Reacted != 3 {
		t.Fatalf("after change: %+v", got.Reactions)
	}
	react("acct-1", "❤️")     // same again: nothing changes
	got = react("acct-2", "") // remove
	if fmt.Sprint(got.Reactions) != fmt.Sprint([]store.ReactionCount{{Emoji: "❤️", Count: 2}}) || got.Reacted != 2 || got.MyReaction != "" {
		t.Fatalf("after removal: %+v", got)
	}
	react("acct-9", "") // removing nothing

	_, err := s.React(ctx, "c1", postID(9), "acct-1", "👍", T0)
	wantErr(t, "React(missing post)", err, store.ErrNotFound)
	_, err = s.React(ctx, "c1", p.ID, "acct-1", "👍", T0.Add(proto.PostTTL))
	wantErr(t, "React(expired)", err, store.ErrExpired)
	draft := published("c1", 2, 0)
	draft.State = store.PostDraft
	putPost(t, s, draft)
	_, err = s.React(ctx, "c1", draft.ID, "acct-1", "👍", T0)
	wantErr(t, "React(draft)", err, store.ErrNotFound)

	synced, _ := s.SyncPosts(ctx, "c1", "acct-3", 0, 10, T0)
	if len(synced) != 1 || synced[0].MyReaction != "❤️" || len(synced[0].Reactions) != 1 {
		t.Fatalf("sync with reactions = %+v", synced)
	}
}

func testChannelVotesAndViews(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	p := published("c1", 1, 0)
	p.PollOptions = 3
	putPost(t, s, p)
	vote := func(a string, opts ...uint32) store.Post {
		t.Helper()
		got, err := s.Vote(ctx, "c1", p.ID, a, opts, T0)
		noErr(t, "Vote", err)
		return got
	}
	vote("acct-1", 0)
	vote("acct-2", 0, 2)
	got := vote("acct-3", 1)
	if fmt.Sprint(got.PollCounts) != "[2 1 1]" || got.Voters != 3 || fmt.Sprint(got.MyVotes) != "[1]" {
		t.Fatalf("votes = %v voters %d mine %v", got.PollCounts, got.Voters, got.MyVotes)
	}
	got = vote("acct-2", 1) // change
	if fmt.Sprint(got.PollCounts) != "[1 2 0]" || got.Voters != 3 {
		t.Fatalf("after change = %v", got.PollCounts)
	}
	got = vote("acct-1") // withdraw
	if fmt.Sprint(got.PollCounts) != "[0 2 0]" || got.Voters != 2 || len(got.MyVotes) != 0 {
		t.Fatalf("after withdraw = %v voters %d", got.PollCounts, got.Voters)
	}
	_, err := s.Vote(ctx, "c1", p.ID, "acct-1", []uint32{3}, T0)
	wantErr(t, "Vote(no such option)", err, store.ErrConflict)
	if got, _ := s.Post(ctx, "c1", p.ID); fmt.Sprint(got.PollCounts) != "[0 2 0]" {
		t.Fatalf("a refused vote changed the counts: %v", got.PollCounts)
	}

	noErr(t, "View", s.View(ctx, "c1", "acct-1", [][]byte{p.ID, postID(9)}, T0))
	noErr(t, "View(again)", s.View(ctx, "c1", "acct-1", [][]byte{p.ID}, T0))
	noErr(t, "View(other)", s.View(ctx, "c1", "acct-2", [][]byte{p.ID}, T0))
	if got, _ := s.Post(ctx, "c1", p.ID); got.Views != 2 {
		t.Fatalf("views = %d, want 2 unique", got.Views)
	}
}

// testChannelConcurrentCounters: follows, unfollows, reactions and votes
// from many goroutines at once leave every counter equal to what the
// per-account records say.
func testChannelConcurrentCounters(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	p := published("c1", 1, 0)
	p.PollOptions = 2
	putPost(t, s, p)
	const n = 24
	emojis := []string{"👍", "❤️", "😂"}
	errs := make(chan error, n)
	for i := range n {
		go func() {
			a := fmt.Sprintf("acct-%d", i)
			errs <- func() error {
				for round := range 3 {
					if _, err := s.Follow(ctx, "c1", a, T0); err != nil {
						return err
					}
					if _, err := s.React(ctx, "c1", p.ID, a, emojis[(i+round)%3], T0); err != nil {
						return err
					}
					if _, err := s.Vote(ctx, "c1", p.ID, a, []uint32{uint32((i + round) % 2)}, T0); err != nil {
						return err
					}
					if err := s.View(ctx, "c1", a, [][]byte{p.ID}, T0); err != nil {
						return err
					}
				}
				if i%4 == 0 { // a quarter leave and withdraw
					if _, err := s.Unfollow(ctx, "c1", a, T0); err != nil {
						return err
					}
					if _, err := s.React(ctx, "c1", p.ID, a, "", T0); err != nil {
						return err
					}
					if _, err := s.Vote(ctx, "c1", p.ID, a, nil, T0); err != nil {
						return err
					}
				}
				return nil
			}()
		}()
	}
	for range n {
		noErr(t, "concurrent writer", <-errs)
	}
	stay := n - n/4
	if c := getChannel(t, s, "c1"); c.Followers != uint64(stay) {
		t.Fatalf("followers = %d, want %d", c.Followers, stay)
	}
	got, err := s.Post(ctx, "c1", p.ID)
	noErr(t, "Post", err)
	var reactions, votes uint64
	wantReactions := map[string]uint64{}
	for i := range n {
		if i%4 != 0 {
			wantReactions[emojis[(i+2)%3]]++
		}
	}
	for _, r := range got.Reactions {
		reactions += r.Count
		if r.Count != wantReactions[r.Emoji] {
			t.Errorf("%s: %d, want %d", r.Emoji, r.Count, wantReactions[r.Emoji])
		}
	}
	for _, c := range got.PollCounts {
		votes += c
	}
	if reactions != uint64(stay) || got.Reacted != uint64(stay) || votes != uint64(stay) || got.Voters != uint64(stay) || got.Views != n {
		t.Fatalf("reactions %d reacted %d votes %d voters %d views %d; want %d, %d views", reactions, got.Reacted, votes, got.Voters, got.Views, stay, n)
	}
	st, _ := s.Stats(ctx, "c1", T0, nil, 5, T0)
	if len(st.Days) != 1 || st.Days[0].Follows != n || st.Days[0].Unfollows != n/4 {
		t.Fatalf("day bucket = %+v", st.Days)
	}
}

func testChannelStats(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	for i := 1; i <= 4; i++ {
		putPost(t, s, published("c1", i, time.Duration(i)*time.Minute))
	}
	_, err := s.React(ctx, "c1", postID(2), "acct-1", "👍", T0.Add(time.Hour))
	noErr(t, "React", err)
	st, err := s.Stats(ctx, "c1", T0, nil, 2, T0.Add(time.Hour))
	noErr(t, "Stats", err)
	if len(st.Posts) != 2 || !bytes.Equal(st.Posts[0].ID, postID(4)) || !bytes.Equal(st.Posts[1].ID, postID(3)) {
		t.Fatalf("latest posts = %+v", st.Posts)
	}
	st, err = s.Stats(ctx, "c1", T0, [][]byte{postID(2)}, 2, T0.Add(time.Hour))
	noErr(t, "Stats(ids)", err)
	if len(st.Posts) != 1 || st.Posts[0].Reacted != 1 || st.Posts[0].MyReaction != "" {
		t.Fatalf("post stats = %+v", st.Posts)
	}
	_, err = s.Stats(ctx, "c-missing", T0, nil, 2, T0)
	wantErr(t, "Stats(missing)", err, store.ErrNotFound)
}

func testChannelDirectory(t *testing.T, s store.Store) {
	ctx := t.Context()
	mk := func(id, name, desc, cat, country string, listed bool, at time.Duration) {
		c := store.Channel{ID: id, Info: []byte("i"), InfoVersion: 1, Name: name, Description: desc, Category: cat, Country: country, Listed: listed}
		noErr(t, "CreateChannel", s.CreateChannel(ctx, c, "acct-"+id, store.ChannelKey{Entry: []byte("k")}, T0.Add(at), 10))
	}
	mk("c-lyon", "Ville de Lyon", "Trafic et météo à Lyon", "government", "FR", true, 1*time.Minute)
	mk("c-paris", "Paris Info", "Traffic alerts for Paris", "traffic", "FR", true, 2*time.Minute)
	mk("c-berlin", "Berlin Verkehr", "Traffic in Berlin", "traffic", "DE", true, 3*time.Minute)
	mk("c-hidden", "Traffic secret", "unlisted traffic", "traffic", "FR", false, 4*time.Minute)
	mk("c-bad", "Traffic spam", "suspended traffic", "traffic", "FR", true, 5*time.Minute)
	noErr(t, "SetSuspended", s.SetSuspended(ctx, "c-bad", true))
	for i := range 3 {
		s.Follow(ctx, "c-berlin", fmt.Sprintf("a%d", i), T0)
	}
	s.Follow(ctx, "c-paris", "a0", T0)
	putPost(t, s, published("c-lyon", 1, 0))
	putPost(t, s, published("c-lyon", 2, 0))
	putPost(t, s, published("c-paris", 3, 0))

	search := func(q store.DirectoryQuery) []string {
		t.Helper()
		if q.Limit == 0 {
			q.Limit = 10
		}
		cs, err := s.SearchChannels(ctx, q)
		noErr(t, "SearchChannels", err)
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		return ids
	}
	for _, tt := range []struct {
		name string
		q    store.DirectoryQuery
		want []string
	}{
		{"newest", store.DirectoryQuery{}, []string{"c-berlin", "c-paris", "c-lyon"}},
		{"followers", store.DirectoryQuery{Sort: 1}, []string{"c-berlin", "c-paris", "c-lyon"}},
		{"active", store.DirectoryQuery{Sort: 2}, []string{"c-lyon", "c-paris", "c-berlin"}},
		{"word", store.DirectoryQuery{Words: []string{"traffic"}}, []string{"c-berlin", "c-paris"}},
		{"prefix", store.DirectoryQuery{Words: []string{"traf"}}, []string{"c-berlin", "c-paris", "c-lyon"}},
		{"two words", store.DirectoryQuery{Words: []string{"traf", "paris"}}, []string{"c-paris"}},
		{"case", store.DirectoryQuery{Words: []string{"LYON"}}, []string{"c-lyon"}},
		{"category", store.DirectoryQuery{Category: "traffic"}, []string{"c-berlin", "c-paris"}},
		{"country", store.DirectoryQuery{Country: "FR", Sort: 1}, []string{"c-paris", "c-lyon"}},
		{"all filters", store.DirectoryQuery{Words: []string{"traffic"}, Category: "traffic", Country: "DE"}, []string{"c-berlin"}},
		{"no match", store.DirectoryQuery{Words: []string{"zzz"}}, nil},
		{"limit", store.DirectoryQuery{Limit: 1, Offset: 1}, []string{"c-paris"}},
	} {
		if got := search(tt.q); !equalStrings(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	// Renaming updates the text index.
	c := getChannel(t, s, "c-berlin")
	c.Name, c.Description, c.InfoVersion = "Hamburg Hafen", "Schiffe", 2
	_, err := s.UpdateChannelInfo(ctx, c, 1)
	noErr(t, "UpdateChannelInfo", err)
	if got := search(store.DirectoryQuery{Words: []string{"berlin"}}); len(got) != 0 {
		t.Errorf("old name still found: %v", got)
	}
	if got := search(store.DirectoryQuery{Words: []string{"hafen"}}); !equalStrings(got, []string{"c-berlin"}) {
		t.Errorf("new name not found: %v", got)
	}
	noErr(t, "SetSuspended(lift)", s.SetSuspended(ctx, "c-bad", false))
	if got := search(store.DirectoryQuery{Words: []string{"spam"}}); !equalStrings(got, []string{"c-bad"}) {
		t.Errorf("lifted suspension: %v", got)
	}
}

func testChannelExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	upload := func(h string, at time.Time) {
		noErr(t, "PutMedia", s.PutMedia(ctx, store.Media{ChannelID: "c1", Hash: h, Mime: "image/png", Size: 3, UploadedAt: at}))
	}
	upload("h-old", T0)
	upload("h-thumb", T0)
	noErr(t, "PutMedia(with thumb)", s.PutMedia(ctx, store.Media{ChannelID: "c1", Hash: "h-img", Mime: "image/png", Size: 3, Thumbnail: "h-thumb", UploadedAt: T0}))
	upload("h-unused", T0)
	upload("h-fresh", T0.Add(proto.PostTTL))
	p := published("c1", 1, 0)
	p.Media = []string{"h-old", "h-img", "h-thumb"}
	putPost(t, s, p)
	p2 := published("c1", 2, 10*24*time.Hour)
	putPost(t, s, p2)
	_, err := s.React(ctx, "c1", p.ID, "acct-1", "👍", T0)
	noErr(t, "React", err)
	draft := published("c1", 3, 0)
	draft.State = store.PostDraft
	putPost(t, s, draft)
	noErr(t, "InviteAdmin", s.InviteAdmin(ctx, store.AdminInvitation{ChannelID: "c1", AccountID: "acct-a", ExpiresAt: T0.Add(time.Hour)}, 16))
	if c := getChannel(t, s, "c1"); c.PostsWeek != 2 {
		t.Fatalf("posts_week = %d", c.PostsWeek)
	}

	// A week later: p leaves the active window, nothing expires.
	week := T0.Add(8 * 24 * time.Hour)
	res, err := s.ExpireChannels(ctx, store.ExpireChannelsOptions{
		Now: week, ActiveSince: week.Add(-proto.DirectoryActiveWindow), UnpublishedBefore: week.Add(-proto.PostTTL),
		MediaBefore: week.Add(-proto.UnreferencedMediaTTL), ExpiredBefore: week.Add(-proto.PostTTL), InvitationsBefore: week.Add(-proto.AdminInviteTTL),
	})
	noErr(t, "ExpireChannels(week)", err)
	if res.Posts != 0 || !equalStrings(res.Hashes, []string{"h-unused"}) {
		t.Fatalf("week sweep = %+v", res)
	}
	if c := getChannel(t, s, "c1"); c.PostsWeek != 1 {
		t.Fatalf("posts_week after a week = %d", c.PostsWeek)
	}

	// After 30 days: p expires with its media and reactions; p2 stays; the
	// draft and the invitation go.
	now := T0.Add(proto.PostTTL + time.Hour)
	res, err = s.ExpireChannels(ctx, store.ExpireChannelsOptions{
		Now: now, ActiveSince: now.Add(-proto.DirectoryActiveWindow), UnpublishedBefore: now.Add(-proto.PostTTL),
		MediaBefore: now.Add(-proto.UnreferencedMediaTTL), ExpiredBefore: now.Add(-proto.PostTTL), InvitationsBefore: now.Add(-proto.AdminInviteTTL),
	})
	noErr(t, "ExpireChannels", err)
	if res.Posts != 1 || !equalStrings(res.Hashes, []string{"h-img", "h-old", "h-thumb"}) {
		t.Fatalf("sweep = %+v", res)
	}
	if ok, _ := s.MediaExists(ctx, "h-fresh"); !ok {
		t.Fatal("a fresh upload was swept")
	}
	if ok, _ := s.MediaExists(ctx, "h-old"); ok {
		t.Fatal("expired media still recorded")
	}
	got, err := s.Post(ctx, "c1", p.ID)
	noErr(t, "Post(expired header)", err)
	if got.Signed != nil || len(got.Reactions) != 0 || len(got.Media) != 0 {
		t.Fatalf("expired post keeps content: %+v", got)
	}
	_, err = s.UpdatePost(ctx, store.PostUpdate{ChannelID: "c1", ID: p.ID, IfVersion: 1, Version: 2, Signed: []byte("x"), State: store.PostPublished, Now: now})
	wantErr(t, "UpdatePost(expired)", err, store.ErrExpired)
	if synced, _ := s.SyncPosts(ctx, "c1", "", 0, 10, now); len(synced) != 1 || !bytes.Equal(synced[0].ID, p2.ID) {
		t.Fatalf("sync after expiry = %+v", synced)
	}
	if _, err := s.Post(ctx, "c1", draft.ID); err == nil {
		t.Fatal("stale draft survived")
	}
	if invs, _ := s.Invitations(ctx, "c1", T0); len(invs) != 0 {
		t.Fatalf("old invitation survived: %+v", invs)
	}
	if c := getChannel(t, s, "c1"); c.PostsWeek != 0 {
		t.Fatalf("posts_week = %d", c.PostsWeek)
	}
	// A month after expiry the header goes too.
	later := now.Add(proto.PostTTL + time.Hour)
	_, err = s.ExpireChannels(ctx, store.ExpireChannelsOptions{Now: later, ActiveSince: later, UnpublishedBefore: later, MediaBefore: later.Add(-time.Hour),
		ExpiredBefore: later.Add(-proto.PostTTL), InvitationsBefore: later})
	noErr(t, "ExpireChannels(later)", err)
	_, err = s.Post(ctx, "c1", p.ID)
	wantErr(t, "Post(after header expiry)", err, store.ErrNotFound)
}

func testChannelReports(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	noErr(t, "PutReport", s.PutReport(ctx, store.Report{ChannelID: "c1", Reporter: "acct-1", Reason: "spam", CreatedAt: T0}))
	noErr(t, "PutReport(post)", s.PutReport(ctx, store.Report{ChannelID: "c1", PostID: postID(1), Reporter: "acct-1", Reason: "lie", CreatedAt: T0.Add(time.Second)}))
	noErr(t, "PutReport(again)", s.PutReport(ctx, store.Report{ChannelID: "c1", Reporter: "acct-1", Reason: "spam!", CreatedAt: T0.Add(2 * time.Second)}))
	rs, err := s.Reports(ctx, 10)
	noErr(t, "Reports", err)
	if len(rs) != 2 || !bytes.Equal(rs[0].PostID, postID(1)) || rs[1].PostID != nil || rs[1].Reason != "spam!" {
		t.Fatalf("reports = %+v", rs)
	}
	noErr(t, "ResolveReport", s.ResolveReport(ctx, rs[0].ID))
	wantErr(t, "ResolveReport(again)", s.ResolveReport(ctx, rs[0].ID), store.ErrNotFound)
	if rs, _ := s.Reports(ctx, 10); len(rs) != 1 {
		t.Fatalf("after resolve: %+v", rs)
	}
}

func testChannelMediaAndDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	newChannel(t, s, "c2", "acct-owner")
	m := store.Media{ChannelID: "c1", Hash: "h-shared", Mime: "image/png", Size: 10, Width: 4, Height: 3, Thumbnail: "h-t", UploadedAt: T0}
	noErr(t, "PutMedia", s.PutMedia(ctx, m))
	noErr(t, "PutMedia(again)", s.PutMedia(ctx, m))
	m2 := m
	m2.ChannelID = "c2"
	noErr(t, "PutMedia(other channel)", s.PutMedia(ctx, m2))
	noErr(t, "PutMedia(own)", s.PutMedia(ctx, store.Media{ChannelID: "c1", Hash: "h-own", Mime: "video/mp4", Size: 1, UploadedAt: T0}))
	got, err := s.ChannelMedia(ctx, "c1", "h-shared")
	noErr(t, "ChannelMedia", err)
	if got.Mime != "image/png" || got.Width != 4 || got.Height != 3 || got.Size != 10 || got.Thumbnail != "h-t" {
		t.Fatalf("media = %+v", got)
	}
	_, err = s.ChannelMedia(ctx, "c2", "h-own")
	wantErr(t, "ChannelMedia(other channel's)", err, store.ErrNotFound)

	first, err := s.Secret(ctx, "media", []byte("secret-1"))
	noErr(t, "Secret", err)
	second, err := s.Secret(ctx, "media", []byte("secret-2"))
	noErr(t, "Secret(again)", err)
	if string(first) != "secret-1" || string(second) != "secret-1" {
		t.Fatalf("Secret = %q then %q; the first stored one must stay", first, second)
	}

	putPost(t, s, published("c1", 1, 0))
	s.Follow(ctx, "c1", "acct-f", T0)
	s.PutReport(ctx, store.Report{ChannelID: "c1", Reporter: "acct-f", Reason: "x", CreatedAt: T0})
	gone, err := s.DeleteChannel(ctx, "c1")
	noErr(t, "DeleteChannel", err)
	if !equalStrings(gone, []string{"h-own"}) {
		t.Fatalf("unheld hashes = %v (h-shared is still c2's)", gone)
	}
	_, err = s.Channel(ctx, "c1")
	wantErr(t, "Channel(deleted)", err, store.ErrNotFound)
	if ms, _ := s.Memberships(ctx, "acct-f"); len(ms) != 0 {
		t.Fatalf("follow survived deletion: %+v", ms)
	}
	if rs, _ := s.Reports(ctx, 10); len(rs) != 0 {
		t.Fatalf("reports survived deletion: %+v", rs)
	}
	_, err = s.DeleteChannel(ctx, "c1")
	wantErr(t, "DeleteChannel(again)", err, store.ErrNotFound)
	// The channel id can be used again (a deleted channel leaves nothing).
	newChannel(t, s, "c1", "acct-owner")
	if ps, _ := s.SyncPosts(ctx, "c1", "", 0, 10, T0); len(ps) != 0 {
		t.Fatalf("posts survived deletion: %+v", ps)
	}
}

func testChannelAdminGroup(t *testing.T, s store.Store) {
	ctx := t.Context()
	newChannel(t, s, "c1", "acct-owner")
	newChannel(t, s, "c2", "acct-owner")
	noErr(t, "SetAdminGroup", s.SetAdminGroup(ctx, "c1", []byte("group-1")))
	wantErr(t, "SetAdminGroup(again)", s.SetAdminGroup(ctx, "c1", []byte("group-x")), store.ErrExists)
	wantErr(t, "SetAdminGroup(group of another channel)", s.SetAdminGroup(ctx, "c2", []byte("group-1")), store.ErrExists)
	c, err := s.ChannelByAdminGroup(ctx, []byte("group-1"))
	noErr(t, "ChannelByAdminGroup", err)
	if c.ID != "c1" || string(c.AdminGroup) != "group-1" {
		t.Fatalf("by group: %+v", c)
	}
	_, err = s.ChannelByAdminGroup(ctx, []byte("nope"))
	wantErr(t, "ChannelByAdminGroup(unknown)", err, store.ErrNotFound)
}
