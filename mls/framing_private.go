package mls

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
)

// MaxPadding bounds the zero padding a sender may add to one
// PrivateMessage, so a caller's mistake cannot produce huge messages.
const MaxPadding = 1 << 16

// PrivateMessage is an encrypted and signed message (RFC 9420 §6.3).
type PrivateMessage struct {
	GroupID             []byte
	Epoch               uint64
	ContentType         ContentType
	AuthenticatedData   []byte
	EncryptedSenderData []byte
	Ciphertext          []byte
}

// MarshalTLS encodes pm.
func (pm *PrivateMessage) MarshalTLS(w *codec.Writer) {
	w.Opaque(pm.GroupID)
	w.Uint64(pm.Epoch)
	w.Uint8(uint8(pm.ContentType))
	w.Opaque(pm.AuthenticatedData)
	w.Opaque(pm.EncryptedSenderData)
	w.Opaque(pm.Ciphertext)
}

// UnmarshalTLS decodes pm.
func (pm *PrivateMessage) UnmarshalTLS(r *codec.Reader) {
	*pm = PrivateMessage{}
	pm.GroupID = r.Opaque()
	pm.Epoch = r.Uint64()
	pm.ContentType = ContentType(r.Uint8())
	if r.Err() == nil && !pm.ContentType.valid() {
		r.Fail(fmt.Errorf("%w: content type %d", codec.ErrInvalidValue, pm.ContentType))
	}
	pm.AuthenticatedData = r.Opaque()
	pm.EncryptedSenderData = r.Opaque()
	pm.Ciphertext = r.Opaque()
}

// SenderData identifies the sender and ratchet generation of a
// PrivateMessage; it travels encrypted.
type SenderData struct {
	LeafIndex  uint32
	Generation uint32
	ReuseGuard [4]byte
}

// MarshalTLS encodes sd.
func (sd *SenderData) MarshalTLS(w *codec.Writer) {
	w.Uint32(sd.LeafIndex)
	w.Uint32(sd.Generation)
	w.Raw(sd.ReuseGuard[:])
}

// UnmarshalTLS decodes sd.
func (sd *SenderData) UnmarshalTLS(r *codec.Reader) {
	sd.LeafIndex = r.Uint32()
	sd.Generation = r.Uint32()
	copy(sd.ReuseGuard[:], r.Raw(4))
}

// senderDataAAD encodes SenderDataAAD.
func (pm *PrivateMessage) senderDataAAD() []byte {
	w := codec.NewWriter(16 + len(pm.GroupID))
	w.Opaque(pm.GroupID)
	w.Uint64(pm.Epoch)
	w.Uint8(uint8(pm.ContentType))
	return w.Bytes()
}

// contentAAD encodes PrivateContentAAD.
func (pm *PrivateMessage) contentAAD() []byte {
	w := codec.NewWriter(24 + len(pm.GroupID) + len(pm.AuthenticatedData))
	w.Opaque(pm.GroupID)
	w.Uint64(pm.Epoch)
	w.Uint8(uint8(pm.ContentType))
	w.Opaque(pm.AuthenticatedData)
	return w.Bytes()
}

// ratchetFor picks the secret-tree ratchet of a content type.
func ratchetFor(ct ContentType) schedule.RatchetType {
	if ct == ContentApplication {
		return schedule.Application
	}
	return schedule.Handshake
}

// applyGuard XORs the reuse guard into the first four nonce octets.
func applyGuard(nonce []byte, guard [4]byte) []byte {
	out := append([]byte(nil), nonce...)
	for i := range guard {
		out[i] ^= guard[i]
	}
	return out
}

// ProtectPrivate encrypts a signed AuthenticatedContent (with its
// confirmation tag, for a commit) from a member as a PrivateMessage, using
// the next generation of the sender's ratchet in secrets and padding the
// plaintext with padding zero octets.
func ProtectPrivate(s *suite.Suite, ac *AuthenticatedContent, secrets *schedule.SecretTree, senderDataSecret suite.Secret, padding int) (*PrivateMessage, error) {
	fc := &ac.Content
	if ac.WireFormat != WirePrivateMessage {
		return nil, fmt.Errorf("%w: content signed for %v, protected as private", ErrWireFormat, ac.WireFormat)
	}
	if fc.Sender.Type != SenderMember {
		return nil, fmt.Errorf("%w: only members send PrivateMessages", ErrWireFormat)
	}
	if padding < 0 || padding > MaxPadding {
		return nil, fmt.Errorf("mls: padding %d out of range", padding)
	}
	kn, err := secrets.Next(fc.Sender.Index, ratchetFor(fc.ContentType))
	if err != nil {
		return nil, fmt.Errorf("mls: protect private message: %w", err)
	}
	defer kn.Key.Wipe()
	sd := SenderData{LeafIndex: fc.Sender.Index, Generation: kn.Generation}
	rand.Read(sd.ReuseGuard[:])

	pm := &PrivateMessage{
		GroupID:           fc.GroupID,
		Epoch:             fc.Epoch,
		ContentType:       fc.ContentType,
		AuthenticatedData: fc.AuthenticatedData,
	}
	w := codec.NewWriter(len(fc.ApplicationData) + len(ac.Auth.Signature) + padding + 128)
	fc.marshalBody(w)
	ac.Auth.marshal(w, fc.ContentType)
	w.Raw(make([]byte, padding))
	pm.Ciphertext, err = s.Seal(kn.Key, applyGuard(kn.Nonce, sd.ReuseGuard), w.Bytes(), pm.contentAAD())
	if err != nil {
		return nil, err
	}
	key, nonce := schedule.SenderDataKeyNonce(s, senderDataSecret, pm.Ciphertext)
	defer key.Wipe()
	pm.EncryptedSenderData, err = s.Seal(key, nonce, codec.Marshal(&sd), pm.senderDataAAD())
	if err != nil {
		return nil, err
	}
	return pm, nil
}

