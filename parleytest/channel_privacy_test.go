package parleytest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"

	gproto "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
)

// recorder keeps the raw bytes of every response and event a client got.
type recorder struct {
	mu     sync.Mutex
	frames []recorded
}

type recorded struct {
	what string // request type, or "event"
	raw  []byte
}

func (r *recorder) hooks() *client.Hooks {
	add := func(what string, m gproto.Message) {
		b, _ := gproto.Marshal(m)
		r.mu.Lock()
		r.frames = append(r.frames, recorded{what: what, raw: b})
		r.mu.Unlock()
	}
	return &client.Hooks{
		Response: func(req *proto.Request, resp *proto.Response) {
			if resp != nil {
				add(strings.TrimPrefix(fmt.Sprintf("%T", req.Body), "*proto.Request_"), resp)
			}
		},
		Event: func(ev *proto.Event) { add("event", ev) },
	}
}

// take returns and forgets what was recorded.
func (r *recorder) take() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.frames
	r.frames = nil
	return out
}

// identifiers are what must not leak of one account: its account id,
// handle (with and without @) and device ids.
func identifiers(c *Client) []string {
	self := c.Self()
	return []string{self.AccountID, self.Handle, strings.TrimPrefix(self.Handle, "@"), c.DeviceID()}
}

// privacyEnv is the channel the privacy cases run against.
type privacyEnv struct {
	id       string
	textPost []byte
	pollPost []byte
	doomed   []byte // deleted by the admin's case
	outsider string // an account that is neither follower nor admin
	adminB   string // account id of the other admin
	keySeed  map[*Client][]byte
}

// privacyCase builds the raw request of one request type, as actor.
type privacyCase func(t *testing.T, actor *Client, env *privacyEnv) []*proto.Request

