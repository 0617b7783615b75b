package channel

import (
	"testing"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
)

// The decoders of this package take bytes from the network: a signed post
// or info (from the server, or from a forward in a chat), a key chain and
// an invite link. None may panic, and anything they accept must satisfy
// the validation rules.

func FuzzOpenPost(f *testing.F) {
	k := seededKey(f, 1)
	id := ID(k.Public())
	sp, _ := SignPost(k, 0, textPost(id))
	f.Add(sp.Post, sp.Signature, uint32(0))
	f.Add([]byte{}, []byte{}, uint32(5))
	f.Fuzz(func(t *testing.T, post, sig []byte, index uint32) {
		p, err := OpenPost(Keys{k.Public()}, id, &proto.SignedPost{Post: post, Signature: sig, KeyIndex: index})
		if err == nil {
			if ValidatePost(p) != nil || p.ChannelId != id {
				t.Fatal("accepted an invalid post")
			}
		}
		// Decoding alone must not panic either (what a client does with a
		// forward before it has the chain).
		_ = gproto.Unmarshal(post, &proto.Post{})
	})
}

func FuzzOpenInfo(f *testing.F) {
	k := seededKey(f, 1)
	id := ID(k.Public())
	si, _ := SignInfo(k, 0, validInfo(id))
	f.Add(si.Info, si.Signature)
	f.Fuzz(func(t *testing.T, info, sig []byte) {
		i, err := OpenInfo(Keys{k.Public()}, id, &proto.SignedChannelInfo{Info: info, Signature: sig})
		if err == nil && (ValidateInfo(i) != nil || i.ChannelId != id) {
			t.Fatal("accepted invalid info")
		}
	})
}

func FuzzVerifyChain(f *testing.F) {
	k0, k1 := seededKey(f, 1), seededKey(f, 2)
	id := ID(k0.Public())
	c := &proto.Channel{ChannelId: id, Keys: []*proto.ChannelKeyEntry{FirstKeyEntry(k0), NextKeyEntry(k0, id, 1, k1.Public())}}
	b, _ := gproto.Marshal(c)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var c proto.Channel
		if gproto.Unmarshal(b, &c) != nil {
			return
		}
		keys, err := VerifyChain(c.ChannelId, c.Keys)
		if err == nil && (len(keys) != len(c.Keys) || ID(keys[0]) != c.ChannelId) {
			t.Fatal("accepted a chain that does not match its channel")
		}
		_, _, _ = OpenChannel(&c)
	})
}

func FuzzParseInviteLink(f *testing.F) {
	f.Add(InviteLink("abcdefghijklmnop"))
	f.Add("https://example.org/c/abcdefghijklmnop?x#y")
	f.Fuzz(func(t *testing.T, s string) {
		code, err := ParseInviteLink(s)
		if err == nil && !ValidInviteCode(code) {
			t.Fatalf("accepted %q as code %q", s, code)
		}
	})
}
