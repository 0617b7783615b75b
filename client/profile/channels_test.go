package profile

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestChannelPostsExactlyOnce(t *testing.T) {
	p, _ := openTemp(t)
	ctx := context.Background()
	now := time.UnixMilli(1_700_000_000_000)
	if err := p.Update(ctx, func(tx *Tx) error {
		return tx.SaveChannel(ChannelRecord{ChannelID: "caaaaaaaaaaaaaaaa", Channel: []byte{1}, Role: 1, Updated: now})
	}); err != nil {
		t.Fatal(err)
	}
	put := func(post ChannelPost) PostChange {
		t.Helper()
		var what PostChange
		if err := p.Update(ctx, func(tx *Tx) (err error) {
			what, err = tx.PutChannelPost(post)
			if err == nil {
				err = tx.SetChannelCursor(post.ChannelID, post.Seq)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return what
	}
	base := ChannelPost{ChannelID: "caaaaaaaaaaaaaaaa", PostID: []byte("0123456789abcdef"), Seq: 1, Version: 1,
		Signed: []byte("v1"), Published: now, Expires: now.Add(time.Hour), Received: now}
	for i, tc := range []struct {
		edit func(*ChannelPost)
		want PostChange
	}{
		{func(*ChannelPost) {}, PostNew},
		{func(*ChannelPost) {}, PostUnchanged}, // replay
		{func(c *ChannelPost) { c.Seq, c.Version, c.Signed, c.Edited = 2, 2, []byte("v2"), true }, PostUpdated},
		{func(c *ChannelPost) { c.Seq = 3 }, PostUnchanged},                               // an older version
		{func(c *ChannelPost) { c.Seq, c.Deleted, c.Signed = 4, true, nil }, PostUpdated}, // deleted
		{func(c *ChannelPost) { c.Seq, c.Version = 5, 3 }, PostUnchanged},                 // never resurrected
	} {
		post := base
		tc.edit(&post)
		if got := put(post); got != tc.want {
			t.Fatalf("step %d: got %v, want %v", i, got, tc.want)
		}
	}
	rec, err := p.Channel(ctx, "caaaaaaaaaaaaaaaa")
	if err != nil || rec.Cursor != 5 {
		t.Fatalf("cursor %d, %v; want 5", rec.Cursor, err)
	}
	if live, _ := p.ChannelPosts(ctx, base.ChannelID, now, 10); len(live) != 0 {
		t.Fatalf("a deleted post is listed: %+v", live)
	}

	// Expiry: a post past its expiry is gone from every listing.
	other := base
	other.PostID = []byte("fedcba9876543210")
	put(other)
	if un, _ := p.UnshownChannelPosts(ctx, now, 10); len(un) != 1 {
		t.Fatalf("unshown: %d posts, want 1", len(un))
	}
	later := now.Add(2 * time.Hour)
	if un, _ := p.UnshownChannelPosts(ctx, later, 10); len(un) != 0 {
		t.Fatalf("an expired post is unshown: %+v", un)
	}
	if err := p.ExpireChannelPosts(ctx, later); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ChannelPostByID(ctx, base.ChannelID, other.PostID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired post still stored: %v", err)
	}
}

func TestChannelKeysAndAdmins(t *testing.T) {
	p, _ := openTemp(t)
	ctx := context.Background()
	now := time.Now()
	id := "cbbbbbbbbbbbbbbbb"
	if err := p.Update(ctx, func(tx *Tx) error {
		if err := tx.SaveChannel(ChannelRecord{ChannelID: id, Channel: []byte{1}, Role: 3, Updated: now}); err != nil {
			return err
		}
		for i := range 2 {
			if err := tx.PutChannelKey(ChannelKey{ChannelID: id, Index: uint32(i), Seed: make([]byte, 32), Added: now}); err != nil {
				return err
			}
		}
		return tx.SetChannelAdmins(id, []string{"aone", "atwo"})
	}); err != nil {
		t.Fatal(err)
	}
	keys, err := p.ChannelKeys(ctx, id)
	if err != nil || len(keys) != 2 || keys[1].Index != 1 {
		t.Fatalf("keys %+v, %v", keys, err)
	}
	rec, err := p.Channel(ctx, id)
	if err != nil || len(rec.Admins) != 2 || rec.Admins[1] != "atwo" {
		t.Fatalf("record %+v, %v", rec, err)
	}
	if err := p.Update(ctx, func(tx *Tx) error { return tx.DeleteChannel(id) }); err != nil {
		t.Fatal(err)
	}
	if keys, _ := p.ChannelKeys(ctx, id); len(keys) != 0 {
		t.Fatal("keys survive deleting the channel")
	}
}
