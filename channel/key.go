package channel

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/parleyhq/parley/proto"
)

// PrivateKey is a channel's Ed25519 private key. It does not print (every
// fmt verb shows "channel.PrivateKey(redacted)") and is not comparable, so
// it cannot leak into a log line or be compared in variable time by
// accident. The zero value is no key.
type PrivateKey struct {
	k ed25519.PrivateKey
}

// GenerateKey makes a new channel key from r (crypto/rand.Reader).
func GenerateKey(r io.Reader) (PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(r)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("channel: generate key: %w", err)
	}
	return PrivateKey{k: k}, nil
}

// NewPrivateKey rebuilds a key from its 32-byte seed (ChannelKey.private_key).
func NewPrivateKey(seed []byte) (PrivateKey, error) {
	if len(seed) != ed25519.SeedSize {
		return PrivateKey{}, proto.Errorf(proto.Code_BAD_REQUEST, "a channel key seed is %d bytes, not %d", ed25519.SeedSize, len(seed))
	}
	return PrivateKey{k: ed25519.NewKeyFromSeed(seed)}, nil
}

// IsZero reports whether k holds no key.
func (k PrivateKey) IsZero() bool { return len(k.k) == 0 }

// Public returns the public half.
func (k PrivateKey) Public() ed25519.PublicKey { return k.k.Public().(ed25519.PublicKey) }

// Seed returns the 32-byte seed, for custody (encrypted at rest) and for
// ChannelKey messages to the admins' devices.
func (k PrivateKey) Seed() []byte { return k.k.Seed() }

func (k PrivateKey) sign(msg []byte) []byte { return ed25519.Sign(k.k, msg) }

// String, GoString and Format keep the key out of logs.
func (PrivateKey) String() string                { return "channel.PrivateKey(redacted)" }
func (PrivateKey) GoString() string              { return "channel.PrivateKey(redacted)" }
func (PrivateKey) Format(f fmt.State, verb rune) { io.WriteString(f, "channel.PrivateKey(redacted)") }

// Signature contexts: each kind of object the channel key signs has its own
// prefix, so a signature over one can never be replayed as another.
const (
	keyContext  = "parley-channel-key-v1\x00"
	infoContext = "parley-channel-info-v1\x00"
	postContext = "parley-channel-post-v1\x00"
)

// KeyMessage is what the key of chain entry index-1 signs to introduce the
// key of entry index: context, channel id, index and the new public key.
func KeyMessage(channelID string, index uint32, pub []byte) []byte {
	m := make([]byte, 0, len(keyContext)+1+len(channelID)+4+len(pub))
	m = append(m, keyContext...)
	m = append(m, byte(len(channelID)))
	m = append(m, channelID...)
	m = binary.BigEndian.AppendUint32(m, index)
	return append(m, pub...)
}

// FirstKeyEntry is entry 0 of a new channel's chain; the channel's id is
// ID(k.Public()).
func FirstKeyEntry(k PrivateKey) *proto.ChannelKeyEntry {
	return &proto.ChannelKeyEntry{Index: 0, PublicKey: k.Public()}
}

// NextKeyEntry is the chain entry that follows the one holding prev:
// next's public key signed by prev. index is prev's index + 1.
func NextKeyEntry(prev PrivateKey, channelID string, index uint32, next ed25519.PublicKey) *proto.ChannelKeyEntry {
	return &proto.ChannelKeyEntry{
		Index:     index,
		PublicKey: next,
		Signature: prev.sign(KeyMessage(channelID, index, next)),
	}
}

// Keys is a verified key chain: Keys[i] is the public key of entry i.
type Keys []ed25519.PublicKey

// Current is the newest key's index. Keys must not be empty.
func (ks Keys) Current() uint32 { return uint32(len(ks) - 1) }

// key returns the key of index, or a coded error if there is none.
func (ks Keys) key(index uint32) (ed25519.PublicKey, error) {
	if int64(index) >= int64(len(ks)) {
		return nil, proto.Errorf(proto.Code_BAD_SIGNATURE, "signed with channel key %d, but the chain has %d keys; fetch the channel again", index, len(ks))
	}
	return ks[index], nil
}

// VerifyChain checks a whole key chain: entry 0's key gives the channel id,
// every later entry is signed by its predecessor, indexes run 0, 1, 2...
func VerifyChain(channelID string, chain []*proto.ChannelKeyEntry) (Keys, error) {
	if len(chain) == 0 {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the channel's key chain is empty")
	}
	if len(chain) > proto.MaxChannelKeys {
		return nil, proto.Errorf(proto.Code_TOO_LARGE, "the key chain has %d keys; the limit is %d", len(chain), proto.MaxChannelKeys)
	}
	first := chain[0]
	if first.GetIndex() != 0 || len(first.GetPublicKey()) != ed25519.PublicKeySize {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the first key-chain entry must have index 0 and a 32-byte key")
	}
	if len(first.GetSignature()) != 0 {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "the first key-chain entry carries no signature")
	}
	if ID(first.PublicKey) != channelID {
		return nil, proto.Errorf(proto.Code_BAD_SIGNATURE, "the first key does not belong to channel %s", channelID)
	}
	keys := Keys{ed25519.PublicKey(first.PublicKey)}
	for _, e := range chain[1:] {
		if err := VerifyNext(channelID, keys, e); err != nil {
			return nil, err
		}
		keys = append(keys, ed25519.PublicKey(e.PublicKey))
	}
	return keys, nil
}

// VerifyNext checks that e can follow the verified chain keys.
func VerifyNext(channelID string, keys Keys, e *proto.ChannelKeyEntry) error {
	if e == nil {
		return proto.Errorf(proto.Code_BAD_REQUEST, "the new key-chain entry is missing")
	}
	if len(keys) >= proto.MaxChannelKeys {
		return proto.Errorf(proto.Code_LIMIT_REACHED, "the channel already has %d keys, the limit", proto.MaxChannelKeys)
	}
	if int64(e.Index) != int64(len(keys)) {
		return proto.Errorf(proto.Code_CONFLICT, "key-chain entry %d cannot follow entry %d; fetch the channel and retry", e.Index, len(keys)-1)
	}
	if len(e.PublicKey) != ed25519.PublicKeySize {
		return proto.Errorf(proto.Code_BAD_REQUEST, "a channel key is %d bytes", ed25519.PublicKeySize)
	}
	prev := keys[len(keys)-1]
	if !ed25519.Verify(prev, KeyMessage(channelID, e.Index, e.PublicKey), e.Signature) {
		return proto.Errorf(proto.Code_BAD_SIGNATURE, "key-chain entry %d is not signed by key %d", e.Index, len(keys)-1)
	}
	for _, k := range keys {
		if k.Equal(ed25519.PublicKey(e.PublicKey)) {
			return proto.Errorf(proto.Code_BAD_REQUEST, "a rotated channel key must be new")
		}
	}
	return nil
}
