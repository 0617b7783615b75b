package server_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/media"
)

// Channel tests through the raw protocol: every rule of docs/protocol.md
// "Channels" that the server enforces, each bad input with its code and
// the channel left unchanged.

// owned is a channel and the key its owner's device holds.
type owned struct {
	c   *client
	id  string
	key channel.PrivateKey
	idx uint32
	ver uint64 // info version
	inf *proto.ChannelInfo
}

func newChannelKey(t testing.TB) channel.PrivateKey {
	t.Helper()
	k, err := channel.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func createChannel(t testing.TB, c *client, name string, mut func(i *proto.ChannelInfo)) *owned {
	t.Helper()
	k := newChannelKey(t)
	id := channel.ID(k.Public())
	i := &proto.ChannelInfo{ChannelId: id, Version: 1, Name: name, Description: "news of " + name, Category: "news",
		Country: "FR", Listed: true, Reactions: []string{"👍", "❤️"}}
	if mut != nil {
		mut(i)
	}
	si, err := channel.SignInfo(k, 0, i)
	if err != nil {
		t.Fatal(err)
	}
	r := c.mustCall(&proto.Request{Body: &proto.Request_ChannelCreate{ChannelCreate: &proto.ChannelCreate{Key: channel.FirstKeyEntry(k), Info: si}}})
	if got := r.GetChannel(); got.GetChannelId() != id || got.Role != proto.ChannelRole_CHANNEL_ROLE_OWNER {
		t.Fatalf("created %v", got)
	}
	return &owned{c: c, id: id, key: k, ver: 1, inf: i}
}

func postID() []byte {
	id := make([]byte, proto.PostIDBytes)
	rand.Read(id)
	return id
}

func (o *owned) post(text string) *proto.Post {
	return &proto.Post{ChannelId: o.id, PostId: postID(), Version: 1, Text: text}
}

func (o *owned) sign(t testing.TB, p *proto.Post) *proto.SignedPost {
	t.Helper()
	sp, err := channel.SignPost(o.key, o.idx, p)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func publishReq(id string, sp *proto.SignedPost, draft bool) *proto.Request {
	return &proto.Request{Body: &proto.Request_ChannelPublish{ChannelPublish: &proto.ChannelPublish{ChannelId: id, Post: sp, Draft: draft}}}
}

func (o *owned) publish(t testing.TB, p *proto.Post) *proto.ChannelPost {
	t.Helper()
	return o.c.mustCall(publishReq(o.id, o.sign(t, p), false)).GetChannelPost()
}

func getChannel(t testing.TB, c *client, id string) *proto.Channel {
	t.Helper()
	return c.mustCall(&proto.Request{Body: &proto.Request_ChannelGet{ChannelGet: &proto.ChannelGet{ChannelId: id}}}).GetChannel()
}

func follow(t testing.TB, c *client, id string) {
	t.Helper()
	c.mustCall(&proto.Request{Body: &proto.Request_ChannelFollow{ChannelFollow: &proto.ChannelFollow{ChannelId: id}}})
}

func syncReq(id string, after uint64) *proto.Request {
	return &proto.Request{Body: &proto.Request_ChannelSync{ChannelSync: &proto.ChannelSync{ChannelId: id, After: after}}}
}

// channelEvent waits for a follower-visible ChannelUpdated of channel id
// with at least seq.
func channelEvent(t testing.TB, c *client, id string, seq uint64) {
	t.Helper()
	for {
		u := c.event().GetChannelUpdated()
		if u != nil && u.ChannelId == id && !u.Admin && u.Seq >= seq {
			return
		}
	}
}

func TestChannelPublishFollowSync(t *testing.T) {
	ts := startServer(t)
	o := createChannel(t, register(t, ts, "@city"), "City", nil)
	f := register(t, ts, "@follower")
	follow(t, f, o.id)
	waitFor(t, "the follower in the channel index", func() bool { return ts.ChannelIndexMembers(o.id) == 2 })

	p1 := o.publish(t, o.post("Road closed on Main St"))
	if p1.Seq != 1 || p1.State != proto.ChannelPostState_CHANNEL_POST_PUBLISHED || p1.ExpiresMs-p1.PublishedMs != proto.PostTTL.Milliseconds() {
		t.Fatalf("published %v", p1)
	}
	channelEvent(t, f, o.id, 1)

	res := f.mustCall(syncReq(o.id, 0)).GetChannelSync()
	if len(res.Posts) != 1 || res.Cursor != 1 || res.More || res.Channel == nil {
		t.Fatalf("sync = %v", res)
	}
	keys, _, err := channel.OpenChannel(res.Channel)
	if err != nil {
		t.Fatalf("channel from sync does not verify: %v", err)
	}
	if p, err := channel.OpenPost(keys, o.id, res.Posts[0].Signed); err != nil || p.Text != "Road closed on Main St" {
		t.Fatalf("post from sync: %v %v", p, err)
	}
	// Nothing new: nothing again.
	if res := f.mustCall(syncReq(o.id, 1)).GetChannelSync(); len(res.Posts) != 0 || res.Cursor != 1 || res.Channel != nil {
		t.Fatalf("second sync = %v", res)
	}

	// An edit comes back once, as an edit; a deletion as a tombstone.
	next := gproto.Clone(mustOpen(t, keys, o.id, p1.Signed)).(*proto.Post)
	next.Version, next.Text = 2, "Road reopened"
	ed := o.c.mustCall(&proto.Request{Body: &proto.Request_ChannelEditPost{ChannelEditPost: &proto.ChannelEditPost{ChannelId: o.id, Post: o.sign(t, next)}}}).GetChannelPost()
	if !ed.Edited || ed.Seq != 2 || ed.PublishedMs != p1.PublishedMs {
		t.Fatalf("edited %v", ed)
	}
	channelEvent(t, f, o.id, 2)
	o.c.mustCall(&proto.Request{Body: &proto.Request_ChannelDeletePost{ChannelDeletePost: &proto.ChannelDeletePost{ChannelId: o.id, PostId: p1.PostId}}})
	channelEvent(t, f, o.id, 3)
	res = f.mustCall(syncReq(o.id, 1)).GetChannelSync()
	if len(res.Posts) != 1 || !res.Posts[0].Deleted || res.Posts[0].Signed != nil || res.Cursor != 3 {
		t.Fatalf("sync after delete = %v", res)
	}

	// A muted follower gets no events but still syncs.
	f.mustCall(&proto.Request{Body: &proto.Request_ChannelMute{ChannelMute: &proto.ChannelMute{ChannelId: o.id, Muted: true}}})
	o.publish(t, o.post("quiet"))
	g := register(t, ts, "@other")
	follow(t, g, o.id)
	waitFor(t, "the second follower in the channel index", func() bool { return ts.ChannelIndexMembers(o.id) == 3 })
	o.publish(t, o.post("loud"))
	channelEvent(t, g, o.id, 5)
	f.mustCall(&proto.Request{Body: &proto.Request_Ping{Ping: &proto.Ping{}}})
	for _, e := range f.events {
		if u := e.GetChannelUpdated(); u != nil && u.Seq >= 4 {
			t.Fatalf("muted follower got %v", u)
		}
	}
	if res := f.mustCall(syncReq(o.id, 3)).GetChannelSync(); len(res.Posts) != 2 {
		t.Fatalf("muted follower's sync = %v", res)
	}
}

// A device linked on the connection it waited on hears of its account's
// channels: while it waited the channel index found no such device, so
// the gateway subscribes it again once it authenticates. It used to get
// no channel event until it reconnected.
func TestChannelLinkedDeviceGetsEvents(t *testing.T) {
	ts := startServer(t)
	primary := register(t, ts, "@city")
	o := createChannel(t, primary, "City", nil)
	phone := link(t, ts, primary)
	waitFor(t, "the linked device in the channel index", func() bool { return ts.ChannelIndexed(phone.auth.DeviceId) })
	o.publish(t, o.post("Road closed on Main St"))
	channelEvent(t, phone, o.id, 1)
}

func mustOpen(t testing.TB, keys channel.Keys, id string, sp *proto.SignedPost) *proto.Post {
	t.Helper()
	p, err := channel.OpenPost(keys, id, sp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// unchanged asserts the channel's head and follower count did not move.
func unchanged(t testing.TB, c *client, before *proto.Channel) {
	t.Helper()
	after := getChannel(t, c, before.ChannelId)
	if after.HeadSeq != before.HeadSeq || after.Followers != before.Followers || !gproto.Equal(after.Info, before.Info) || len(after.Keys) != len(before.Keys) {
		t.Fatalf("the channel changed: before head %d followers %d keys %d, after head %d followers %d keys %d",
			before.HeadSeq, before.Followers, len(before.Keys), after.HeadSeq, after.Followers, len(after.Keys))
	}
}

func TestChannelBadInput(t *testing.T) {
	ts := startServer(t, withFakeClock)
	owner := register(t, ts, "@owner")
	o := createChannel(t, owner, "Owner", nil)
	f := register(t, ts, "@fan")
	follow(t, f, o.id)
	poll := o.post("")
	poll.Poll = &proto.Poll{Question: "Which?", Options: []string{"a", "b"}}
	pp := o.publish(t, poll)
	before := getChannel(t, owner, o.id)

	t.Run("NonAdminPosting", func(t *testing.T) {
		// Even with a valid signature (a leaked key), a follower may not post.
		f.expectCode(publishReq(o.id, o.sign(t, o.post("hi")), false), proto.Code_FORBIDDEN)
		unchanged(t, owner, before)
	})
	t.Run("BadSignature", func(t *testing.T) {
		sp := o.sign(t, o.post("forged"))
		sp.Post[len(sp.Post)-1] ^= 1
		owner.expectCode(publishReq(o.id, sp, false), proto.Code_BAD_SIGNATURE)
		other := newChannelKey(t)
		sp2, _ := channel.SignPost(other, 0, o.post("wrong key"))
		owner.expectCode(publishReq(o.id, sp2, false), proto.Code_BAD_SIGNATURE)
		unchanged(t, owner, before)
	})
	t.Run("ThirteenOptionPoll", func(t *testing.T) {
		p := o.post("")
		p.Poll = &proto.Poll{Question: "Q?"}
		for i := range proto.MaxPollOptions + 1 {
			p.Poll.Options = append(p.Poll.Options, fmt.Sprint("option ", i))
		}
		// SignPost refuses it, so sign the bytes by hand as a rogue client would.
		b, _ := gproto.Marshal(p)
		sp := &proto.SignedPost{Post: b, KeyIndex: 0, Signature: signRaw(o.key, channel.PostMessage(o.id, b))}
		owner.expectCode(publishReq(o.id, sp, false), proto.Code_TOO_LARGE)
		unchanged(t, owner, before)
	})
	t.Run("ScheduledInThePast", func(t *testing.T) {
		p := o.post("yesterday")
		p.PublishAtMs = ts.clock.Now().Add(-time.Minute).UnixMilli()
		owner.expectCode(publishReq(o.id, o.sign(t, p), false), proto.Code_BAD_REQUEST)
		unchanged(t, owner, before)
		if d := owner.mustCall(&proto.Request{Body: &proto.Request_ChannelDrafts{ChannelDrafts: &proto.ChannelDrafts{ChannelId: o.id}}}).GetChannelPosts(); len(d.Posts) != 0 {
			t.Fatalf("a refused schedule left %v", d.Posts)
		}
	})
	t.Run("ReactionOutsideAllowedSet", func(t *testing.T) {
		f.expectCode(&proto.Request{Body: &proto.Request_ChannelReact{ChannelReact: &proto.ChannelReact{ChannelId: o.id, PostId: pp.PostId, Emoji: "💩"}}}, proto.Code_BAD_REQUEST)
		got := f.mustCall(&proto.Request{Body: &proto.Request_ChannelGetPosts{ChannelGetPosts: &proto.ChannelGetPosts{ChannelId: o.id, PostIds: [][]byte{pp.PostId}}}}).GetChannelPosts()
		if len(got.Posts) != 1 || len(got.Posts[0].Reactions) != 0 {
			t.Fatalf("a refused reaction counted: %v", got)
		}
	})
	t.Run("VoteForMissingOption", func(t *testing.T) {
		f.expectCode(&proto.Request{Body: &proto.Request_ChannelVote{ChannelVote: &proto.ChannelVote{ChannelId: o.id, PostId: pp.PostId, Options: []uint32{2}}}}, proto.Code_BAD_REQUEST)
		f.expectCode(&proto.Request{Body: &proto.Request_ChannelVote{ChannelVote: &proto.ChannelVote{ChannelId: o.id, PostId: pp.PostId, Options: []uint32{0, 1}}}}, proto.Code_BAD_REQUEST)
		got := f.mustCall(&proto.Request{Body: &proto.Request_ChannelGetPosts{ChannelGetPosts: &proto.ChannelGetPosts{ChannelId: o.id, PostIds: [][]byte{pp.PostId}}}}).GetChannelPosts()
		if fmt.Sprint(got.Posts[0].PollCounts) != "[0 0]" {
			t.Fatalf("a refused vote counted: %v", got.Posts[0].PollCounts)
		}
		v := f.mustCall(&proto.Request{Body: &proto.Request_ChannelVote{ChannelVote: &proto.ChannelVote{ChannelId: o.id, PostId: pp.PostId, Options: []uint32{1}}}}).GetChannelPost()
		if fmt.Sprint(v.PollCounts) != "[0 1]" || fmt.Sprint(v.MyVotes) != "[1]" {
			t.Fatalf("vote = %v", v)
		}
	})
	t.Run("SeventeenthAdmin", func(t *testing.T) {
		var admins []*client
		for i := range proto.MaxChannelAdmins + 1 {
			a := register(t, ts, fmt.Sprintf("@admin%d", i))
			admins = append(admins, a)
			code := proto.Code_OK
			if i == proto.MaxChannelAdmins {
				code = proto.Code_LIMIT_REACHED
			}
			owner.expectCode(&proto.Request{Body: &proto.Request_ChannelInviteAdmin{ChannelInviteAdmin: &proto.ChannelInviteAdmin{ChannelId: o.id, AccountId: a.auth.AccountId}}}, code)
			if code == proto.Code_OK {
				a.mustCall(&proto.Request{Body: &proto.Request_ChannelAcceptAdmin{ChannelAcceptAdmin: &proto.ChannelAcceptAdmin{ChannelId: o.id}}})
			}
		}
		team := owner.mustCall(&proto.Request{Body: &proto.Request_ChannelAdmins{ChannelAdmins: &proto.ChannelAdmins{ChannelId: o.id}}}).GetChannelAdmins()
		if len(team.Members) != 1+proto.MaxChannelAdmins {
			t.Fatalf("team of %d", len(team.Members))
		}
		// The refused invitation does not exist.
		last := admins[proto.MaxChannelAdmins]
		last.expectCode(&proto.Request{Body: &proto.Request_ChannelAcceptAdmin{ChannelAcceptAdmin: &proto.ChannelAcceptAdmin{ChannelId: o.id}}}, proto.Code_NOT_FOUND)
		// A follower may not see the team.
		f.expectCode(&proto.Request{Body: &proto.Request_ChannelAdmins{ChannelAdmins: &proto.ChannelAdmins{ChannelId: o.id}}}, proto.Code_FORBIDDEN)
	})
	t.Run("ExpiredAdminInvitation", func(t *testing.T) {
		o2 := createChannel(t, owner, "Second", nil)
		late := register(t, ts, "@late")
		owner.mustCall(&proto.Request{Body: &proto.Request_ChannelInviteAdmin{ChannelInviteAdmin: &proto.ChannelInviteAdmin{ChannelId: o2.id, AccountId: late.auth.AccountId}}})
		ts.clock.Advance(proto.AdminInviteTTL + time.Minute)
		// The idle timeout closed every connection meanwhile.
		owner, f, late = owner.reconnect(ts), f.reconnect(ts), late.reconnect(ts)
		late.expectCode(&proto.Request{Body: &proto.Request_ChannelAcceptAdmin{ChannelAcceptAdmin: &proto.ChannelAcceptAdmin{ChannelId: o2.id}}}, proto.Code_EXPIRED)
		late.expectCode(publishReq(o2.id, o2.sign(t, o2.post("mine")), false), proto.Code_FORBIDDEN)
		team := owner.mustCall(&proto.Request{Body: &proto.Request_ChannelAdmins{ChannelAdmins: &proto.ChannelAdmins{ChannelId: o2.id}}}).GetChannelAdmins()
		if len(team.Members) != 1 {
			t.Fatalf("expired invitation made an admin: %v", team)
		}
	})
	t.Run("EditExpiredPost", func(t *testing.T) {
		o3 := createChannel(t, owner, "Third", nil)
		p := o3.publish(t, o3.post("old news"))
		ts.clock.Advance(proto.PostTTL + time.Minute)
		owner, f = owner.reconnect(ts), f.reconnect(ts)
		keys := channel.Keys{o3.key.Public()}
		next := mustOpen(t, keys, o3.id, p.Signed)
		next.Version, next.Text = 2, "too late"
		b3 := getChannel(t, owner, o3.id)
		owner.expectCode(&proto.Request{Body: &proto.Request_ChannelEditPost{ChannelEditPost: &proto.ChannelEditPost{ChannelId: o3.id, Post: o3.sign(t, next)}}}, proto.Code_EXPIRED)
		unchanged(t, owner, b3)
		if res := owner.mustCall(syncReq(o3.id, 0)).GetChannelSync(); len(res.Posts) != 0 {
			t.Fatalf("an expired post is served: %v", res.Posts)
		}
	})
	t.Run("FollowSuspended", func(t *testing.T) {
		o4 := createChannel(t, owner, "Fourth", nil)
		adminPost(t, ts, "/v1/channels/"+o4.id+"/suspend", "")
		b4 := getChannel(t, owner, o4.id)
		late := register(t, ts, "@latecomer")
		late.expectCode(&proto.Request{Body: &proto.Request_ChannelFollow{ChannelFollow: &proto.ChannelFollow{ChannelId: o4.id}}}, proto.Code_SUSPENDED)
		owner.expectCode(publishReq(o4.id, o4.sign(t, o4.post("still here?")), false), proto.Code_SUSPENDED)
		unchanged(t, owner, b4)
		if got := late.mustCall(&proto.Request{Body: &proto.Request_ChannelDirectory{ChannelDirectory: &proto.ChannelDirectory{Query: "Fourth"}}}).GetChannelDirectory(); len(got.Channels) != 0 {
			t.Fatalf("a suspended channel is in the directory: %v", got)
		}
	})
}

// signRaw signs bytes with a channel key the way channel.SignPost does,
// without its validation (a rogue client).
func signRaw(k channel.PrivateKey, msg []byte) []byte {
	return ed25519.Sign(ed25519.NewKeyFromSeed(k.Seed()), msg)
}

func adminPost(t testing.TB, ts *testServer, path, body string) {
	t.Helper()
	resp, err := http.Post("http://"+ts.AdminAddr()+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %s %s", path, resp.Status, b)
	}
}

func TestChannelScheduleReviewDrafts(t *testing.T) {
	ts := startServer(t, withFakeClock)
	owner := register(t, ts, "@newsroom")
	o := createChannel(t, owner, "Newsroom", func(i *proto.ChannelInfo) { i.ReviewRequired = true })
	ed := register(t, ts, "@editor")
	owner.mustCall(&proto.Request{Body: &proto.Request_ChannelInviteAdmin{ChannelInviteAdmin: &proto.ChannelInviteAdmin{ChannelId: o.id, AccountId: ed.auth.AccountId}}})
	ed.mustCall(&proto.Request{Body: &proto.Request_ChannelAcceptAdmin{ChannelAcceptAdmin: &proto.ChannelAcceptAdmin{ChannelId: o.id}}})
	f := register(t, ts, "@reader")
	follow(t, f, o.id)

	// The owner's scheduled post waits for its time on the server's clock.
	at := ts.clock.Now().Add(2 * time.Hour)
	p := o.post("at two")
	p.PublishAtMs = at.UnixMilli()
	sch := o.publish(t, p)
	if sch.State != proto.ChannelPostState_CHANNEL_POST_SCHEDULED || sch.Seq != 0 {
		t.Fatalf("scheduled = %v", sch)
	}
	if res := f.mustCall(syncReq(o.id, 0)).GetChannelSync(); len(res.Posts) != 0 {
		t.Fatalf("a scheduled post is visible early: %v", res.Posts)
	}
	ts.clock.Advance(2*time.Hour + time.Second)
	owner, ed, f = owner.reconnect(ts), ed.reconnect(ts), f.reconnect(ts)
	waitFor(t, "the scheduled post published", func() bool {
		return len(f.mustCall(syncReq(o.id, 0)).GetChannelSync().Posts) == 1
	})

	// The editor's post needs another admin's approval (the owner's here).
	edPost := &proto.Post{ChannelId: o.id, PostId: postID(), Version: 1, Text: "by the editor"}
	sp, _ := channel.SignPost(o.key, 0, edPost) // the editor holds the key (from the admin conversation)
	pend := ed.mustCall(publishReq(o.id, sp, false)).GetChannelPost()
	if pend.State != proto.ChannelPostState_CHANNEL_POST_PENDING_REVIEW || !pend.Mine {
		t.Fatalf("editor's post = %v", pend)
	}
	ed.expectCode(&proto.Request{Body: &proto.Request_ChannelApprove{ChannelApprove: &proto.ChannelApprove{ChannelId: o.id, PostId: edPost.PostId}}}, proto.Code_FORBIDDEN)
	f.expectCode(&proto.Request{Body: &proto.Request_ChannelDrafts{ChannelDrafts: &proto.ChannelDrafts{ChannelId: o.id}}}, proto.Code_FORBIDDEN)
	drafts := owner.mustCall(&proto.Request{Body: &proto.Request_ChannelDrafts{ChannelDrafts: &proto.ChannelDrafts{ChannelId: o.id}}}).GetChannelPosts()
	if len(drafts.Posts) != 1 || drafts.Posts[0].Mine {
		t.Fatalf("drafts = %v", drafts)
	}
	ok := owner.mustCall(&proto.Request{Body: &proto.Request_ChannelApprove{ChannelApprove: &proto.ChannelApprove{ChannelId: o.id, PostId: edPost.PostId}}}).GetChannelPost()
	if ok.State != proto.ChannelPostState_CHANNEL_POST_PUBLISHED || ok.Seq != 2 {
		t.Fatalf("approved = %v", ok)
	}

	// A draft stays with the team until published by an edit.
	dr := o.post("draft")
	owner.mustCall(publishReq(o.id, o.sign(t, dr), true))
	if res := f.mustCall(syncReq(o.id, 2)).GetChannelSync(); len(res.Posts) != 0 {
		t.Fatalf("draft visible: %v", res.Posts)
	}
	dr.Version = 2
	pub := owner.mustCall(&proto.Request{Body: &proto.Request_ChannelEditPost{ChannelEditPost: &proto.ChannelEditPost{ChannelId: o.id, Post: o.sign(t, dr), Publish: true}}}).GetChannelPost()
	if pub.State != proto.ChannelPostState_CHANNEL_POST_PUBLISHED || pub.Edited {
		t.Fatalf("published draft = %v", pub)
	}
	if res := f.mustCall(syncReq(o.id, 2)).GetChannelSync(); len(res.Posts) != 1 {
		t.Fatalf("published draft not synced: %v", res)
	}
}

func TestChannelStatsDirectoryReports(t *testing.T) {
	ts := startServer(t)
	owner := register(t, ts, "@lyon")
	o := createChannel(t, owner, "Ville de Lyon", func(i *proto.ChannelInfo) { i.Description = "Trafic et météo"; i.Category = "government" })
	createChannel(t, owner, "Unlisted", func(i *proto.ChannelInfo) { i.Listed = false })
	p := o.publish(t, o.post("hello"))
	var fans []*client
	for i := range 3 {
		f := register(t, ts, fmt.Sprintf("@fan%d", i))
		follow(t, f, o.id)
		f.mustCall(&proto.Request{Body: &proto.Request_ChannelView{ChannelView: &proto.ChannelView{ChannelId: o.id, PostIds: [][]byte{p.PostId}}}})
		f.mustCall(&proto.Request{Body: &proto.Request_ChannelView{ChannelView: &proto.ChannelView{ChannelId: o.id, PostIds: [][]byte{p.PostId}}}})
		f.mustCall(&proto.Request{Body: &proto.Request_ChannelReact{ChannelReact: &proto.ChannelReact{ChannelId: o.id, PostId: p.PostId, Emoji: "👍"}}})
		fans = append(fans, f)
	}
	fans[0].mustCall(&proto.Request{Body: &proto.Request_ChannelReact{ChannelReact: &proto.ChannelReact{ChannelId: o.id, PostId: p.PostId, Emoji: "❤️"}}})
	fans[1].mustCall(&proto.Request{Body: &proto.Request_ChannelUnfollow{ChannelUnfollow: &proto.ChannelUnfollow{ChannelId: o.id}}})

	st := owner.mustCall(&proto.Request{Body: &proto.Request_ChannelStats{ChannelStats: &proto.ChannelStats{ChannelId: o.id, Days: 7}}}).GetChannelStats()
	if st.Followers != 2 || len(st.Days) != 7 || st.Days[6].Follows != 3 || st.Days[6].Unfollows != 1 || len(st.Posts) != 1 ||
		st.Posts[0].Views != 3 || st.Posts[0].Reactions != 3 {
		t.Fatalf("stats = %v", st)
	}
	fans[0].expectCode(&proto.Request{Body: &proto.Request_ChannelStats{ChannelStats: &proto.ChannelStats{ChannelId: o.id}}}, proto.Code_FORBIDDEN)

	dir := fans[0].mustCall(&proto.Request{Body: &proto.Request_ChannelDirectory{ChannelDirectory: &proto.ChannelDirectory{Query: "meteo lyon", Category: "government"}}}).GetChannelDirectory()
	if len(dir.Channels) != 1 || dir.Channels[0].ChannelId != o.id || dir.Channels[0].Keys != nil || dir.Channels[0].PostsLastWeek != 1 {
		t.Fatalf("directory = %v", dir)
	}
	if d := fans[0].mustCall(&proto.Request{Body: &proto.Request_ChannelDirectory{ChannelDirectory: &proto.ChannelDirectory{Query: "unlisted"}}}).GetChannelDirectory(); len(d.Channels) != 0 {
		t.Fatalf("unlisted channel in the directory: %v", d)
	}
	fans[0].expectCode(&proto.Request{Body: &proto.Request_ChannelDirectory{ChannelDirectory: &proto.ChannelDirectory{Category: "gossip"}}}, proto.Code_BAD_REQUEST)

	fans[2].mustCall(&proto.Request{Body: &proto.Request_ChannelReport{ChannelReport: &proto.ChannelReport{ChannelId: o.id, PostId: p.PostId, Reason: "misleading"}}})
	resp, err := http.Get("http://" + ts.AdminAddr() + "/v1/reports")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var q struct {
		Reports []map[string]any `json:"reports"`
	}
	json.NewDecoder(resp.Body).Decode(&q)
	if len(q.Reports) != 1 || q.Reports[0]["channel_id"] != o.id || q.Reports[0]["reason"] != "misleading" {
		t.Fatalf("report queue = %v", q)
	}
	adminPost(t, ts, "/v1/channels/"+o.id+"/verify", `{"verified": true}`)
	if !getChannel(t, fans[0], o.id).Verified {
		t.Fatal("verified badge not shown")
	}
	adminPost(t, ts, fmt.Sprintf("/v1/reports/%v/resolve", q.Reports[0]["id"]), "")
}

func TestChannelMedia(t *testing.T) {
	ts := startServer(t)
	owner := register(t, ts, "@photos")
	o := createChannel(t, owner, "Photos", nil)
	f := register(t, ts, "@viewer")
	follow(t, f, o.id)
	up := owner.mustCall(&proto.Request{Body: &proto.Request_MediaToken{MediaToken: &proto.MediaToken{ChannelId: o.id}}}).GetMediaToken().Token
	down := f.mustCall(&proto.Request{Body: &proto.Request_MediaToken{MediaToken: &proto.MediaToken{}}}).GetMediaToken().Token
	f.expectCode(&proto.Request{Body: &proto.Request_MediaToken{MediaToken: &proto.MediaToken{ChannelId: o.id}}}, proto.Code_FORBIDDEN)

	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var pngBytes bytes.Buffer
	png.Encode(&pngBytes, img)

	upload := func(tok, typ string, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+ts.Addr()+media.UploadPath, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", typ)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := upload(up, "image/png", pngBytes.Bytes())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %s %s", resp.Status, body)
	}
	var res media.UploadResult
	json.Unmarshal(body, &res)
	if res.Width != 640 || res.Height != 480 || res.Mime != "image/png" || res.Thumbnail == "" || res.Size != int64(pngBytes.Len()) {
		t.Fatalf("upload result = %+v", res)
	}

	for _, tt := range []struct {
		name   string
		tok    string
		typ    string
		body   []byte
		status int
		code   string
	}{
		{"mislabelled", up, "image/jpeg", pngBytes.Bytes(), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA"},
		{"not allowed", up, "text/html", []byte("<html></html>"), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA"},
		{"oversized", up, "video/mp4", make([]byte, proto.MaxMediaBytes+1), http.StatusRequestEntityTooLarge, "TOO_LARGE"},
		{"download token", down, "image/png", pngBytes.Bytes(), http.StatusForbidden, "FORBIDDEN"},
		{"no token", "", "image/png", pngBytes.Bytes(), http.StatusUnauthorized, "UNAUTHENTICATED"},
	} {
		resp, body := upload(tt.tok, tt.typ, tt.body)
		var e media.ErrorBody
		json.Unmarshal(body, &e)
		if resp.StatusCode != tt.status || e.Code != tt.code {
			t.Errorf("%s: %s %s", tt.name, resp.Status, body)
		}
	}

	// The post refers to the upload; the thumbnail comes with it.
	p := o.post("a picture")
	p.Media = []*proto.Media{{Hash: res.Hash, Mime: res.Mime, Size: uint64(res.Size), Width: 640, Height: 480, Thumbnail: res.Thumbnail}}
	o.publish(t, p)
	bad := o.post("not uploaded")
	bad.Media = []*proto.Media{{Hash: strings.Repeat("ab", 32), Mime: "image/png", Size: 5}}
	owner.expectCode(publishReq(o.id, o.sign(t, bad), false), proto.Code_NOT_FOUND)

	for _, h := range []string{res.Hash, res.Thumbnail} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ts.Addr()+media.DownloadPath+h+"?token="+down, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(b) == 0 {
			t.Fatalf("download %s: %s", h, resp.Status)
		}
		if h == res.Hash && !bytes.Equal(b, pngBytes.Bytes()) {
			t.Fatal("downloaded bytes differ")
		}
		if h == res.Thumbnail {
			cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
			if err != nil || cfg.Width != media.ThumbnailSide || cfg.Height != 240 {
				t.Fatalf("thumbnail %v %v", cfg, err)
			}
		}
	}
}

// TestChannelAdminConversation: the CHANNEL_ADMINS MLS conversation is
// created by the owner only, once, and takes devices of the team only.
func TestChannelAdminConversation(t *testing.T) {
	ts := startServer(t)
	owner := register(t, ts, "@boss")
	o := createChannel(t, owner, "Boss", nil)
	stranger := register(t, ts, "@stranger")
	commit := func(c *client, group []byte, epoch uint64, add []string, welcome []byte) *proto.Request {
		mid := make([]byte, proto.MessageIDBytes)
		rand.Read(mid)
		m := c.commitMsg(group, epoch, add, 0) // a real MLS commit making the declared adds
		if welcome != nil {
			welcome = m.welcome
		}
		return &proto.Request{Body: &proto.Request_Commit{Commit: &proto.Commit{
			GroupId: group, Epoch: epoch, MessageId: mid, Commit: m.commit, Welcome: welcome, AddDevices: add,
			Kind: proto.ConversationKind_CHANNEL_ADMINS, Accounts: []string{c.auth.AccountId}, ChannelId: o.id,
		}}}
	}
	group := []byte("admins-of-boss-channel")
	stranger.expectCode(commit(stranger, []byte("hijack"), 0, nil, nil), proto.Code_FORBIDDEN)
	owner.mustCall(commit(owner, group, 0, nil, nil))
	owner.expectCode(commit(owner, []byte("second"), 0, nil, nil), proto.Code_ALREADY_EXISTS)
	if g := getChannel(t, owner, o.id); !bytes.Equal(g.AdminGroupId, group) {
		t.Fatalf("admin group = %x", g.AdminGroupId)
	}
	if g := getChannel(t, stranger, o.id); g.AdminGroupId != nil {
		t.Fatal("a stranger sees the admin group")
	}
	owner.expectCode(commit(owner, group, 1, []string{stranger.auth.DeviceId}, []byte("welcome")), proto.Code_BAD_REQUEST)
	owner.mustCall(&proto.Request{Body: &proto.Request_ChannelInviteAdmin{ChannelInviteAdmin: &proto.ChannelInviteAdmin{ChannelId: o.id, AccountId: stranger.auth.AccountId}}})
	inv := stranger.event().GetChannelInvitation()
	if inv.GetChannelId() != o.id || inv.Channel.GetAdminGroupId() != nil {
		t.Fatalf("invitation event = %v", inv)
	}
	stranger.mustCall(&proto.Request{Body: &proto.Request_ChannelAcceptAdmin{ChannelAcceptAdmin: &proto.ChannelAcceptAdmin{ChannelId: o.id}}})
	owner.mustCall(commit(owner, group, 1, []string{stranger.auth.DeviceId}, []byte("welcome")))
	// Removing an admin whose device is still in the conversation is refused.
	k1 := newChannelKey(t)
	owner.expectCode(&proto.Request{Body: &proto.Request_ChannelRemoveAdmin{ChannelRemoveAdmin: &proto.ChannelRemoveAdmin{
		ChannelId: o.id, AccountId: stranger.auth.AccountId, NewKey: channel.NextKeyEntry(o.key, o.id, 1, k1.Public())}}}, proto.Code_CONFLICT)
}

// TestChannelExpiry: 30 days after publication the post is no longer
// served and its media (and thumbnail) are deleted from the disk.
func TestChannelExpiry(t *testing.T) {
	ts := startServer(t, withFakeClock)
	owner := register(t, ts, "@daily")
	o := createChannel(t, owner, "Daily", nil)
	tok := owner.mustCall(&proto.Request{Body: &proto.Request_MediaToken{MediaToken: &proto.MediaToken{ChannelId: o.id}}}).GetMediaToken().Token
	var img bytes.Buffer
	png.Encode(&img, image.NewGray(image.Rect(0, 0, 400, 400)))
	req, _ := http.NewRequest(http.MethodPost, "http://"+ts.Addr()+media.UploadPath, bytes.NewReader(img.Bytes()))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "image/png")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var res media.UploadResult
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	p := o.post("today")
	p.Media = []*proto.Media{{Hash: res.Hash, Mime: res.Mime, Size: uint64(res.Size), Thumbnail: res.Thumbnail}}
	o.publish(t, p)
	files := []string{filepath.Join(ts.dir, "media", res.Hash[:2], res.Hash), filepath.Join(ts.dir, "media", res.Thumbnail[:2], res.Thumbnail)}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("media file: %v", err)
		}
	}

	ts.clock.Advance(proto.PostTTL + time.Hour)
	owner = owner.reconnect(ts)
	waitFor(t, "the media files deleted by the sweeper", func() bool {
		for _, f := range files {
			if _, err := os.Stat(f); err == nil {
				return false
			}
		}
		return true
	})
	if res := owner.mustCall(syncReq(o.id, 0)).GetChannelSync(); len(res.Posts) != 0 {
		t.Fatalf("expired post served: %v", res.Posts)
	}
	down := owner.mustCall(&proto.Request{Body: &proto.Request_MediaToken{MediaToken: &proto.MediaToken{}}}).GetMediaToken().Token
	r, err := http.Get("http://" + ts.Addr() + media.DownloadPath + res.Hash + "?token=" + down)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusNotFound {
		t.Fatalf("expired media: %s", r.Status)
	}
}
