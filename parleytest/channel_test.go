package parleytest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/proto"
)

// The core of channels on both stores: follow by link, live "new post"
// events, an offline follower catching up with every unexpired post
// exactly once (also across restarts), edits and deletions arriving once
// each, and what a follower holds afterwards.
func TestChannelFollowAndSyncExactlyOnce(t *testing.T) {
	requireMLS(t)
	onBothStores(t, func(t *testing.T, _ storeKind, opts ...Option) {
		srv := NewServer(t, opts...)
		owner := NewClient(t, srv, "@cityhall")
		live := NewClient(t, srv, "@reader")
		away := NewClient(t, srv, "@traveller")
		ctx := Ctx(t)
		ch := newChannel(t, owner, "City of Lyon")
		if ch.Role != proto.ChannelRole_CHANNEL_ROLE_OWNER || !ch.Checked || ch.KeyIndex != 0 {
			t.Fatalf("new channel %+v", ch)
		}
		follow(t, live, owner, ch.ID)
		// Following by id works for a listed channel.
		if _, err := away.Follow(ctx, ch.ID); err != nil {
			t.Fatal(err)
		}

		// A connected follower is told and syncs by itself.
		first := post(t, owner, ch.ID, "Road works on Rue de la République")
		ev := waitPost(t, live, "Road works on Rue de la République")
		if !ev.New || !bytes.Equal(ev.Post.ID, first.ID) || ev.Post.Edited || ev.Post.Expires.Sub(ev.Post.Published) != proto.PostTTL {
			t.Fatalf("live follower got %+v", ev)
		}
		seen := waitPost(t, away, "Road works on Rue de la République")
		if err := away.MarkPostsShown(ctx, seen.Post); err != nil {
			t.Fatal(err)
		}

		// An offline follower gets every post exactly once.
		away.Close()
		var texts []string
		for i := range 5 {
			text := "bulletin " + string(rune('A'+i))
			post(t, owner, ch.ID, text)
			texts = append(texts, text)
		}
		edited, err := owner.EditPost(ctx, ch.ID, first.ID, func(pc *client.PostContent) { pc.Text += " (until Friday)" }, false)
		if err != nil {
			t.Fatal(err)
		}
		if !edited.Edited || edited.Version != 2 {
			t.Fatalf("edit: %+v", edited)
		}
		gone := post(t, owner, ch.ID, "posted by mistake")
		// The live follower holds it before it goes (a post deleted before
		// a follower saw it just never shows up there).
		waitPost(t, live, "posted by mistake")
		if err := owner.DeletePost(ctx, ch.ID, gone.ID); err != nil {
			t.Fatal(err)
		}
		away.Reopen()
		if err := away.SyncChannels(ctx); err != nil {
			t.Fatal(err)
		}
		unshown, err := away.UnshownChannelPosts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range unshown {
			got = append(got, p.Text)
		}
		if len(got) != len(texts) {
			t.Fatalf("the offline follower has %q unshown, want exactly %q", got, texts)
		}
		for i := range texts {
			if got[i] != texts[i] {
				t.Fatalf("unshown posts %q, want %q in order", got, texts)
			}
		}
		held, err := away.ChannelPosts(ctx, ch.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(held) != 6 {
			t.Fatalf("the offline follower holds %d posts, want 6 (the deleted one gone)", len(held))
		}
		if held[0].Text != "Road works on Rue de la République (until Friday)" || !held[0].Edited {
			t.Fatalf("the edit did not reach the offline follower: %+v", held[0])
		}
		if err := away.MarkPostsShown(ctx, unshown...); err != nil {
			t.Fatal(err)
		}
		// A restart and another sync deliver nothing again.
		away.Reopen()
		if n, err := away.SyncChannel(ctx, ch.ID); err != nil || n != 0 {
			t.Fatalf("sync after restart: %d changes, %v; want none", n, err)
		}
		if un, _ := away.UnshownChannelPosts(ctx); len(un) != 0 {
			t.Fatalf("after a restart %d posts are unshown again", len(un))
		}

		// The live follower saw the edit and the deletion once each.
		e := WaitEvent(t, live, func(e client.ChannelPostEvent) bool { return bytes.Equal(e.Post.ID, first.ID) && !e.New })
		if !e.Post.Edited || e.Post.Version != 2 {
			t.Fatalf("edit event %+v", e)
		}
		WaitEvent(t, live, func(e client.ChannelPostEvent) bool { return bytes.Equal(e.Post.ID, gone.ID) && e.Post.Deleted })
		NoEvent(t, live, 200*time.Millisecond, func(e client.ChannelPostEvent) bool { return bytes.Equal(e.Post.ID, first.ID) })

		// Views count once per follower.
		if err := live.MarkPostsShown(ctx, ev.Post); err != nil {
			t.Fatal(err)
		}
		if err := live.MarkPostsShown(ctx, ev.Post); err != nil {
			t.Fatal(err)
		}
		st, err := owner.Stats(ctx, ch.ID, 7, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Followers != 2 || len(st.Posts) != 1 || st.Posts[0].Views != 2 {
			t.Fatalf("stats %+v: want 2 followers and 2 views (live once, away once)", st)
		}
		if len(st.Days) == 0 || st.Days[len(st.Days)-1].Follows != 2 {
			t.Fatalf("follower growth %+v: want 2 follows today", st.Days)
		}

		// Unfollowing forgets the channel; a muted follower gets no events.
		if err := live.MuteChannel(ctx, ch.ID, true); err != nil {
			t.Fatal(err)
		}
		post(t, owner, ch.ID, "while muted")
		waitUntil(t, "the muted follower to get the post by asking", func() bool {
			n, err := live.SyncChannel(ctx, ch.ID)
			return err == nil && n > 0
		})
		if err := away.Unfollow(ctx, ch.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := away.ChannelPosts(ctx, ch.ID, 10); err == nil {
			t.Fatal("an unfollowed channel's posts are still held")
		}
		if st, _ := owner.Stats(ctx, ch.ID, 1); st.Followers != 1 {
			t.Fatalf("followers after an unfollow: %d, want 1", st.Followers)
		}
	})
}

// Reactions (one per follower, changeable, removable, from the allowed
// set) and polls (anonymous, changeable, single and multiple choice), with
// counts only.
func TestChannelReactionsAndPolls(t *testing.T) {
	requireMLS(t)
	onBothStores(t, func(t *testing.T, _ storeKind, opts ...Option) {
		srv := NewServer(t, opts...)
		owner := NewClient(t, srv, "@newsroom")
		ann := NewClient(t, srv, "@ann")
		ben := NewClient(t, srv, "@ben")
		ctx := Ctx(t)
		ch := newChannel(t, owner, "Morning news")
		follow(t, ann, owner, ch.ID)
		follow(t, ben, owner, ch.ID)
		p := post(t, owner, ch.ID, "Sunny today")
		waitPost(t, ann, "Sunny today")
		waitPost(t, ben, "Sunny today")

		r, err := ann.React(ctx, ch.ID, p.ID, "👍")
		if err != nil {
			t.Fatal(err)
		}
		if r.MyReaction != "👍" || reactionCount(r, "👍") != 1 {
			t.Fatalf("after ann's reaction: %+v", r.Reactions)
		}
		if _, err := ben.React(ctx, ch.ID, p.ID, "👍"); err != nil {
			t.Fatal(err)
		}
		r, err = ann.React(ctx, ch.ID, p.ID, "❤️") // changed
		if err != nil {
			t.Fatal(err)
		}
		if reactionCount(r, "👍") != 1 || reactionCount(r, "❤️") != 1 {
			t.Fatalf("after a change: %+v", r.Reactions)
		}
		_, err = ann.React(ctx, ch.ID, p.ID, "🍕")
		wantCode(t, err, proto.Code_BAD_REQUEST, "a reaction outside the allowed set")
		if r, err = ben.React(ctx, ch.ID, p.ID, ""); err != nil { // removed
			t.Fatal(err)
		}
		if reactionCount(r, "👍") != 0 || r.MyReaction != "" {
			t.Fatalf("after a removal: %+v", r.Reactions)
		}

		single, err := owner.Publish(ctx, ch.ID, client.PostContent{Poll: &proto.Poll{Question: "Tram or bus?", Options: []string{"tram", "bus"}}}, client.PublishOptions{})
		if err != nil {
			t.Fatal(err)
		}
		multi, err := owner.Publish(ctx, ch.ID, client.PostContent{Text: "Which days?", Poll: &proto.Poll{Question: "Market days", Options: []string{"mon", "wed", "sat"}, Multiple: true}}, client.PublishOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "ann to hold both polls", func() bool {
			ps, _ := ann.ChannelPosts(ctx, ch.ID, 10)
			return len(ps) == 3
		})
		if _, err := ann.Vote(ctx, ch.ID, single.ID, 0); err != nil {
			t.Fatal(err)
		}
		v, err := ben.Vote(ctx, ch.ID, single.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if v.PollCounts[0] != 2 || v.PollCounts[1] != 0 {
			t.Fatalf("poll counts %v", v.PollCounts)
		}
		if v, err = ben.Vote(ctx, ch.ID, single.ID, 1); err != nil { // changed
			t.Fatal(err)
		}
		if v.PollCounts[0] != 1 || v.PollCounts[1] != 1 || len(v.MyVotes) != 1 || v.MyVotes[0] != 1 {
			t.Fatalf("after a change: %v, mine %v", v.PollCounts, v.MyVotes)
		}
		_, err = ann.Vote(ctx, ch.ID, single.ID, 0, 1)
		wantCode(t, err, proto.Code_BAD_REQUEST, "two options on a single-choice poll")
		_, err = ann.Vote(ctx, ch.ID, single.ID, 7)
		wantCode(t, err, proto.Code_BAD_REQUEST, "a vote for a non-existent option")
		if v, err = ann.Vote(ctx, ch.ID, multi.ID, 0, 2); err != nil {
			t.Fatal(err)
		}
		if v.PollCounts[0] != 1 || v.PollCounts[1] != 0 || v.PollCounts[2] != 1 {
			t.Fatalf("multiple choice counts %v", v.PollCounts)
		}
		if v, err = ann.Vote(ctx, ch.ID, multi.ID); err != nil { // withdrawn
			t.Fatal(err)
		}
		if v.PollCounts[0] != 0 || v.PollCounts[2] != 0 {
			t.Fatalf("after withdrawing: %v", v.PollCounts)
		}

		st, err := owner.Stats(ctx, ch.ID, 1, p.ID, single.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Posts[0].Reactions != 1 || st.Posts[1].Votes != 2 {
			t.Fatalf("stats %+v: want 1 reaction on the first post and 2 voters on the poll", st.Posts)
		}
		// A follower's fresh copy carries counts and its own choices only.
		fresh, err := ben.GetPosts(ctx, ch.ID, single.ID)
		if err != nil || len(fresh) != 1 || fresh[0].PollCounts[1] != 1 || fresh[0].MyVotes[0] != 1 {
			t.Fatalf("ben's view of the poll %+v, %v", fresh, err)
		}
	})
}

func reactionCount(p client.Post, emoji string) uint64 {
	for _, r := range p.Reactions {
		if r.Emoji == emoji {
			return r.Count
		}
	}
	return 0
}

// A follower whose device held an older chain (before a rotation) keeps
// verifying old posts and accepts new ones signed with the new key.
func TestChannelPostsSurviveKeyRotation(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	owner := NewClient(t, srv, "@owner")
	admin := NewClient(t, srv, "@helper")
	f := NewClient(t, srv, "@fan")
	ctx := Ctx(t)
	ch := newChannel(t, owner, "Rotations")
	follow(t, f, owner, ch.ID)
	old := post(t, owner, ch.ID, "before the rotation")
	waitPost(t, f, "before the rotation")
	makeAdmin(t, owner, admin, ch.ID)
	if err := owner.RemoveAdmin(ctx, ch.ID, admin.Handle); err != nil {
		t.Fatal(err)
	}
	p := post(t, owner, ch.ID, "after the rotation")
	if p.KeyIndex != 1 || old.KeyIndex != 0 {
		t.Fatalf("key indexes %d, %d; want 0 then 1", old.KeyIndex, p.KeyIndex)
	}
	waitPost(t, f, "after the rotation")
	held, err := f.ChannelPosts(ctx, ch.ID, 10)
	if err != nil || len(held) != 2 {
		t.Fatalf("follower holds %d posts, %v", len(held), err)
	}
	f.Reopen()
	if held, err = f.ChannelPosts(context.Background(), ch.ID, 10); err != nil || len(held) != 2 {
		t.Fatalf("after a restart the follower holds %d verified posts, %v", len(held), err)
	}
}

// "New post" events are at-most-once: a connected device that missed
// them (here: muted, so the server sends none) still gets the posts by
// comparing its cursors with the channels' head sequences every few
// minutes.
func TestChannelMissedEventsArePolled(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	owner := NewClient(t, srv, "@poller.owner")
	clk := clock.NewFake(time.Now())
	reader := NewClient(t, srv, "@poller", WithOptions(func(o *client.Options) { o.Clock = clk }))
	ch := newChannel(t, owner, "Quiet channel")
	follow(t, reader, owner, ch.ID)
	if err := reader.MuteChannel(Ctx(t), ch.ID, true); err != nil {
		t.Fatal(err)
	}
	post(t, owner, ch.ID, "nobody was told")
	NoEvent(t, reader, 200*time.Millisecond, func(e client.ChannelPostEvent) bool { return true })
	// The device's clock has other timers (pings, key packages), so the
	// poll's ticker being armed cannot be told from their number: the
	// clock moves a poll period at a time until the post arrives.
	waitUntil(t, "the poll to bring the post", func() bool {
		clk.Advance(5 * time.Minute)
		_, ok := waitEvent(reader, 100*time.Millisecond, func(e client.ChannelPostEvent) bool { return e.Post.Text == "nobody was told" })
		return ok
	})
}

// Deleting a channel (owner only) removes it for everyone: followers'
// devices drop its posts at their next sync. Resetting the invite link
// stops the old one.
func TestChannelDeleteAndLinkReset(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	owner := NewClient(t, srv, "@shortlived")
	admin := NewClient(t, srv, "@deputy")
	reader := NewClient(t, srv, "@onlooker")
	late := NewClient(t, srv, "@latecomer")
	ctx := Ctx(t)
	ch := newChannel(t, owner, "Pop-up shop")
	old := link(t, owner, ch.ID)
	if _, err := reader.Follow(ctx, old); err != nil {
		t.Fatal(err)
	}
	fresh, err := owner.ChannelLink(ctx, ch.ID, true)
	if err != nil || fresh == old {
		t.Fatalf("reset link %q (was %q), %v", fresh, old, err)
	}
	_, err = late.Follow(ctx, old)
	wantCode(t, err, proto.Code_NOT_FOUND, "following with a reset link")
	if _, err := late.Follow(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	post(t, owner, ch.ID, "closing sale")
	waitPost(t, reader, "closing sale")
	makeAdmin(t, owner, admin, ch.ID)

	err = admin.DeleteChannel(ctx, ch.ID)
	wantCode(t, err, proto.Code_FORBIDDEN, "an admin deleting the channel")
	if err := owner.DeleteChannel(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	_, err = reader.GetChannel(ctx, ch.ID)
	wantCode(t, err, proto.Code_NOT_FOUND, "reading a deleted channel")
	_, err = reader.SyncChannel(ctx, ch.ID)
	wantCode(t, err, proto.Code_NOT_FOUND, "syncing a deleted channel")
	if _, err := reader.ChannelPosts(ctx, ch.ID, 10); err == nil {
		t.Fatal("a deleted channel's posts are still held by a follower")
	}
	if chs, _ := reader.Channels(ctx); len(chs) != 0 {
		t.Fatalf("a deleted channel is still listed: %+v", chs)
	}
}