func privacyCases() map[string]privacyCase {
	key := func(t *testing.T, actor *Client, env *privacyEnv) (channel.PrivateKey, uint32) {
		ch, err := actor.GetChannel(Ctx(t), env.id)
		if err != nil {
			t.Fatal(err)
		}
		if seed := env.keySeed[actor]; seed != nil {
			return mustKey(t, seed), ch.KeyIndex
		}
		k, _ := channel.GenerateKey(rand.Reader) // a follower has no key: its own
		return k, ch.KeyIndex
	}
	req := func(b any) *proto.Request {
		r := &proto.Request{}
		m := r.ProtoReflect()
		v := protoreflect.ValueOfMessage(b.(gproto.Message).ProtoReflect())
		od := m.Descriptor().Oneofs().ByName("body")
		for i := 0; i < od.Fields().Len(); i++ {
			f := od.Fields().Get(i)
			if f.Message() == v.Message().Descriptor() {
				m.Set(f, v)
				return r
			}
		}
		panic(fmt.Sprintf("no request body %T", b))
	}
	one := func(b any) privacyCase {
		return func(*testing.T, *Client, *privacyEnv) []*proto.Request { return []*proto.Request{req(b)} }
	}
	return map[string]privacyCase{
		"channel_create": func(t *testing.T, actor *Client, _ *privacyEnv) []*proto.Request {
			k, _ := channel.GenerateKey(rand.Reader)
			id := channel.ID(k.Public())
			si, err := channel.SignInfo(k, 0, testSettingsInfo(id))
			if err != nil {
				t.Fatal(err)
			}
			return []*proto.Request{req(&proto.ChannelCreate{Key: channel.FirstKeyEntry(k), Info: si})}
		},
		"channel_update": func(t *testing.T, actor *Client, env *privacyEnv) []*proto.Request {
			k, idx := key(t, actor, env)
			ch, _ := actor.GetChannel(Ctx(t), env.id)
			info := testSettingsInfo(env.id)
			info.Version, info.Name = ch.InfoVersion+1, ch.Name
			si, err := channel.SignInfo(k, idx, info)
			if err != nil {
				t.Fatal(err)
			}
			return []*proto.Request{req(&proto.ChannelUpdate{ChannelId: env.id, Info: si})}
		},
		"channel_get": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelGet{ChannelId: env.id})}
		},
		"channel_delete": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelDelete{ChannelId: env.id})}
		},
		"channel_link": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelLink{ChannelId: env.id})}
		},
		"channel_invite_admin": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelInviteAdmin{ChannelId: env.id, AccountId: env.outsider})}
		},
		"channel_accept_admin": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelAcceptAdmin{ChannelId: env.id})}
		},
		"channel_remove_admin": func(t *testing.T, actor *Client, env *privacyEnv) []*proto.Request {
			k, idx := key(t, actor, env)
			next, _ := channel.GenerateKey(rand.Reader)
			return []*proto.Request{req(&proto.ChannelRemoveAdmin{ChannelId: env.id, AccountId: env.adminB,
				NewKey: channel.NextKeyEntry(k, env.id, idx+1, next.Public())})}
		},
		"channel_transfer": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelTransfer{ChannelId: env.id, AccountId: env.adminB})}
		},
		"channel_rotate_key": func(t *testing.T, actor *Client, env *privacyEnv) []*proto.Request {
			k, idx := key(t, actor, env)
			next, _ := channel.GenerateKey(rand.Reader)
			return []*proto.Request{req(&proto.ChannelRotateKey{ChannelId: env.id, NewKey: channel.NextKeyEntry(k, env.id, idx+1, next.Public())})}
		},
		"channel_admins": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelAdmins{ChannelId: env.id})}
		},
		"channel_invitations": one(&proto.ChannelInvitations{}),
		"channel_publish": func(t *testing.T, actor *Client, env *privacyEnv) []*proto.Request {
			k, idx := key(t, actor, env)
			sp := signWith(t, k, idx, &proto.Post{ChannelId: env.id, PostId: newPostID(), Version: 1, Text: "privacy case post"})
			draft := signWith(t, k, idx, &proto.Post{ChannelId: env.id, PostId: newPostID(), Version: 1, Text: "privacy case draft"})
			return []*proto.Request{req(&proto.ChannelPublish{ChannelId: env.id, Post: sp}),
				req(&proto.ChannelPublish{ChannelId: env.id, Post: draft, Draft: true})}
		},
		"channel_edit_post": func(t *testing.T, actor *Client, env *privacyEnv) []*proto.Request {
			k, idx := key(t, actor, env)
			ps, err := actor.GetPosts(Ctx(t), env.id, env.textPost)
			if err != nil || len(ps) != 1 {
				t.Fatalf("the text post: %v", err)
			}
			sp := signWith(t, k, idx, &proto.Post{ChannelId: env.id, PostId: env.textPost, Version: ps[0].Version + 1, Text: "edited in a privacy case"})
			return []*proto.Request{req(&proto.ChannelEditPost{ChannelId: env.id, Post: sp})}
		},
		"channel_delete_post": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelDeletePost{ChannelId: env.id, PostId: env.doomed})}
		},
		"channel_approve": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelApprove{ChannelId: env.id, PostId: env.textPost})}
		},
		"channel_drafts": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelDrafts{ChannelId: env.id})}
		},
		"channel_sync": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelSync{ChannelId: env.id})}
		},
		"channel_get_posts": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelGetPosts{ChannelId: env.id, PostIds: [][]byte{env.textPost, env.pollPost}})}
		},
		"channel_follow": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelFollow{ChannelId: env.id})}
		},
		"channel_unfollow": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			// Follow again at once: the later cases need a follower.
			return []*proto.Request{req(&proto.ChannelUnfollow{ChannelId: env.id}), req(&proto.ChannelFollow{ChannelId: env.id})}
		},
		"channel_mute": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelMute{ChannelId: env.id, Muted: true}), req(&proto.ChannelMute{ChannelId: env.id})}
		},
		"channel_list": one(&proto.ChannelList{}),
		"channel_react": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelReact{ChannelId: env.id, PostId: env.textPost, Emoji: "👍"})}
		},
		"channel_vote": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelVote{ChannelId: env.id, PostId: env.pollPost, Options: []uint32{1}})}
		},
		"channel_view": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelView{ChannelId: env.id, PostIds: [][]byte{env.textPost}})}
		},
		"channel_stats": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelStats{ChannelId: env.id, Days: 30})}
		},
		"channel_directory": one(&proto.ChannelDirectory{Query: "privacy"}),
		"channel_report": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.ChannelReport{ChannelId: env.id, PostId: env.textPost, Reason: "privacy case"})}
		},
		"media_token": func(_ *testing.T, _ *Client, env *privacyEnv) []*proto.Request {
			return []*proto.Request{req(&proto.MediaToken{ChannelId: env.id}), req(&proto.MediaToken{})}
		},
	}
}

