package channel

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
)

// seededKey is a deterministic channel key for tests.
func seededKey(t testing.TB, b byte) PrivateKey {
	t.Helper()
	k, err := NewPrivateKey(bytes.Repeat([]byte{b}, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func code(err error) proto.Code {
	var pe *proto.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	if err == nil {
		return proto.Code_OK
	}
	return -1
}

func textPost(id string) *proto.Post {
	return &proto.Post{ChannelId: id, PostId: bytes.Repeat([]byte{7}, 16), Version: 1, Text: "Road closed on Main St, see https://example.org"}
}

func TestIDAndChain(t *testing.T) {
	k0, k1, k2 := seededKey(t, 1), seededKey(t, 2), seededKey(t, 3)
	id := ID(k0.Public())
	if !ValidID(id) || len(id) != 17 || id[0] != 'c' {
		t.Fatalf("ID = %q", id)
	}
	if ID(k1.Public()) == id {
		t.Fatal("two keys, one id")
	}
	chain := []*proto.ChannelKeyEntry{
		FirstKeyEntry(k0),
		NextKeyEntry(k0, id, 1, k1.Public()),
		NextKeyEntry(k1, id, 2, k2.Public()),
	}
	keys, err := VerifyChain(id, chain)
	if err != nil {
		t.Fatal(err)
	}
	if keys.Current() != 2 || !keys[2].Equal(k2.Public()) {
		t.Fatalf("keys = %v", keys)
	}

	bad := func(mut func(c []*proto.ChannelKeyEntry) []*proto.ChannelKeyEntry) []*proto.ChannelKeyEntry {
		c := make([]*proto.ChannelKeyEntry, len(chain))
		for i, e := range chain {
			c[i] = gproto.Clone(e).(*proto.ChannelKeyEntry)
		}
		return mut(c)
	}
	tests := []struct {
		name  string
		id    string
		chain []*proto.ChannelKeyEntry
		want  proto.Code
	}{
		{"empty", id, nil, proto.Code_BAD_REQUEST},
		{"other channel", ID(k1.Public()), chain, proto.Code_BAD_SIGNATURE},
		{"first signed", id, bad(func(c []*proto.ChannelKeyEntry) []*proto.ChannelKeyEntry { c[0].Signature = []byte{1}; return c }), proto.Code_BAD_REQUEST},
		{"first index", id, bad(func(c []*proto.ChannelKeyEntry) []*proto.ChannelKeyEntry { c[0].Index = 1; return c }), proto.Code_BAD_REQUEST},
		{"gap", id, bad(func(c []*proto.ChannelKeyEntry) []*proto.ChannelKeyEntry { return []*proto.ChannelKeyEntry{c[0], c[2]} }), proto.Code_CONFLICT},
		{"signed by wrong key", id, bad(func(c []*proto.ChannelKeyEntry) []*proto.ChannelKeyEntry {
			c[2] = NextKeyEntry(k2, id, 2, k2.Public())
			return c
		}), proto.Code_BAD_SIGNATURE},
		{"key reused", id, bad(func(c []*proto.ChannelKeyEntry) []*proto.ChannelKeyEntry {
			c[2] = NextKeyEntry(k1, id, 2, k0.Public())
			return c
		}), proto.Code_BAD_REQUEST},
		{"short key", id, bad(func(c []*proto.ChannelKeyEntry) []*proto.ChannelKeyEntry {
			c[1].PublicKey = c[1].PublicKey[:31]
			return c
		}), proto.Code_BAD_REQUEST},
		{"signature for another channel", id, bad(func(c []*proto.ChannelKeyEntry) []*proto.ChannelKeyEntry {
			c[1] = NextKeyEntry(k0, ID(k2.Public()), 1, k1.Public())
			return c
		}), proto.Code_BAD_SIGNATURE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := VerifyChain(tt.id, tt.chain); code(err) != tt.want {
				t.Fatalf("VerifyChain: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPrivateKeyDoesNotPrint(t *testing.T) {
	k := seededKey(t, 9)
	hexSeed := fmt.Sprintf("%x", k.Seed())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%q"} {
		out := fmt.Sprintf(verb, k)
		if strings.Contains(out, hexSeed) || !strings.Contains(out, "redacted") {
			t.Errorf("%s printed %q", verb, out)
		}
	}
	if _, err := NewPrivateKey([]byte{1, 2}); code(err) != proto.Code_BAD_REQUEST {
		t.Fatalf("short seed: %v", err)
	}
}

func TestSignOpenPost(t *testing.T) {
	k0, k1 := seededKey(t, 1), seededKey(t, 2)
	id := ID(k0.Public())
	keys := Keys{k0.Public(), k1.Public()}

	sp, err := SignPost(k1, 1, textPost(id))
	if err != nil {
		t.Fatal(err)
	}
	p, err := OpenPost(keys, id, sp)
	if err != nil {
		t.Fatal(err)
	}
	if p.Text != textPost(id).Text {
		t.Fatalf("text = %q", p.Text)
	}

	tamper := func(f func(sp *proto.SignedPost)) *proto.SignedPost {
		c := gproto.Clone(sp).(*proto.SignedPost)
		f(c)
		return c
	}
	other := ID(k1.Public())
	otherPost, _ := SignPost(k1, 1, textPost(other))
	tests := []struct {
		name string
		id   string
		sp   *proto.SignedPost
		want proto.Code
	}{
		{"ok", id, sp, proto.Code_OK},
		{"nil", id, nil, proto.Code_BAD_REQUEST},
		{"flipped byte", id, tamper(func(sp *proto.SignedPost) { sp.Post[len(sp.Post)-1] ^= 1 }), proto.Code_BAD_SIGNATURE},
		{"wrong key index", id, tamper(func(sp *proto.SignedPost) { sp.KeyIndex = 0 }), proto.Code_BAD_SIGNATURE},
		{"unknown key index", id, tamper(func(sp *proto.SignedPost) { sp.KeyIndex = 7 }), proto.Code_BAD_SIGNATURE},
		{"no signature", id, tamper(func(sp *proto.SignedPost) { sp.Signature = nil }), proto.Code_BAD_SIGNATURE},
		{"other channel's post presented here", id, otherPost, proto.Code_BAD_SIGNATURE},
		{"too large", id, tamper(func(sp *proto.SignedPost) { sp.Post = make([]byte, proto.MaxSignedPostBytes+1) }), proto.Code_TOO_LARGE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := OpenPost(keys, tt.id, tt.sp); code(err) != tt.want {
				t.Fatalf("OpenPost: %v, want %v", err, tt.want)
			}
		})
	}

	// A signature made over a post that names another channel, with this
	// channel's key, is caught by the channel check after the signature.
	wrong := textPost(other)
	b, _ := gproto.Marshal(wrong)
	sp2 := &proto.SignedPost{Post: b, KeyIndex: 1, Signature: k1.sign(PostMessage(id, b))}
	if _, err := OpenPost(keys, id, sp2); code(err) != proto.Code_BAD_REQUEST {
		t.Fatalf("post naming another channel: %v", err)
	}
}

func TestValidatePost(t *testing.T) {
	id := ID(seededKey(t, 1).Public())
	hash := strings.Repeat("ab", 32)
	opts := func(n int) []string {
		o := make([]string, n)
		for i := range o {
			o[i] = fmt.Sprintf("option %d", i)
		}
		return o
	}
	tests := []struct {
		name string
		mut  func(p *proto.Post)
		want proto.Code
	}{
		{"text", func(p *proto.Post) {}, proto.Code_OK},
		{"empty", func(p *proto.Post) { p.Text = "" }, proto.Code_BAD_REQUEST},
		{"short id", func(p *proto.Post) { p.PostId = p.PostId[:15] }, proto.Code_BAD_REQUEST},
		{"version 0", func(p *proto.Post) { p.Version = 0 }, proto.Code_BAD_REQUEST},
		{"bad channel", func(p *proto.Post) { p.ChannelId = "x" }, proto.Code_BAD_REQUEST},
		{"long text", func(p *proto.Post) { p.Text = strings.Repeat("a", proto.MaxPostTextBytes+1) }, proto.Code_TOO_LARGE},
		{"bad utf8", func(p *proto.Post) { p.Text = "\xff" }, proto.Code_BAD_REQUEST},
		{"control char", func(p *proto.Post) { p.Text = "a\x00b" }, proto.Code_BAD_REQUEST},
		{"negative time", func(p *proto.Post) { p.PublishAtMs = -1 }, proto.Code_BAD_REQUEST},
		{"image", func(p *proto.Post) {
			p.Media = []*proto.Media{{Hash: hash, Mime: "image/png", Size: 10, Thumbnail: hash}}
		}, proto.Code_OK},
		{"video", func(p *proto.Post) { p.Text = ""; p.Media = []*proto.Media{{Hash: hash, Mime: "video/mp4", Size: 10}} }, proto.Code_OK},
		{"media type", func(p *proto.Post) { p.Media = []*proto.Media{{Hash: hash, Mime: "text/html", Size: 10}} }, proto.Code_UNSUPPORTED_MEDIA},
		{"media hash", func(p *proto.Post) { p.Media = []*proto.Media{{Hash: "AB", Mime: "image/png", Size: 10}} }, proto.Code_BAD_REQUEST},
		{"media size", func(p *proto.Post) {
			p.Media = []*proto.Media{{Hash: hash, Mime: "image/png", Size: proto.MaxMediaBytes + 1}}
		}, proto.Code_TOO_LARGE},
		{"too many media", func(p *proto.Post) {
			for range proto.MaxPostMedia + 1 {
				p.Media = append(p.Media, &proto.Media{Hash: hash, Mime: "image/png", Size: 1})
			}
		}, proto.Code_TOO_LARGE},
		{"sticker", func(p *proto.Post) { p.Text = ""; p.Sticker = &proto.Sticker{Hash: hash, Emoji: "🎉"} }, proto.Code_OK},
		{"sticker no hash", func(p *proto.Post) { p.Sticker = &proto.Sticker{} }, proto.Code_BAD_REQUEST},
		{"poll 2", func(p *proto.Post) { p.Poll = &proto.Poll{Question: "Q?", Options: opts(2)} }, proto.Code_OK},
		{"poll 12", func(p *proto.Post) { p.Poll = &proto.Poll{Question: "Q?", Options: opts(12), Multiple: true} }, proto.Code_OK},
		{"poll 13", func(p *proto.Post) { p.Poll = &proto.Poll{Question: "Q?", Options: opts(13)} }, proto.Code_TOO_LARGE},
		{"poll 1", func(p *proto.Post) { p.Poll = &proto.Poll{Question: "Q?", Options: opts(1)} }, proto.Code_BAD_REQUEST},
		{"poll no question", func(p *proto.Post) { p.Poll = &proto.Poll{Options: opts(2)} }, proto.Code_BAD_REQUEST},
		{"poll duplicate", func(p *proto.Post) { p.Poll = &proto.Poll{Question: "Q", Options: []string{"a", "a"}} }, proto.Code_BAD_REQUEST},
		{"poll empty option", func(p *proto.Post) { p.Poll = &proto.Poll{Question: "Q", Options: []string{"a", " "}} }, proto.Code_BAD_REQUEST},
		{"poll long option", func(p *proto.Post) {
			p.Poll = &proto.Poll{Question: "Q", Options: []string{"a", strings.Repeat("b", proto.MaxPollOptionBytes+1)}}
		}, proto.Code_TOO_LARGE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := textPost(id)
			tt.mut(p)
			if err := ValidatePost(p); code(err) != tt.want {
				t.Fatalf("ValidatePost: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestValidateEdit(t *testing.T) {
	id := ID(seededKey(t, 1).Public())
	prev := textPost(id)
	prev.Poll = &proto.Poll{Question: "Q", Options: []string{"a", "b"}}
	tests := []struct {
		name string
		mut  func(p *proto.Post)
		want proto.Code
	}{
		{"next version", func(p *proto.Post) { p.Text = "fixed" }, proto.Code_OK},
		{"same version", func(p *proto.Post) { p.Version = 1 }, proto.Code_CONFLICT},
		{"skipped version", func(p *proto.Post) { p.Version = 3 }, proto.Code_CONFLICT},
		{"other post", func(p *proto.Post) { p.PostId = bytes.Repeat([]byte{8}, 16) }, proto.Code_BAD_REQUEST},
		{"poll changed", func(p *proto.Post) { p.Poll.Options[1] = "c" }, proto.Code_BAD_REQUEST},
		{"poll removed", func(p *proto.Post) { p.Poll = nil }, proto.Code_BAD_REQUEST},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := gproto.Clone(prev).(*proto.Post)
			next.Version = 2
			tt.mut(next)
			if err := ValidateEdit(prev, next); code(err) != tt.want {
				t.Fatalf("ValidateEdit: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckVoteAndReaction(t *testing.T) {
	single := &proto.Poll{Question: "Q", Options: []string{"a", "b", "c"}}
	multi := &proto.Poll{Question: "Q", Options: []string{"a", "b", "c"}, Multiple: true}
	votes := []struct {
		name string
		poll *proto.Poll
		opts []uint32
		want proto.Code
	}{
		{"one", single, []uint32{2}, proto.Code_OK},
		{"withdraw", single, nil, proto.Code_OK},
		{"two on single", single, []uint32{0, 1}, proto.Code_BAD_REQUEST},
		{"two on multiple", multi, []uint32{0, 2}, proto.Code_OK},
		{"no such option", single, []uint32{3}, proto.Code_BAD_REQUEST},
		{"huge option", multi, []uint32{1 << 31}, proto.Code_BAD_REQUEST},
		{"twice", multi, []uint32{1, 1}, proto.Code_BAD_REQUEST},
		{"not a poll", nil, []uint32{0}, proto.Code_BAD_REQUEST},
	}
	for _, tt := range votes {
		if err := CheckVote(tt.poll, tt.opts); code(err) != tt.want {
			t.Errorf("vote %s: %v, want %v", tt.name, err, tt.want)
		}
	}
	allowed := []string{"👍", "❤️"}
	for _, tt := range []struct {
		allowed []string
		emoji   string
		want    proto.Code
	}{
		{allowed, "👍", proto.Code_OK},
		{allowed, "", proto.Code_OK},
		{allowed, "💩", proto.Code_BAD_REQUEST},
		{nil, "👍", proto.Code_BAD_REQUEST},
	} {
		if err := CheckReaction(tt.allowed, tt.emoji); code(err) != tt.want {
			t.Errorf("reaction %q: %v, want %v", tt.emoji, err, tt.want)
		}
	}
	for e, want := range map[string]bool{"👍": true, "❤️": true, "👨‍👩‍👧": true, "ok": false, "": false, "👍 👍": false, strings.Repeat("👍", 9): false} {
		if ValidEmoji(e) != want {
			t.Errorf("ValidEmoji(%q) = %v", e, !want)
		}
	}
}

func validInfo(id string) *proto.ChannelInfo {
	return &proto.ChannelInfo{
		ChannelId: id, Version: 1, Name: "City of Lyon", Description: "Traffic and weather alerts",
		Category: "government", Country: "FR", Listed: true, Reactions: DefaultReactions,
	}
}

func TestInfo(t *testing.T) {
	k0 := seededKey(t, 1)
	id := ID(k0.Public())
	keys := Keys{k0.Public()}
	si, err := SignInfo(k0, 0, validInfo(id))
	if err != nil {
		t.Fatal(err)
	}
	c := &proto.Channel{ChannelId: id, Keys: []*proto.ChannelKeyEntry{FirstKeyEntry(k0)}, Info: si}
	if _, info, err := OpenChannel(c); err != nil || info.Name != "City of Lyon" {
		t.Fatalf("OpenChannel: %v %v", info, err)
	}
	bad := gproto.Clone(si).(*proto.SignedChannelInfo)
	bad.Info[3] ^= 1
	if _, err := OpenInfo(keys, id, bad); code(err) != proto.Code_BAD_SIGNATURE {
		t.Fatalf("tampered info: %v", err)
	}

	tests := []struct {
		name string
		mut  func(i *proto.ChannelInfo)
		want proto.Code
	}{
		{"ok", func(i *proto.ChannelInfo) {}, proto.Code_OK},
		{"no name", func(i *proto.ChannelInfo) { i.Name = " " }, proto.Code_BAD_REQUEST},
		{"two-line name", func(i *proto.ChannelInfo) { i.Name = "a\nb" }, proto.Code_BAD_REQUEST},
		{"long name", func(i *proto.ChannelInfo) { i.Name = strings.Repeat("n", proto.MaxChannelNameBytes+1) }, proto.Code_TOO_LARGE},
		{"long description", func(i *proto.ChannelInfo) {
			i.Description = strings.Repeat("d", proto.MaxChannelDescriptionBytes+1)
		}, proto.Code_TOO_LARGE},
		{"category", func(i *proto.ChannelInfo) { i.Category = "gossip" }, proto.Code_BAD_REQUEST},
		{"country", func(i *proto.ChannelInfo) { i.Country = "fr" }, proto.Code_BAD_REQUEST},
		{"no country", func(i *proto.ChannelInfo) { i.Country = "" }, proto.Code_OK},
		{"icon", func(i *proto.ChannelInfo) { i.Icon = "x" }, proto.Code_BAD_REQUEST},
		{"reaction", func(i *proto.ChannelInfo) { i.Reactions = []string{"ok"} }, proto.Code_BAD_REQUEST},
		{"reaction twice", func(i *proto.ChannelInfo) { i.Reactions = []string{"👍", "👍"} }, proto.Code_BAD_REQUEST},
		{"17 reactions", func(i *proto.ChannelInfo) {
			i.Reactions = nil
			for r := range proto.MaxChannelReactions + 1 {
				i.Reactions = append(i.Reactions, string(rune(0x1F600+r)))
			}
		}, proto.Code_TOO_LARGE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := validInfo(id)
			tt.mut(i)
			if err := ValidateInfo(i); code(err) != tt.want {
				t.Fatalf("ValidateInfo: %v, want %v", err, tt.want)
			}
		})
	}

	prev := validInfo(id)
	for _, tt := range []struct {
		name string
		mut  func(i *proto.ChannelInfo)
		role proto.ChannelRole
		want proto.Code
	}{
		{"admin renames", func(i *proto.ChannelInfo) { i.Name = "Lyon" }, proto.ChannelRole_CHANNEL_ROLE_ADMIN, proto.Code_OK},
		{"admin unlists", func(i *proto.ChannelInfo) { i.Listed = false }, proto.ChannelRole_CHANNEL_ROLE_ADMIN, proto.Code_FORBIDDEN},
		{"owner unlists", func(i *proto.ChannelInfo) { i.Listed = false }, proto.ChannelRole_CHANNEL_ROLE_OWNER, proto.Code_OK},
		{"follower renames", func(i *proto.ChannelInfo) { i.Name = "x" }, proto.ChannelRole_CHANNEL_ROLE_FOLLOWER, proto.Code_FORBIDDEN},
		{"stale version", func(i *proto.ChannelInfo) { i.Version = 1 }, proto.ChannelRole_CHANNEL_ROLE_OWNER, proto.Code_CONFLICT},
	} {
		next := gproto.Clone(prev).(*proto.ChannelInfo)
		next.Version = 2
		tt.mut(next)
		if err := CheckInfoUpdate(prev, next, tt.role); code(err) != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestInviteLink(t *testing.T) {
	c := NewInviteCode([10]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	if !ValidInviteCode(c) {
		t.Fatalf("code %q", c)
	}
	for _, in := range []string{c, InviteLink(c), " " + InviteLink(c) + "\n", "https://example.org/c/" + c + "?x=1", strings.ToUpper(c)} {
		got, err := ParseInviteLink(in)
		if err != nil || got != c {
			t.Errorf("ParseInviteLink(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "parley://channel/", c[:15], c + "a", "https://x/" + c + "/", strings.Repeat("a", 600)} {
		if _, err := ParseInviteLink(in); code(err) != proto.Code_BAD_REQUEST {
			t.Errorf("ParseInviteLink(%q): %v", in, err)
		}
	}
}

func TestForward(t *testing.T) {
	k0 := seededKey(t, 1)
	id := ID(k0.Public())
	sp, _ := SignPost(k0, 0, textPost(id))
	f := &proto.ForwardedPost{ChannelId: id, Post: sp, ChannelName: "City"}
	if _, err := OpenForward(Keys{k0.Public()}, f); err != nil {
		t.Fatal(err)
	}
	// Someone who relabels the forward with another channel fails.
	other := seededKey(t, 2)
	f.ChannelId = ID(other.Public())
	if _, err := OpenForward(Keys{other.Public()}, f); code(err) != proto.Code_BAD_SIGNATURE {
		t.Fatalf("relabelled forward: %v", err)
	}
}
