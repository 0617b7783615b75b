package parleytest

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/store"
)

// A post altered or forged in the server's store (as a compromised server
// could) is rejected by the follower's verification: it is never stored or
// shown, a warning says so, and genuine posts keep arriving.
func TestChannelForgedPostRejected(t *testing.T) {
	requireMLS(t)
	onBothStores(t, func(t *testing.T, st storeKind, opts ...Option) {
		srv := NewServer(t, opts...)
		owner := NewClient(t, srv, "@waterboard")
		reader := NewClient(t, srv, "@household")
		ctx := Ctx(t)
		ch := newChannel(t, owner, "Water quality")
		follow(t, reader, owner, ch.ID)
		p := post(t, owner, ch.ID, "Tap water is safe to drink")
		seen := waitPost(t, reader, "Tap water is safe to drink")
		if err := reader.MarkPostsShown(ctx, seen.Post); err != nil {
			t.Fatal(err)
		}
		reader.Close()

		s := openStore(t, srv, st)
		now := time.Now()
		// 1. The stored post's text altered under its genuine signature,
		// as a new version (so followers sync it again).
		stored, err := s.Post(ctx, ch.ID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		var sp proto.SignedPost
		if err := gproto.Unmarshal(stored.Signed, &sp); err != nil {
			t.Fatal(err)
		}
		altered := gproto.Clone(&sp).(*proto.SignedPost)
		altered.Post = bytes.Replace(altered.Post, []byte("safe"), []byte("foul"), 1)
		if _, err := s.UpdatePost(ctx, store.PostUpdate{ChannelID: ch.ID, ID: p.ID, IfVersion: stored.Version, Version: stored.Version + 1,
			Signed: mustMarshal(t, altered), Author: stored.Author, State: store.PostPublished, Now: now}); err != nil {
			t.Fatal(err)
		}
		// 2. A whole post signed by a key that is not the channel's.
		fake, _ := channel.GenerateKey(rand.Reader)
		forgedID := newPostID()
		forged := signWith(t, fake, 0, &proto.Post{ChannelId: ch.ID, PostId: forgedID, Version: 1, Text: "Boil all water: contamination"})
		if _, err := s.PutPost(ctx, store.Post{ChannelID: ch.ID, ID: forgedID, Version: 1, Signed: mustMarshal(t, forged),
			State: store.PostPublished, Author: stored.Author, PublishedAt: now, ExpiresAt: now.Add(proto.PostTTL), UpdatedAt: now}, proto.MaxChannelDrafts); err != nil {
			t.Fatal(err)
		}
		// 3. A genuine post after both.
		post(t, owner, ch.ID, "Next inspection on Monday")

		reader.Reopen()
		if err := reader.SyncChannels(ctx); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the genuine post", func() bool {
			held, _ := reader.ChannelPosts(ctx, ch.ID, 10)
			return len(held) == 2
		})
		held, err := reader.ChannelPosts(ctx, ch.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if held[0].Text != "Tap water is safe to drink" || held[0].Version != 1 || held[1].Text != "Next inspection on Monday" {
			t.Fatalf("the follower holds %q v%d and %q", held[0].Text, held[0].Version, held[1].Text)
		}
		for _, id := range [][]byte{p.ID, forgedID} {
			w := WaitEvent(t, reader, func(e client.ChannelWarningEvent) bool { return bytes.Equal(e.PostID, id) })
			if w.Err == nil {
				t.Fatal("a warning without its reason")
			}
		}
		NoEvent(t, reader, 100*time.Millisecond, func(e client.ChannelPostEvent) bool {
			return bytes.Contains([]byte(e.Post.Text), []byte("foul")) || bytes.Equal(e.Post.ID, forgedID)
		})
		if un, _ := reader.UnshownChannelPosts(ctx); len(un) != 1 || un[0].Text != "Next inspection on Monday" {
			t.Fatalf("unshown after the forgeries: %+v", un)
		}
	})
}

func mustMarshal(t *testing.T, m gproto.Message) []byte {
	t.Helper()
	b, err := gproto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