func testSettingsInfo(id string) *proto.ChannelInfo {
	return &proto.ChannelInfo{ChannelId: id, Version: 1, Name: "Privacy case", Description: "privacy", Category: "other", Reactions: []string{"👍"}}
}

// channelRequestTypes lists the request types of the Channels block of
// the schema (field numbers 100..149 of Request.body).
func channelRequestTypes() []protoreflect.FieldDescriptor {
	od := (&proto.Request{}).ProtoReflect().Descriptor().Oneofs().ByName("body")
	var out []protoreflect.FieldDescriptor
	for i := 0; i < od.Fields().Len(); i++ {
		if f := od.Fields().Get(i); f.Number() >= 100 && f.Number() < 150 {
			out = append(out, f)
		}
	}
	return out
}

// The privacy proof. For every channel request type of the schema (a new
// type without a case here fails the test), run as a follower and as an
// admin of a channel with several followers and admins, no response —
// scanned as raw bytes, error messages included — contains another
// follower's account id, handle or device id, and no response or event to
// the follower contains an admin's (or the owner's).
func TestChannelPrivacy(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	recs := map[string]*recorder{}
	newClient := func(handle string) *Client {
		r := &recorder{}
		recs[handle] = r
		return NewClient(t, srv, handle, WithOptions(func(o *client.Options) { o.Hooks = r.hooks() }))
	}
	owner := newClient("@privowner")
	adminA := newClient("@privadmina")
	adminB := newClient("@privadminb")
	followerA := newClient("@privfollowera")
	followerB := newClient("@privfollowerb")
	followerC := newClient("@privfollowerc")
	outsider := NewClient(t, srv, "@privoutsider")
	ctx := Ctx(t)

	ch := newChannel(t, owner, "Privacy")
	for _, f := range []*Client{followerA, followerB, followerC} {
		follow(t, f, owner, ch.ID)
	}
	makeAdmin(t, owner, adminA, ch.ID)
	makeAdmin(t, owner, adminB, ch.ID)
	// Activity the counts come from: posts, reactions, votes, views, a
	// draft, a report, media.
	text := post(t, adminB, ch.ID, "privacy text post")
	poll, err := owner.Publish(ctx, ch.ID, client.PostContent{Poll: &proto.Poll{Question: "Privacy?", Options: []string{"yes", "no"}}}, client.PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	doomed := post(t, owner, ch.ID, "to be deleted")
	if _, err := adminB.Publish(ctx, ch.ID, client.PostContent{Text: "a draft by admin B"}, client.PublishOptions{Draft: true}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*Client{followerB, followerC} {
		waitUntil(t, f.Handle+" to hold the posts", func() bool {
			ps, _ := f.ChannelPosts(ctx, ch.ID, 10)
			return len(ps) == 3
		})
		if _, err := f.React(ctx, ch.ID, text.ID, "❤️"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Vote(ctx, ch.ID, poll.ID, 0); err != nil {
			t.Fatal(err)
		}
		ps, _ := f.ChannelPosts(ctx, ch.ID, 10)
		if err := f.MarkPostsShown(ctx, ps...); err != nil {
			t.Fatal(err)
		}
		if err := f.Report(ctx, ch.ID, text.ID, "reported by "+f.Handle); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := owner.InviteAdmin(ctx, ch.ID, outsider.Handle); err != nil { // a pending invitation
		t.Fatal(err)
	}

	keys, _ := adminA.Profile().ChannelKeys(ctx, ch.ID)
	env := &privacyEnv{id: ch.ID, textPost: text.ID, pollPost: poll.ID, doomed: doomed.ID,
		outsider: outsider.Self().AccountID, adminB: adminB.Self().AccountID,
		keySeed: map[*Client][]byte{adminA: keys[len(keys)-1].Seed}}

	followers := []*Client{followerA, followerB, followerC}
	team := []*Client{owner, adminA, adminB}
	forbidden := func(actor *Client) map[string]string {
		out := map[string]string{}
		for _, f := range followers {
			if f != actor {
				for _, id := range identifiers(f) {
					out[id] = "follower " + f.Handle
				}
			}
		}
		if actor == followerA {
			for _, a := range team {
				for _, id := range identifiers(a) {
					out[id] = "admin " + a.Handle
				}
			}
		}
		return out
	}
	check := func(actor *Client, what string, frames []recorded) {
		t.Helper()
		for id, whose := range forbidden(actor) {
			for _, f := range frames {
				if bytes.Contains(f.raw, []byte(id)) {
					t.Errorf("%s as %s: a %s frame names %s (%q)", what, actor.Handle, f.what, whose, id)
				}
			}
		}
	}
	// What the setup showed the actors (events, their own follows and
	// reactions, the admin's key hand-over) is checked too.
	for _, actor := range []*Client{followerA, adminA} {
		check(actor, "setup", recs[actor.Handle].take())
	}

	cases := privacyCases()
	types := channelRequestTypes()
	if len(types) < 30 {
		t.Fatalf("found %d channel request types in the schema; the enumeration is broken", len(types))
	}
	for _, actor := range []*Client{followerA, adminA} {
		for _, f := range types {
			name := string(f.Name())
			tc, ok := cases[name]
			if !ok {
				t.Errorf("request type %s (field %d) has no privacy case: add one to privacyCases", name, f.Number())
				continue
			}
			for _, r := range tc(t, actor, env) {
				resp, _ := actor.Do(ctx, r)
				if resp == nil {
					t.Fatalf("%s as %s: no response", name, actor.Handle)
				}
			}
			check(actor, name, recs[actor.Handle].take())
		}
		// The SDK's own flows, which verify and store what they get.
		if _, err := actor.SyncChannel(ctx, ch.ID); err != nil {
			t.Fatal(err)
		}
		actor.Channels(ctx)
		actor.GetPosts(ctx, ch.ID, text.ID, poll.ID)
		actor.Directory(ctx, client.DirectoryQuery{Text: "privacy"})
		actor.ChannelAdmins(ctx, ch.ID)
		actor.Stats(ctx, ch.ID, 30)
		actor.Drafts(ctx, ch.ID)
		if actor == adminA {
			actor.SyncChannelTeam(ctx, ch.ID)
		}
		check(actor, "SDK flows", recs[actor.Handle].take())
	}
	// The team conversation's membership is for the team only.
	team0, err := adminA.ChannelAdmins(ctx, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, actor := range []*Client{followerA, adminA} {
		actor.Do(ctx, &proto.Request{Body: &proto.Request_GetGroup{GetGroup: &proto.GetGroup{GroupId: team0.GroupID}}})
		check(actor, "GetGroup of the team conversation", recs[actor.Handle].take())
	}
	// Admins do see each other.
	var handles []string
	for _, m := range team0.Members {
		handles = append(handles, m.Handle)
	}
	if len(handles) != 3 {
		t.Fatalf("admins see the team %v", handles)
	}
}
