package parleytest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
)

// The admin team: an invited admin accepts, gets the channel key through
// the team's MLS conversation (never through the server), posts and edits;
// admins see each other, followers do not; the owner removes an admin
// (rotating the key, so the removed admin can no longer post) and hands
// ownership over.
func TestChannelAdminTeam(t *testing.T) {
	requireMLS(t)
	onBothStores(t, func(t *testing.T, _ storeKind, opts ...Option) {
		srv := NewServer(t, opts...)
		owner := NewClient(t, srv, "@mayor")
		editor := NewClient(t, srv, "@editor")
		intern := NewClient(t, srv, "@intern")
		reader := NewClient(t, srv, "@citizen")
		ctx := Ctx(t)
		ch := newChannel(t, owner, "Town hall")
		follow(t, reader, owner, ch.ID)

		// Before accepting, an invitee cannot post.
		if _, err := owner.InviteAdmin(ctx, ch.ID, editor.Handle); err != nil {
			t.Fatal(err)
		}
		invs, err := editor.AdminInvitations(ctx)
		if err != nil || len(invs) != 1 || invs[0].ChannelID != ch.ID || invs[0].Channel == nil || invs[0].Channel.Name != "Town hall" {
			t.Fatalf("editor's invitations %+v, %v", invs, err)
		}
		if invs[0].Expires.Sub(time.Now()) > proto.AdminInviteTTL || invs[0].Expires.Sub(time.Now()) < proto.AdminInviteTTL-time.Hour {
			t.Fatalf("invitation expires %v, want in %v", invs[0].Expires, proto.AdminInviteTTL)
		}
		_, err = editor.Publish(ctx, ch.ID, client.PostContent{Text: "too early"}, client.PublishOptions{})
		wantCode(t, err, proto.Code_FORBIDDEN, "posting before accepting")
		if _, err := editor.AcceptAdmin(ctx, ch.ID, false); err != nil {
			t.Fatal(err)
		}
		// The owner's running client adds the editor's device to the
		// team conversation and hands it the key.
		waitUntil(t, "the editor to hold the channel key", func() bool { return holdsKey(editor, ch.ID, 0) })
		p := post(t, editor, ch.ID, "Council meeting tonight")
		waitPost(t, reader, "Council meeting tonight")
		if _, err := owner.EditPost(ctx, ch.ID, p.ID, func(pc *client.PostContent) { pc.Text = "Council meeting tonight, 7 pm" }, false); err != nil {
			t.Fatalf("the owner edits an admin's post: %v", err)
		}
		if _, err := editor.EditChannel(ctx, ch.ID, func(s *client.ChannelSettings) { s.Description = "News from the town hall" }); err != nil {
			t.Fatalf("an admin changes the description: %v", err)
		}
		_, err = editor.EditChannel(ctx, ch.ID, func(s *client.ChannelSettings) { s.Listed = false })
		wantCode(t, err, proto.Code_FORBIDDEN, "an admin changing the listing")

		makeAdmin(t, owner, intern, ch.ID)
		team, err := intern.ChannelAdmins(ctx, ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		var handles []string
		for _, m := range team.Members {
			handles = append(handles, m.Handle)
		}
		slices.Sort(handles)
		if !slices.Equal(handles, []string{"@editor", "@intern", "@mayor"}) {
			t.Fatalf("admins see the team %v", handles)
		}
		_, err = reader.ChannelAdmins(ctx, ch.ID)
		wantCode(t, err, proto.Code_FORBIDDEN, "a follower asking who the admins are")
		_, err = intern.InviteAdmin(ctx, ch.ID, reader.Handle)
		wantCode(t, err, proto.Code_FORBIDDEN, "an admin inviting")

		// Removing the intern rotates the key; the intern's old key no
		// longer posts, the editor gets the new one.
		if err := owner.RemoveAdmin(ctx, ch.ID, intern.Handle); err != nil {
			t.Fatal(err)
		}
		cur, err := owner.GetChannel(ctx, ch.ID)
		if err != nil || cur.KeyIndex != 1 {
			t.Fatalf("after removing an admin: key %d, %v; want 1", cur.KeyIndex, err)
		}
		if holdsKey(intern, ch.ID, 1) {
			t.Fatal("the removed admin got the new key")
		}
		_, err = intern.Publish(ctx, ch.ID, client.PostContent{Text: "still here?"}, client.PublishOptions{})
		wantCode(t, err, proto.Code_FORBIDDEN, "a removed admin posting")
		// Even with the old key and a raw request, the server refuses.
		keys, _ := intern.Profile().ChannelKeys(ctx, ch.ID)
		oldKey, err := channel.NewPrivateKey(keys[0].Seed)
		if err != nil {
			t.Fatal(err)
		}
		raw := signWith(t, oldKey, 0, &proto.Post{ChannelId: ch.ID, PostId: newPostID(), Version: 1, Text: "with the old key"})
		_, err = intern.Do(ctx, &proto.Request{Body: &proto.Request_ChannelPublish{ChannelPublish: &proto.ChannelPublish{ChannelId: ch.ID, Post: raw}}})
		wantCode(t, err, proto.Code_FORBIDDEN, "a removed admin's raw post")
		waitUntil(t, "the editor to hold the rotated key", func() bool { return holdsKey(editor, ch.ID, 1) })
		post(t, editor, ch.ID, "after the rotation")
		waitPost(t, reader, "after the rotation")

		// Ownership moves to the editor; the mayor stays an admin.
		if err := owner.TransferChannel(ctx, ch.ID, editor.Handle); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the new owner to hold the key", func() bool { return holdsKey(editor, ch.ID, 2) })
		now, err := editor.GetChannel(ctx, ch.ID)
		if err != nil || now.Role != proto.ChannelRole_CHANNEL_ROLE_OWNER || now.KeyIndex != 2 {
			t.Fatalf("after the transfer the editor sees %+v, %v", now, err)
		}
		if was, _ := owner.GetChannel(ctx, ch.ID); was.Role != proto.ChannelRole_CHANNEL_ROLE_ADMIN {
			t.Fatalf("the previous owner is %v, want admin", was.Role)
		}
		_, err = owner.InviteAdmin(ctx, ch.ID, intern.Handle)
		wantCode(t, err, proto.Code_FORBIDDEN, "the previous owner inviting")
		post(t, owner, ch.ID, "the previous owner still posts")
		waitPost(t, reader, "the previous owner still posts")
	})
}

// An owner's linked device gets the channel key and posts; a channel
// created by a device with a linked sibling hands it the key at once.
func TestChannelKeyReachesLinkedDevices(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	owner := NewClient(t, srv, "@weather")
	reader := NewClient(t, srv, "@hiker")
	ch := newChannel(t, owner, "Alpine weather")
	follow(t, reader, owner, ch.ID)
	phone := LinkDevice(t, owner)
	waitUntil(t, "the linked device to hold the key", func() bool { return holdsKey(phone, ch.ID, 0) })
	post(t, phone, ch.ID, "Storm warning above 2000 m")
	waitPost(t, reader, "Storm warning above 2000 m")

	second, err := phone.CreateChannel(Ctx(t), testSettings("Avalanche bulletin"))
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the primary to hold the second channel's key", func() bool { return holdsKey(owner, second.ID, 0) })
	post(t, owner, second.ID, "Risk level 3")
}

// At most 16 admins: a 17th invitation is LIMIT_REACHED and changes
// nothing.
func TestChannelSeventeenthAdmin(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	owner := NewClient(t, srv, "@club")
	ctx := Ctx(t)
	ch := newChannel(t, owner, "Football club")
	for i := range proto.MaxChannelAdmins {
		a := NewClient(t, srv, fmt.Sprintf("@coach%02d", i))
		if _, err := owner.InviteAdmin(ctx, ch.ID, a.Handle); err != nil {
			t.Fatal(err)
		}
		if _, err := a.AcceptAdmin(ctx, ch.ID, false); err != nil {
			t.Fatalf("admin %d: %v", i+1, err)
		}
		a.Close() // keep the machine quiet; the keys are not needed here
	}
	extra := NewClient(t, srv, "@coach16")
	before := stateOf(t, owner, ch.ID)
	_, err := owner.InviteAdmin(ctx, ch.ID, extra.Handle)
	wantCode(t, err, proto.Code_LIMIT_REACHED, "a 17th admin")
	unchanged(t, owner, ch.ID, before, "a 17th admin invitation")
	team, err := owner.ChannelAdmins(ctx, ch.ID)
	if err != nil || len(team.Members) != 1+proto.MaxChannelAdmins || len(team.Invitations) != 0 {
		t.Fatalf("team of %d members, %d invitations, %v", len(team.Members), len(team.Invitations), err)
	}
}

// An admin invitation expires after 7 days: accepting later is EXPIRED
// and changes nothing; a renewed invitation works.
func TestChannelAdminInvitationExpires(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t, withFakeTime()...)
	owner := NewClient(t, srv, "@owner")
	late := NewClient(t, srv, "@slowpoke")
	ctx := Ctx(t)
	ch := newChannel(t, owner, "Slow news")
	if _, err := owner.InviteAdmin(ctx, ch.ID, late.Handle); err != nil {
		t.Fatal(err)
	}
	srv.Clock.Advance(proto.AdminInviteTTL + time.Minute)
	before := stateOf(t, owner, ch.ID)
	_, err := late.AcceptAdmin(ctx, ch.ID, false)
	wantCode(t, err, proto.Code_EXPIRED, "accepting an expired invitation")
	unchanged(t, owner, ch.ID, before, "an expired invitation")
	if team, _ := owner.ChannelAdmins(ctx, ch.ID); len(team.Members) != 1 {
		t.Fatalf("team after an expired acceptance: %+v", team.Members)
	}
	if _, err := owner.InviteAdmin(ctx, ch.ID, late.Handle); err != nil {
		t.Fatal(err)
	}
	if c, err := late.AcceptAdmin(ctx, ch.ID, false); err != nil || c.Role != proto.ChannelRole_CHANNEL_ROLE_ADMIN {
		t.Fatalf("accepting a renewed invitation: %+v, %v", c, err)
	}
	// Declining drops an invitation.
	other := NewClient(t, srv, "@declines")
	if _, err := owner.InviteAdmin(ctx, ch.ID, other.Handle); err != nil {
		t.Fatal(err)
	}
	if _, err := other.AcceptAdmin(ctx, ch.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err = other.AcceptAdmin(ctx, ch.ID, false)
	wantCode(t, err, proto.Code_NOT_FOUND, "accepting a declined invitation")
	if got := WaitEvent(t, late, func(e client.ChannelInvitationEvent) bool { return true }); got.Invitation.ChannelID != ch.ID || !bytes.Equal([]byte(got.Invitation.AccountID), []byte(late.Self().AccountID)) {
		t.Fatalf("invitation event %+v", got)
	}
}

// An admin may leave by itself; the owner's running client then removes
// its devices from the team conversation and rotates the key, so the
// leaver's old key no longer posts.
func TestChannelAdminLeaves(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	owner := NewClient(t, srv, "@boss")
	leaver := NewClient(t, srv, "@leaver")
	ctx := Ctx(t)
	ch := newChannel(t, owner, "Team changes")
	makeAdmin(t, owner, leaver, ch.ID)
	keys, _ := leaver.Profile().ChannelKeys(ctx, ch.ID)
	old := mustKey(t, keys[0].Seed)
	if err := leaver.LeaveChannelTeam(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	if held, _ := leaver.Profile().ChannelKeys(ctx, ch.ID); len(held) != 0 {
		t.Fatal("the leaver's device kept the channel key")
	}
	waitUntil(t, "the owner to rotate the key", func() bool {
		c, err := owner.GetChannel(ctx, ch.ID)
		return err == nil && c.KeyIndex == 1
	})
	team, err := owner.ChannelAdmins(ctx, ch.ID)
	if err != nil || len(team.Members) != 1 {
		t.Fatalf("team after leaving %+v, %v", team.Members, err)
	}
	raw := signWith(t, old, 0, &proto.Post{ChannelId: ch.ID, PostId: newPostID(), Version: 1, Text: "after leaving"})
	_, err = leaver.Do(ctx, &proto.Request{Body: &proto.Request_ChannelPublish{ChannelPublish: &proto.ChannelPublish{ChannelId: ch.ID, Post: raw}}})
	wantCode(t, err, proto.Code_FORBIDDEN, "posting after leaving")
	post(t, owner, ch.ID, "the owner posts with the new key")

	// The owner may rotate at any time; only the newest key posts.
	if err := owner.RotateChannelKey(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	if p := post(t, owner, ch.ID, "with key 2"); p.KeyIndex != 2 {
		t.Fatalf("posted with key %d, want 2", p.KeyIndex)
	}
	wantCode(t, leaver.RotateChannelKey(ctx, ch.ID), proto.Code_FORBIDDEN, "a former admin rotating the key")
}
