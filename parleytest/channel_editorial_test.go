package parleytest

import (
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
)

// Drafts stay with the team; a scheduled post is published by the server
// at its time; under "review required" an admin's post waits for the
// owner's or another admin's approval.
func TestChannelEditorialWorkflow(t *testing.T) {
	requireMLS(t)
	onBothStores(t, func(t *testing.T, _ storeKind, opts ...Option) {
		srv := NewServer(t, append(opts, withFakeTime()...)...)
		owner := NewClient(t, srv, "@chief")
		writer := NewClient(t, srv, "@writer")
		second := NewClient(t, srv, "@second")
		reader := NewClient(t, srv, "@subscriber")
		ctx := Ctx(t)
		ch := newChannel(t, owner, "Daily paper")
		follow(t, reader, owner, ch.ID)
		makeAdmin(t, owner, writer, ch.ID)
		makeAdmin(t, owner, second, ch.ID)

		// A draft is for the team only.
		d, err := writer.Publish(ctx, ch.ID, client.PostContent{Text: "draft: budget vote"}, client.PublishOptions{Draft: true})
		if err != nil {
			t.Fatal(err)
		}
		if d.State != proto.ChannelPostState_CHANNEL_POST_DRAFT {
			t.Fatalf("draft state %v", d.State)
		}
		drafts, err := second.Drafts(ctx, ch.ID)
		if err != nil || len(drafts) != 1 || drafts[0].Text != "draft: budget vote" || drafts[0].Mine {
			t.Fatalf("another admin sees drafts %+v, %v", drafts, err)
		}
		if mine, _ := writer.Drafts(ctx, ch.ID); len(mine) != 1 || !mine[0].Mine {
			t.Fatalf("the writer's drafts %+v", mine)
		}
		_, err = reader.Drafts(ctx, ch.ID)
		wantCode(t, err, proto.Code_FORBIDDEN, "a follower listing drafts")
		if n, err := reader.SyncChannel(ctx, ch.ID); err != nil || n != 0 {
			t.Fatalf("a follower synced %d posts (%v) while only a draft exists", n, err)
		}
		if _, err := writer.EditPost(ctx, ch.ID, d.ID, func(pc *client.PostContent) { pc.Text = "Budget vote passed" }, true); err != nil {
			t.Fatal(err)
		}
		ev := waitPost(t, reader, "Budget vote passed")
		if ev.Post.Version != 2 || ev.Post.Edited {
			t.Fatalf("a published draft arrives as %+v (version 2, not marked edited)", ev.Post)
		}

		// Scheduled: signed now, published by the server at its time.
		at := srv.Clock.Now().Add(2 * time.Hour)
		s, err := writer.Publish(ctx, ch.ID, client.PostContent{Text: "Polls open at 8"}, client.PublishOptions{At: time.Now().Add(2 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if s.State != proto.ChannelPostState_CHANNEL_POST_SCHEDULED || s.PublishAt.IsZero() {
			t.Fatalf("scheduled post %+v", s)
		}
		NoEvent(t, reader, 100*time.Millisecond, func(e client.ChannelPostEvent) bool { return e.Post.Text == "Polls open at 8" })
		srv.Clock.Advance(at.Sub(srv.Clock.Now()) + time.Minute)
		sched := waitPost(t, reader, "Polls open at 8")
		if sched.Post.Published.Before(at.Add(-time.Minute)) {
			t.Fatalf("published at %v, scheduled for %v", sched.Post.Published, at)
		}

		// Review required: an admin's post waits for approval.
		if _, err := owner.EditChannel(ctx, ch.ID, func(s *client.ChannelSettings) { s.ReviewRequired = true }); err != nil {
			t.Fatal(err)
		}
		r, err := writer.Publish(ctx, ch.ID, client.PostContent{Text: "Opinion: more bike lanes"}, client.PublishOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.State != proto.ChannelPostState_CHANNEL_POST_PENDING_REVIEW {
			t.Fatalf("under review the post is %v", r.State)
		}
		_, err = writer.ApprovePost(ctx, ch.ID, r.ID)
		wantCode(t, err, proto.Code_FORBIDDEN, "approving one's own post")
		if n, _ := reader.SyncChannel(ctx, ch.ID); n != 0 {
			t.Fatalf("a follower got %d posts while one waits for review", n)
		}
		ok, err := second.ApprovePost(ctx, ch.ID, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ok.State != proto.ChannelPostState_CHANNEL_POST_PUBLISHED {
			t.Fatalf("approved post %v", ok.State)
		}
		waitPost(t, reader, "Opinion: more bike lanes")
		// The owner's own posts are not reviewed.
		o := post(t, owner, ch.ID, "From the chief")
		if o.State != proto.ChannelPostState_CHANNEL_POST_PUBLISHED {
			t.Fatalf("the owner's post under review is %v", o.State)
		}
		waitPost(t, reader, "From the chief")
	})
}

// Thirty days after publication a post is gone: never served, not
// editable, not reactable; a new follower does not get it.
func TestChannelPostsExpire(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t, withFakeTime()...)
	owner := NewClient(t, srv, "@alerts")
	reader := NewClient(t, srv, "@resident")
	ctx := Ctx(t)
	ch := newChannel(t, owner, "Flood alerts")
	follow(t, reader, owner, ch.ID)
	p := post(t, owner, ch.ID, "River level rising")
	waitPost(t, reader, "River level rising")
	srv.Clock.Advance(proto.PostTTL + time.Minute)

	before := stateOf(t, owner, ch.ID)
	_, err := owner.EditPost(ctx, ch.ID, p.ID, func(pc *client.PostContent) { pc.Text = "too late" }, false)
	var pe *proto.Error
	if err == nil || !errors.As(err, &pe) || (pe.Code != proto.Code_EXPIRED && pe.Code != proto.Code_NOT_FOUND) {
		t.Fatalf("editing an expired post: %v, want EXPIRED", err)
	}
	// Through the raw request, so the server's answer is what is checked.
	_, err = reader.Do(ctx, &proto.Request{Body: &proto.Request_ChannelReact{ChannelReact: &proto.ChannelReact{ChannelId: ch.ID, PostId: p.ID, Emoji: "👍"}}})
	if !errors.As(err, &pe) || (pe.Code != proto.Code_EXPIRED && pe.Code != proto.Code_NOT_FOUND) {
		t.Fatalf("reacting to an expired post: %v", err)
	}
	if ps, err := reader.GetPosts(ctx, ch.ID, p.ID); err != nil || len(ps) != 0 {
		t.Fatalf("an expired post is served: %+v, %v", ps, err)
	}
	late := NewClient(t, srv, "@newcomer")
	follow(t, late, owner, ch.ID)
	if held, _ := late.ChannelPosts(ctx, ch.ID, 10); len(held) != 0 {
		t.Fatalf("a new follower got expired posts: %+v", held)
	}
	after := stateOf(t, owner, ch.ID)
	after.Followers, before.Followers = 0, 0 // the newcomer
	if after.HeadSeq != before.HeadSeq || after.Posts != 0 {
		t.Fatalf("expiry: before %+v, after %+v", before, after)
	}
	// Editing is refused with EXPIRED by the server too.
	k, _ := owner.Profile().ChannelKeys(ctx, ch.ID)
	key := mustKey(t, k[len(k)-1].Seed)
	sp := signWith(t, key, 0, &proto.Post{ChannelId: ch.ID, PostId: p.ID, Version: 2, Text: "too late"})
	_, err = owner.Do(ctx, &proto.Request{Body: &proto.Request_ChannelEditPost{ChannelEditPost: &proto.ChannelEditPost{ChannelId: ch.ID, Post: sp}}})
	wantCode(t, err, proto.Code_EXPIRED, "the server's answer to editing an expired post")
}