// DecryptSenderData recovers the SenderData of pm. The caller must check
// that LeafIndex names a non-blank leaf before going further.
func (pm *PrivateMessage) DecryptSenderData(s *suite.Suite, senderDataSecret suite.Secret) (*SenderData, error) {
	key, nonce := schedule.SenderDataKeyNonce(s, senderDataSecret, pm.Ciphertext)
	defer key.Wipe()
	pt, err := s.Open(key, nonce, pm.EncryptedSenderData, pm.senderDataAAD())
	if err != nil {
		return nil, fmt.Errorf("%w: sender data", ErrDecryptionFailed)
	}
	var sd SenderData
	if err := codec.Unmarshal(pt, &sd); err != nil {
		return nil, fmt.Errorf("%w: sender data: %w", ErrMalformed, err)
	}
	return &sd, nil
}

// Unprotect decrypts pm with the key of sd's generation from secrets
// (sd from DecryptSenderData) and returns its AuthenticatedContent, whose
// signature the caller must then verify with VerifySignature under the
// leaf's key. It only peeks at the key: once the signature (and, for a
// commit, the whole commit) has been accepted, the caller deletes the key
// with ConsumeKey, so neither a forged ciphertext nor a message with a
// bad signature can burn the key of a genuine one. Errors wrap
// ErrGenerationReused, ErrGenerationTooFar, ErrDecryptionFailed or
// ErrMalformed (bad encoding or non-zero padding).
func (pm *PrivateMessage) Unprotect(s *suite.Suite, secrets *schedule.SecretTree, sd *SenderData) (*AuthenticatedContent, error) {
	typ := ratchetFor(pm.ContentType)
	kn, err := secrets.Peek(sd.LeafIndex, typ, sd.Generation)
	switch {
	case errors.Is(err, schedule.ErrGenerationReused):
		return nil, fmt.Errorf("%w: leaf %d %v generation %d", ErrGenerationReused, sd.LeafIndex, typ, sd.Generation)
	case errors.Is(err, schedule.ErrGenerationTooFar):
		return nil, fmt.Errorf("%w: leaf %d %v generation %d", ErrGenerationTooFar, sd.LeafIndex, typ, sd.Generation)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	pt, err := s.Open(kn.Key, applyGuard(kn.Nonce, sd.ReuseGuard), pm.Ciphertext, pm.contentAAD())
	if err != nil {
		return nil, fmt.Errorf("%w: content", ErrDecryptionFailed)
	}
	ac := &AuthenticatedContent{
		WireFormat: WirePrivateMessage,
		Content: FramedContent{
			GroupID:           pm.GroupID,
			Epoch:             pm.Epoch,
			Sender:            MemberSender(sd.LeafIndex),
			AuthenticatedData: pm.AuthenticatedData,
			ContentType:       pm.ContentType,
		},
	}
	r := codec.NewReader(pt)
	ac.Content.unmarshalBody(r)
	ac.Auth.unmarshal(r, pm.ContentType)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("%w: private message content: %w", ErrMalformed, err)
	}
	for _, b := range pt[r.Offset():] {
		if b != 0 {
			return nil, fmt.Errorf("%w: non-zero padding", ErrMalformed)
		}
	}
	return ac, nil
}

// ConsumeKey deletes the key pm was encrypted with (sd's generation of
// the ratchet for pm's content type), after Unprotect and the checks that
// accept the message: a replay then fails with ErrGenerationReused.
func (pm *PrivateMessage) ConsumeKey(secrets *schedule.SecretTree, sd *SenderData) {
	secrets.Consume(sd.LeafIndex, ratchetFor(pm.ContentType), sd.Generation)
}

// DecryptPrivate is DecryptSenderData followed by Unprotect, for callers
// that check the sender afterwards (the signature check needs its key
// anyway, which fails for a blank leaf). Like Unprotect it does not
// consume the key: call pm.ConsumeKey(secrets, sd) once the content is
// accepted.
func DecryptPrivate(s *suite.Suite, pm *PrivateMessage, secrets *schedule.SecretTree, senderDataSecret suite.Secret) (*AuthenticatedContent, *SenderData, error) {
	sd, err := pm.DecryptSenderData(s, senderDataSecret)
	if err != nil {
		return nil, nil, err
	}
	ac, err := pm.Unprotect(s, secrets, sd)
	if err != nil {
		return nil, nil, err
	}
	return ac, sd, nil
}
