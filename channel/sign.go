package channel

import (
	"crypto/ed25519"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
)

// signedMessage binds a signature to its kind (context) and channel, so a
// post of one channel cannot be presented as a post of another even if the
// body's own channel_id were ignored by a careless reader.
func signedMessage(context, channelID string, body []byte) []byte {
	m := make([]byte, 0, len(context)+1+len(channelID)+len(body))
	m = append(m, context...)
	m = append(m, byte(len(channelID)))
	m = append(m, channelID...)
	return append(m, body...)
}

// PostMessage is what the channel key signs for a post version: context,
// channel id, and the serialized Post exactly as carried in SignedPost.post.
func PostMessage(channelID string, post []byte) []byte {
	return signedMessage(postContext, channelID, post)
}

// InfoMessage is what the channel key signs for a version of the channel's
// info: context, channel id and the serialized ChannelInfo.
func InfoMessage(channelID string, info []byte) []byte {
	return signedMessage(infoContext, channelID, info)
}

var deterministic = gproto.MarshalOptions{Deterministic: true}

// SignPost validates p and signs it with k, the key of chain entry
// keyIndex.
func SignPost(k PrivateKey, keyIndex uint32, p *proto.Post) (*proto.SignedPost, error) {
	if err := ValidatePost(p); err != nil {
		return nil, err
	}
	b, err := deterministic.Marshal(p)
	if err != nil {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "encode post: %v", err)
	}
	if len(b) > proto.MaxSignedPostBytes {
		return nil, proto.Errorf(proto.Code_TOO_LARGE, "the post is %d bytes encoded; the limit is %d", len(b), proto.MaxSignedPostBytes)
	}
	return &proto.SignedPost{Post: b, KeyIndex: keyIndex, Signature: k.sign(PostMessage(p.ChannelId, b))}, nil
}

// OpenPost verifies a signed post of channelID against the verified key
// chain and returns the post. It checks, in order: size, signature (by the
// key the post names), decoding, that the post belongs to channelID, and
// ValidatePost. A post that fails is BAD_SIGNATURE (not the channel's) or
// BAD_REQUEST / TOO_LARGE (the channel signed something invalid).
func OpenPost(keys Keys, channelID string, sp *proto.SignedPost) (*proto.Post, error) {
	if sp == nil || len(sp.Post) == 0 {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the post is empty")
	}
	if len(sp.Post) > proto.MaxSignedPostBytes {
		return nil, proto.Errorf(proto.Code_TOO_LARGE, "the post is %d bytes encoded; the limit is %d", len(sp.Post), proto.MaxSignedPostBytes)
	}
	pub, err := keys.key(sp.KeyIndex)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(pub, PostMessage(channelID, sp.Post), sp.Signature) {
		return nil, proto.Errorf(proto.Code_BAD_SIGNATURE, "the post's signature does not verify with channel key %d", sp.KeyIndex)
	}
	p := &proto.Post{}
	if err := gproto.Unmarshal(sp.Post, p); err != nil {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the post does not decode: %v", err)
	}
	if p.ChannelId != channelID {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the post belongs to channel %q, not %s", p.ChannelId, channelID)
	}
	if err := ValidatePost(p); err != nil {
		return nil, err
	}
	return p, nil
}

// SignInfo validates info and signs it with k, the key of chain entry
// keyIndex.
func SignInfo(k PrivateKey, keyIndex uint32, info *proto.ChannelInfo) (*proto.SignedChannelInfo, error) {
	if err := ValidateInfo(info); err != nil {
		return nil, err
	}
	b, err := deterministic.Marshal(info)
	if err != nil {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "encode channel info: %v", err)
	}
	if len(b) > proto.MaxChannelInfoBytes {
		return nil, proto.Errorf(proto.Code_TOO_LARGE, "the channel info is %d bytes encoded; the limit is %d", len(b), proto.MaxChannelInfoBytes)
	}
	return &proto.SignedChannelInfo{Info: b, KeyIndex: keyIndex, Signature: k.sign(InfoMessage(info.ChannelId, b))}, nil
}

// OpenInfo verifies signed channel info as OpenPost verifies a post.
func OpenInfo(keys Keys, channelID string, si *proto.SignedChannelInfo) (*proto.ChannelInfo, error) {
	if si == nil || len(si.Info) == 0 {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the channel info is empty")
	}
	if len(si.Info) > proto.MaxChannelInfoBytes {
		return nil, proto.Errorf(proto.Code_TOO_LARGE, "the channel info is %d bytes encoded; the limit is %d", len(si.Info), proto.MaxChannelInfoBytes)
	}
	pub, err := keys.key(si.KeyIndex)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(pub, InfoMessage(channelID, si.Info), si.Signature) {
		return nil, proto.Errorf(proto.Code_BAD_SIGNATURE, "the channel info's signature does not verify with channel key %d", si.KeyIndex)
	}
	info := &proto.ChannelInfo{}
	if err := gproto.Unmarshal(si.Info, info); err != nil {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the channel info does not decode: %v", err)
	}
	if info.ChannelId != channelID {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the info belongs to channel %q, not %s", info.ChannelId, channelID)
	}
	if err := ValidateInfo(info); err != nil {
		return nil, err
	}
	return info, nil
}

// OpenChannel verifies everything a Channel message carries: the key
// chain against the id, then the info against the chain.
func OpenChannel(c *proto.Channel) (Keys, *proto.ChannelInfo, error) {
	if c == nil {
		return nil, nil, proto.Errorf(proto.Code_BAD_REQUEST, "no channel")
	}
	keys, err := VerifyChain(c.ChannelId, c.Keys)
	if err != nil {
		return nil, nil, err
	}
	info, err := OpenInfo(keys, c.ChannelId, c.Info)
	if err != nil {
		return nil, nil, err
	}
	return keys, info, nil
}

// OpenForward verifies a post forwarded into a chat against the channel's
// verified key chain (fetched with ChannelGet and checked with
// VerifyChain or OpenChannel).
func OpenForward(keys Keys, f *proto.ForwardedPost) (*proto.Post, error) {
	if f == nil {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "no forwarded post")
	}
	return OpenPost(keys, f.ChannelId, f.Post)
}
