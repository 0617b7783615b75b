package parleytest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"image"
	"image/color"
	"image/png"
	"testing"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
)

// signRaw signs post bytes with a channel key without validating them, as
// a buggy or hostile client would.
func signRaw(t *testing.T, seed []byte, index uint32, p *proto.Post) *proto.SignedPost {
	t.Helper()
	b, err := gproto.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return &proto.SignedPost{Post: b, KeyIndex: index, Signature: ed25519.Sign(ed25519.NewKeyFromSeed(seed), channel.PostMessage(p.ChannelId, b))}
}

func publishReq(id string, sp *proto.SignedPost) *proto.Request {
	return &proto.Request{Body: &proto.Request_ChannelPublish{ChannelPublish: &proto.ChannelPublish{ChannelId: id, Post: sp}}}
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Every bad input of the issue, from the SDK and (where the SDK refuses
// before sending) as a raw request the server must refuse: each gets its
// coded error and leaves the channel unchanged. (The expired invitation,
// the 17th admin and the expired post have tests of their own:
// TestChannelAdminInvitationExpires, TestChannelSeventeenthAdmin,
// TestChannelPostsExpire.)
func TestChannelBadInput(t *testing.T) {
	requireMLS(t)
	onBothStores(t, func(t *testing.T, _ storeKind, opts ...Option) {
		srv := NewServer(t, opts...)
		owner := NewClient(t, srv, "@station")
		reader := NewClient(t, srv, "@listener")
		ctx := Ctx(t)
		ch := newChannel(t, owner, "Radio")
		follow(t, reader, owner, ch.ID)
		p := post(t, owner, ch.ID, "Tonight's programme")
		poll, err := owner.Publish(ctx, ch.ID, client.PostContent{Poll: &proto.Poll{Question: "Jazz or rock?", Options: []string{"jazz", "rock"}}}, client.PublishOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the listener to hold both posts", func() bool {
			ps, _ := reader.ChannelPosts(ctx, ch.ID, 10)
			return len(ps) == 2
		})
		keys, _ := owner.Profile().ChannelKeys(ctx, ch.ID)
		seed := keys[0].Seed
		fake, _ := channel.GenerateKey(rand.Reader)

		cases := []struct {
			name string
			code proto.Code
			do   func() error
		}{
			{"a follower posting (SDK)", proto.Code_FORBIDDEN, func() error {
				_, err := reader.Publish(ctx, ch.ID, client.PostContent{Text: "hello"}, client.PublishOptions{})
				return err
			}},
			{"a follower posting (raw, own key)", proto.Code_FORBIDDEN, func() error {
				_, err := reader.Do(ctx, publishReq(ch.ID, signWith(t, fake, 0, &proto.Post{ChannelId: ch.ID, PostId: newPostID(), Version: 1, Text: "hello"})))
				return err
			}},
			{"a post whose signature does not verify", proto.Code_BAD_SIGNATURE, func() error {
				sp := signRaw(t, seed, 0, &proto.Post{ChannelId: ch.ID, PostId: newPostID(), Version: 1, Text: "genuine"})
				sp.Post = bytes.Replace(sp.Post, []byte("genuine"), []byte("altered"), 1)
				_, err := owner.Do(ctx, publishReq(ch.ID, sp))
				return err
			}},
			{"a post signed by another key", proto.Code_BAD_SIGNATURE, func() error {
				_, err := owner.Do(ctx, publishReq(ch.ID, signWith(t, fake, 0, &proto.Post{ChannelId: ch.ID, PostId: newPostID(), Version: 1, Text: "x"})))
				return err
			}},
			{"a 13-option poll (SDK)", proto.Code_TOO_LARGE, func() error {
				_, err := owner.Publish(ctx, ch.ID, client.PostContent{Poll: thirteen()}, client.PublishOptions{})
				return err
			}},
			{"a 13-option poll (raw)", proto.Code_TOO_LARGE, func() error {
				_, err := owner.Do(ctx, publishReq(ch.ID, signRaw(t, seed, 0, &proto.Post{ChannelId: ch.ID, PostId: newPostID(), Version: 1, Poll: thirteen()})))
				return err
			}},
			{"a reaction outside the allowed set (SDK)", proto.Code_BAD_REQUEST, func() error {
				_, err := reader.React(ctx, ch.ID, p.ID, "🍕")
				return err
			}},
			{"a reaction outside the allowed set (raw)", proto.Code_BAD_REQUEST, func() error {
				_, err := reader.Do(ctx, &proto.Request{Body: &proto.Request_ChannelReact{ChannelReact: &proto.ChannelReact{ChannelId: ch.ID, PostId: p.ID, Emoji: "🍕"}}})
				return err
			}},
			{"a vote for a non-existent option (SDK)", proto.Code_BAD_REQUEST, func() error {
				_, err := reader.Vote(ctx, ch.ID, poll.ID, 2)
				return err
			}},
			{"a vote for a non-existent option (raw)", proto.Code_BAD_REQUEST, func() error {
				_, err := reader.Do(ctx, &proto.Request{Body: &proto.Request_ChannelVote{ChannelVote: &proto.ChannelVote{ChannelId: ch.ID, PostId: poll.ID, Options: []uint32{12}}}})
				return err
			}},
			{"a scheduled time in the past (SDK)", proto.Code_BAD_REQUEST, func() error {
				_, err := owner.Publish(ctx, ch.ID, client.PostContent{Text: "yesterday"}, client.PublishOptions{At: time.Now().Add(-time.Hour)})
				return err
			}},
			{"a scheduled time in the past (raw)", proto.Code_BAD_REQUEST, func() error {
				_, err := owner.Do(ctx, publishReq(ch.ID, signRaw(t, seed, 0, &proto.Post{ChannelId: ch.ID, PostId: newPostID(), Version: 1,
					Text: "yesterday", PublishAtMs: time.Now().Add(-time.Hour).UnixMilli()})))
				return err
			}},
			{"a mislabelled media upload", proto.Code_UNSUPPORTED_MEDIA, func() error {
				_, err := owner.UploadMedia(ctx, ch.ID, []byte("<html><body>not an image</body></html>"), "image/png", "")
				return err
			}},
			{"an image declared as another image type", proto.Code_UNSUPPORTED_MEDIA, func() error {
				_, err := owner.UploadMedia(ctx, ch.ID, pngBytes(t, 8, 8), "image/jpeg", "")
				return err
			}},
			{"an oversized media upload", proto.Code_TOO_LARGE, func() error {
				big := make([]byte, proto.MaxMediaBytes+1)
				copy(big, pngBytes(t, 4, 4))
				_, err := owner.UploadMedia(ctx, ch.ID, big, "image/png", "")
				return err
			}},
			{"media a follower uploads", proto.Code_FORBIDDEN, func() error {
				_, err := reader.UploadMedia(ctx, ch.ID, pngBytes(t, 8, 8), "image/png", "")
				return err
			}},
			{"a post naming media never uploaded", proto.Code_NOT_FOUND, func() error {
				sum := make([]byte, 32)
				rand.Read(sum)
				m := &proto.Media{Hash: hexString(sum), Mime: "image/png", Size: 10}
				_, err := owner.Publish(ctx, ch.ID, client.PostContent{Text: "pic", Media: []*proto.Media{m}}, client.PublishOptions{})
				return err
			}},
			{"an edit that changes the poll", proto.Code_BAD_REQUEST, func() error {
				_, err := owner.Do(ctx, &proto.Request{Body: &proto.Request_ChannelEditPost{ChannelEditPost: &proto.ChannelEditPost{ChannelId: ch.ID,
					Post: signRaw(t, seed, 0, &proto.Post{ChannelId: ch.ID, PostId: poll.ID, Version: 2,
						Poll: &proto.Poll{Question: "Jazz or rock?", Options: []string{"jazz", "rock", "pop"}}})}}})
				return err
			}},
			{"a follower reading the team", proto.Code_FORBIDDEN, func() error {
				_, err := reader.ChannelAdmins(ctx, ch.ID)
				return err
			}},
			{"a follower asking for stats", proto.Code_FORBIDDEN, func() error {
				_, err := reader.Stats(ctx, ch.ID, 1)
				return err
			}},
		}
		for _, tc := range cases {
			before := stateOf(t, owner, ch.ID)
			wantCode(t, tc.do(), tc.code, tc.name)
			unchanged(t, owner, ch.ID, before, tc.name)
		}
		// Nothing of it reached the follower.
		if n, err := reader.SyncChannel(ctx, ch.ID); err != nil || n != 0 {
			t.Fatalf("the follower synced %d changes after refused requests (%v)", n, err)
		}

		// A suspended channel: not followable, cannot post, not listed.
		adminCall(t, srv, "POST", "/v1/channels/"+ch.ID+"/suspend", map[string]bool{"suspended": true})
		newcomer := NewClient(t, srv, "@newcomer")
		before := stateOf(t, owner, ch.ID)
		_, err = newcomer.Follow(ctx, link(t, owner, ch.ID))
		wantCode(t, err, proto.Code_SUSPENDED, "following a suspended channel")
		_, err = owner.Publish(ctx, ch.ID, client.PostContent{Text: "still on air"}, client.PublishOptions{})
		wantCode(t, err, proto.Code_SUSPENDED, "posting to a suspended channel")
		unchanged(t, owner, ch.ID, before, "requests to a suspended channel")
		if found, _ := newcomer.Directory(ctx, client.DirectoryQuery{Text: "Radio"}); len(found) != 0 {
			t.Fatalf("a suspended channel is in the directory: %+v", found)
		}
		if held, _ := reader.ChannelPosts(context.Background(), ch.ID, 10); len(held) != 2 {
			t.Fatalf("followers of a suspended channel keep what is there: %d posts", len(held))
		}
	})
}

func thirteen() *proto.Poll {
	p := &proto.Poll{Question: "Pick a month"}
	for i := range proto.MaxPollOptions + 1 {
		p.Options = append(p.Options, time.Month(i%12+1).String()+string(rune('a'+i)))
	}
	return p
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
