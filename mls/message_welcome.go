package mls

import (
	"bytes"
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// Labels of RFC 9420 §12.4.3.
const (
	groupInfoSignLabel  = "GroupInfoTBS"
	welcomeEncryptLabel = "Welcome"
)

// GroupInfo describes a group's current epoch to joiners (RFC 9420
// §12.4.3). Signer is the leaf index of the member that signed it.
type GroupInfo struct {
	GroupContext    GroupContext
	Extensions      tree.Extensions
	ConfirmationTag []byte
	Signer          uint32
	Signature       []byte
}

func (gi *GroupInfo) marshalTBS(w *codec.Writer) {
	gi.GroupContext.MarshalTLS(w)
	gi.Extensions.MarshalTLS(w)
	w.Opaque(gi.ConfirmationTag)
	w.Uint32(gi.Signer)
}

// MarshalTLS encodes gi.
func (gi *GroupInfo) MarshalTLS(w *codec.Writer) {
	gi.marshalTBS(w)
	w.Opaque(gi.Signature)
}

// UnmarshalTLS decodes gi.
func (gi *GroupInfo) UnmarshalTLS(r *codec.Reader) {
	*gi = GroupInfo{}
	gi.GroupContext.UnmarshalTLS(r)
	gi.Extensions.UnmarshalTLS(r)
	gi.ConfirmationTag = r.Opaque()
	gi.Signer = r.Uint32()
	gi.Signature = r.Opaque()
}

// TBS returns the encoded GroupInfoTBS.
func (gi *GroupInfo) TBS() []byte {
	w := codec.NewWriter(256)
	gi.marshalTBS(w)
	return w.Bytes()
}

// Sign sets gi.Signature with the signer's key.
func (gi *GroupInfo) Sign(s *suite.Suite, key *suite.SigningKey) error {
	sig, err := s.SignWithLabel(key, groupInfoSignLabel, gi.TBS())
	if err != nil {
		return fmt.Errorf("mls: sign group info: %w", err)
	}
	gi.Signature = sig
	return nil
}

// VerifySignature checks gi.Signature under pub, the signature key of the
// leaf gi.Signer; failure wraps ErrBadSignature.
func (gi *GroupInfo) VerifySignature(s *suite.Suite, pub []byte) error {
	if err := s.VerifyWithLabel(pub, groupInfoSignLabel, gi.TBS(), gi.Signature); err != nil {
		return fmt.Errorf("%w: group info: %w", ErrBadSignature, err)
	}
	return nil
}

// GroupSecrets is what a Welcome encrypts to each new member. PathSecret
// is nil when absent.
type GroupSecrets struct {
	JoinerSecret suite.Secret
	PathSecret   *suite.Secret
	PSKs         []schedule.PreSharedKeyID
}

// MarshalTLS encodes gs.
func (gs *GroupSecrets) MarshalTLS(w *codec.Writer) {
	w.Opaque(gs.JoinerSecret.Bytes())
	w.Optional(gs.PathSecret != nil)
	if gs.PathSecret != nil {
		w.Opaque(gs.PathSecret.Bytes())
	}
	w.Vector(func(w *codec.Writer) {
		for i := range gs.PSKs {
			gs.PSKs[i].MarshalTLS(w)
		}
	})
}

// UnmarshalTLS decodes gs.
func (gs *GroupSecrets) UnmarshalTLS(r *codec.Reader) {
	*gs = GroupSecrets{}
	gs.JoinerSecret = suite.NewSecret(r.Opaque())
	if r.Optional() {
		ps := suite.NewSecret(r.Opaque())
		gs.PathSecret = &ps
	}
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			var id schedule.PreSharedKeyID
			id.UnmarshalTLS(r)
			gs.PSKs = append(gs.PSKs, id)
		}
	})
}

// EncryptedGroupSecrets is GroupSecrets encrypted to one new member's
// init key, addressed by its KeyPackageRef.
type EncryptedGroupSecrets struct {
	NewMember             []byte
	EncryptedGroupSecrets tree.HPKECiphertext
}

// MarshalTLS encodes e.
func (e *EncryptedGroupSecrets) MarshalTLS(w *codec.Writer) {
	w.Opaque(e.NewMember)
	e.EncryptedGroupSecrets.MarshalTLS(w)
}

// UnmarshalTLS decodes e.
func (e *EncryptedGroupSecrets) UnmarshalTLS(r *codec.Reader) {
	e.NewMember = r.Opaque()
	e.EncryptedGroupSecrets.UnmarshalTLS(r)
}

// Welcome brings new members into a group (RFC 9420 §12.4.3.1).
type Welcome struct {
	CipherSuite        suite.ID
	Secrets            []EncryptedGroupSecrets
	EncryptedGroupInfo []byte
}

// MarshalTLS encodes wm.
func (wm *Welcome) MarshalTLS(w *codec.Writer) {
	w.Uint16(uint16(wm.CipherSuite))
	w.Vector(func(w *codec.Writer) {
		for i := range wm.Secrets {
			wm.Secrets[i].MarshalTLS(w)
		}
	})
	w.Opaque(wm.EncryptedGroupInfo)
}

// UnmarshalTLS decodes wm.
func (wm *Welcome) UnmarshalTLS(r *codec.Reader) {
	*wm = Welcome{}
	wm.CipherSuite = suite.ID(r.Uint16())
	r.Vector(func(r *codec.Reader) {
		for !r.Empty() {
			var e EncryptedGroupSecrets
			e.UnmarshalTLS(r)
			wm.Secrets = append(wm.Secrets, e)
		}
	})
	wm.EncryptedGroupInfo = r.Opaque()
}

// Find returns the entry addressed to the key package with reference ref.
func (wm *Welcome) Find(ref []byte) (*EncryptedGroupSecrets, bool) {
	for i := range wm.Secrets {
		if bytes.Equal(wm.Secrets[i].NewMember, ref) {
			return &wm.Secrets[i], true
		}
	}
	return nil, false
}

// EncryptGroupSecrets encrypts gs to a new member's init key, with the
// encrypted GroupInfo as context (EncryptWithLabel "Welcome").
func EncryptGroupSecrets(s *suite.Suite, kp *KeyPackage, gs *GroupSecrets, encryptedGroupInfo []byte) (EncryptedGroupSecrets, error) {
	kem, ct, err := s.EncryptWithLabel(kp.InitKey, welcomeEncryptLabel, encryptedGroupInfo, codec.Marshal(gs))
	if err != nil {
		return EncryptedGroupSecrets{}, fmt.Errorf("mls: encrypt group secrets: %w", err)
	}
	return EncryptedGroupSecrets{
		NewMember:             kp.Ref(s),
		EncryptedGroupSecrets: tree.HPKECiphertext{KEMOutput: kem, Ciphertext: ct},
	}, nil
}

// DecryptGroupSecrets decrypts the entry e of wm with the init key of the
// key package it is addressed to.
func (wm *Welcome) DecryptGroupSecrets(s *suite.Suite, e *EncryptedGroupSecrets, initKey *suite.HPKEKey) (*GroupSecrets, error) {
	pt, err := s.DecryptWithLabel(initKey, welcomeEncryptLabel, wm.EncryptedGroupInfo,
		e.EncryptedGroupSecrets.KEMOutput, e.EncryptedGroupSecrets.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: group secrets", ErrDecryptionFailed)
	}
	var gs GroupSecrets
	if err := codec.Unmarshal(pt, &gs); err != nil {
		return nil, fmt.Errorf("%w: group secrets: %w", ErrMalformed, err)
	}
	return &gs, nil
}

// EncryptGroupInfo encrypts gi under the welcome key and nonce derived
// from welcomeSecret (schedule.WelcomeSecret).
func EncryptGroupInfo(s *suite.Suite, welcomeSecret suite.Secret, gi *GroupInfo) ([]byte, error) {
	key, nonce := schedule.WelcomeKeyNonce(s, welcomeSecret)
	defer key.Wipe()
	return s.Seal(key, nonce, codec.Marshal(gi), nil)
}

// DecryptGroupInfo decrypts wm's GroupInfo with welcomeSecret. The caller
// verifies its signature once the tree gives the signer's key.
func (wm *Welcome) DecryptGroupInfo(s *suite.Suite, welcomeSecret suite.Secret) (*GroupInfo, error) {
	key, nonce := schedule.WelcomeKeyNonce(s, welcomeSecret)
	defer key.Wipe()
	pt, err := s.Open(key, nonce, wm.EncryptedGroupInfo, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: group info", ErrDecryptionFailed)
	}
	var gi GroupInfo
	if err := codec.Unmarshal(pt, &gi); err != nil {
		return nil, fmt.Errorf("%w: group info: %w", ErrMalformed, err)
	}
	return &gi, nil
}
