package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// framingFixture is a two-member epoch with leaf 1 as sender.
type framingFixture struct {
	s          *suite.Suite
	key        *suite.SigningKey
	gc         []byte
	epoch      *schedule.Epoch
	senderTree *schedule.SecretTree
}

func newFixture(t testing.TB, id suite.ID) *framingFixture {
	t.Helper()
	s, err := suite.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	key, err := s.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	gc := (&GroupContext{Version: tree.MLS10, CipherSuite: id, GroupID: []byte("group"), Epoch: 3,
		TreeHash: s.Hash(nil), ConfirmedTranscriptHash: s.Hash([]byte("c"))}).Encode()
	e := schedule.NewEpoch(s, s.DeriveSecret(s.Zero(), "joiner"), suite.Secret{}, gc)
	return &framingFixture{s: s, key: key, gc: gc, epoch: e, senderTree: e.SecretTree(2)}
}

func (f *framingFixture) receiverTree() *schedule.SecretTree { return f.epoch.SecretTree(2) }

func (f *framingFixture) content(t testing.TB, wf WireFormat, ct ContentType, data []byte) *AuthenticatedContent {
	t.Helper()
	fc := FramedContent{GroupID: []byte("group"), Epoch: 3, Sender: MemberSender(1), ContentType: ct, AuthenticatedData: []byte("aad")}
	switch ct {
	case ContentApplication:
		fc.ApplicationData = data
	case ContentProposal:
		fc.Proposal = &Proposal{Type: tree.ProposalRemove, Remove: &RemoveProposal{Removed: 0}}
	case ContentCommit:
		fc.Commit = &Commit{Proposals: []ProposalOrRef{{Reference: []byte("ref")}}}
	}
	ac := &AuthenticatedContent{WireFormat: wf, Content: fc}
	if err := ac.Sign(f.s, f.key, f.gc); err != nil {
		t.Fatal(err)
	}
	if ct == ContentCommit {
		ac.Auth.ConfirmationTag = f.epoch.ConfirmationTag([]byte("cth"))
	}
	return ac
}

func (f *framingFixture) private(t testing.TB, data []byte) *PrivateMessage {
	t.Helper()
	pm, err := ProtectPrivate(f.s, f.content(t, WirePrivateMessage, ContentApplication, data), f.senderTree, f.epoch.SenderData, 0)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

func TestPrivateMessageReplayAndReorder(t *testing.T) {
	f := newFixture(t, 1)
	a, b := f.private(t, []byte("first")), f.private(t, []byte("second"))
	recv := f.receiverTree()
	for _, pm := range []*PrivateMessage{b, a} {
		ac, sd, err := DecryptPrivate(f.s, pm, recv, f.epoch.SenderData)
		if err != nil {
			t.Fatal(err)
		}
		if err := ac.VerifySignature(f.s, f.key.Public(), f.gc); err != nil {
			t.Fatal(err)
		}
		pm.ConsumeKey(recv, sd)
	}
	if _, _, err := DecryptPrivate(f.s, a, recv, f.epoch.SenderData); !errors.Is(err, ErrGenerationReused) {
		t.Fatalf("replay: %v", err)
	}
}

// TestPrivateMessageBadSignatureDoesNotBurnKey: decryption only peeks at
// the key, so a message whose signature fails (a member replaying
// another's ciphertext under a forged signature cannot be built, but a
// corrupted one can) leaves the key for the genuine message (review
// finding Low 4).
func TestPrivateMessageBadSignatureDoesNotBurnKey(t *testing.T) {
	f := newFixture(t, 1)
	pm := f.private(t, []byte("hello"))
	recv := f.receiverTree()
	ac, _, err := DecryptPrivate(f.s, pm, recv, f.epoch.SenderData)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := f.s.GenerateSigningKey()
	if err := ac.VerifySignature(f.s, other.Public(), f.gc); err == nil {
		t.Fatal("signature verified under the wrong key")
	}
	// Not consumed: the same message decrypts again.
	ac, sd, err := DecryptPrivate(f.s, pm, recv, f.epoch.SenderData)
	if err != nil {
		t.Fatalf("after a failed signature check: %v", err)
	}
	if err := ac.VerifySignature(f.s, f.key.Public(), f.gc); err != nil {
		t.Fatal(err)
	}
	pm.ConsumeKey(recv, sd)
	if _, _, err := DecryptPrivate(f.s, pm, recv, f.epoch.SenderData); !errors.Is(err, ErrGenerationReused) {
		t.Fatalf("after ConsumeKey: %v, want ErrGenerationReused", err)
	}
}

func TestPrivateMessageTamperDoesNotBurnKey(t *testing.T) {
	f := newFixture(t, 3)
	pm := f.private(t, []byte("hello"))
	recv := f.receiverTree()
	forged := *pm
	forged.Ciphertext = bytes.Clone(pm.Ciphertext)
	forged.Ciphertext[len(forged.Ciphertext)-1] ^= 1
	if _, _, err := DecryptPrivate(f.s, &forged, recv, f.epoch.SenderData); !errors.Is(err, ErrDecryptionFailed) {
		t.Fatalf("forged: %v", err)
	}
	forged = *pm
	forged.AuthenticatedData = []byte("other")
	if _, _, err := DecryptPrivate(f.s, &forged, recv, f.epoch.SenderData); !errors.Is(err, ErrDecryptionFailed) {
		t.Fatalf("changed aad: %v", err)
	}
	if _, _, err := DecryptPrivate(f.s, pm, recv, f.epoch.SenderData); err != nil {
		t.Fatalf("genuine message after forgery: %v", err)
	}
}

func TestPrivateMessagePadding(t *testing.T) {
	f := newFixture(t, 1)
	ac := f.content(t, WirePrivateMessage, ContentApplication, []byte("x"))
	pm, err := ProtectPrivate(f.s, ac, f.senderTree, f.epoch.SenderData, 100)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := DecryptPrivate(f.s, pm, f.receiverTree(), f.epoch.SenderData); err != nil {
		t.Fatal(err)
	}

	// Build a message whose padding holds a non-zero octet, as ProtectPrivate
	// would but with a hand-made plaintext.
	sender := f.receiverTree()
	kn, err := sender.Next(1, schedule.Application)
	if err != nil {
		t.Fatal(err)
	}
	bad := &PrivateMessage{GroupID: []byte("group"), Epoch: 3, ContentType: ContentApplication}
	w := codec.NewWriter(64)
	ac.Content.marshalBody(w)
	ac.Auth.marshal(w, ContentApplication)
	w.Raw([]byte{0, 0, 1})
	var sd SenderData
	bad.Ciphertext, _ = f.s.Seal(kn.Key, kn.Nonce, w.Bytes(), bad.contentAAD())
	k, n := schedule.SenderDataKeyNonce(f.s, f.epoch.SenderData, bad.Ciphertext)
	sd.LeafIndex = 1
	bad.EncryptedSenderData, _ = f.s.Seal(k, n, codec.Marshal(&sd), bad.senderDataAAD())
	if _, _, err := DecryptPrivate(f.s, bad, f.receiverTree(), f.epoch.SenderData); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-zero padding: %v", err)
	}
}

func TestPublicMessageChecks(t *testing.T) {
	f := newFixture(t, 2)
	ac := f.content(t, WirePublicMessage, ContentCommit, nil)
	pm, err := ProtectPublic(f.s, ac, f.epoch.Membership, f.gc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pm.Unprotect(f.s, f.epoch.Membership, f.gc)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.VerifySignature(f.s, f.key.Public(), f.gc); err != nil {
		t.Fatal(err)
	}
	other := bytes.Clone(f.gc)
	other[len(other)-2] ^= 1
	if err := got.VerifySignature(f.s, f.key.Public(), other); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("signature over another group context: %v", err)
	}
	if _, err := pm.Unprotect(f.s, f.epoch.Confirmation, f.gc); !errors.Is(err, ErrBadMembershipTag) {
		t.Fatalf("wrong membership key: %v", err)
	}
	if _, err := ProtectPublic(f.s, f.content(t, WirePublicMessage, ContentApplication, []byte("x")), f.epoch.Membership, f.gc); !errors.Is(err, ErrWireFormat) {
		t.Fatalf("application as public: %v", err)
	}
	if _, err := ProtectPublic(f.s, f.content(t, WirePrivateMessage, ContentProposal, nil), f.epoch.Membership, f.gc); !errors.Is(err, ErrWireFormat) {
		t.Fatalf("content signed for private sent public: %v", err)
	}
}

func TestMLSMessageStrictDecoding(t *testing.T) {
	f := newFixture(t, 1)
	good := NewPrivateMLSMessage(f.private(t, []byte("m"))).Encode()
	if _, err := DecodeMLSMessage(good); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"trailing byte":  append(bytes.Clone(good), 0),
		"truncated":      good[:len(good)-1],
		"version 2":      append([]byte{0, 2}, good[2:]...),
		"wire format 9":  append([]byte{0, 1, 0, 9}, good[4:]...),
		"content type 0": func() []byte { b := bytes.Clone(good); b[4+1+5+8] = 0; return b }(),
	} {
		if _, err := DecodeMLSMessage(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func newKeyPackage(t *testing.T, s *suite.Suite, lifetime tree.Lifetime) (*KeyPackage, *suite.SigningKey) {
	t.Helper()
	sk, _ := s.GenerateSigningKey()
	enc, _ := s.GenerateHPKEKey()
	initKey, _ := s.GenerateHPKEKey()
	kp := &KeyPackage{
		Version: tree.MLS10, CipherSuite: s.ID(), InitKey: initKey.Public(),
		LeafNode: tree.LeafNode{
			EncryptionKey: enc.Public(), SignatureKey: sk.Public(),
			Credential: tree.BasicCredential([]byte("alice")),
			Capabilities: tree.Capabilities{Versions: []tree.ProtocolVersion{tree.MLS10},
				CipherSuites: []suite.ID{s.ID()}, Credentials: []tree.CredentialType{tree.CredentialBasic}},
			Source: tree.SourceKeyPackage, Lifetime: lifetime,
		},
	}
	if err := kp.LeafNode.Sign(s, sk, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := kp.Sign(s, sk); err != nil {
		t.Fatal(err)
	}
	return kp, sk
}

func TestKeyPackageValidate(t *testing.T) {
	s, _ := suite.Get(1)
	kp, sk := newKeyPackage(t, s, tree.Lifetime{NotBefore: 100, NotAfter: 200})
	var decoded KeyPackage
	if err := codec.Unmarshal(codec.Marshal(kp), &decoded); err != nil {
		t.Fatal(err)
	}
	if err := decoded.Validate(&KeyPackageCheck{Suite: s, Now: 150}); err != nil {
		t.Fatal(err)
	}
	if err := decoded.Validate(&KeyPackageCheck{Suite: s, Now: 201}); !errors.Is(err, ErrKeyPackageExpired) {
		t.Fatalf("expired: %v", err)
	}
	other, _ := suite.Get(2)
	if err := decoded.Validate(&KeyPackageCheck{Suite: other, Now: 150}); !errors.Is(err, ErrInvalidKeyPackage) {
		t.Fatalf("other suite: %v", err)
	}
	decoded.Extensions = tree.Extensions{{Type: tree.ExtApplicationID, Data: []byte{0}}}
	if err := decoded.Validate(&KeyPackageCheck{Suite: s, Now: 150}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("modified after signing: %v", err)
	}
	same := *kp
	same.InitKey = kp.LeafNode.EncryptionKey
	if err := same.Sign(s, sk); err != nil {
		t.Fatal(err)
	}
	if err := same.Validate(&KeyPackageCheck{Suite: s, Now: 150}); !errors.Is(err, ErrInvalidKeyPackage) {
		t.Fatalf("init key equal to encryption key: %v", err)
	}
}

func TestWelcomeRoundTrip(t *testing.T) {
	s, _ := suite.Get(7)
	kp, _ := newKeyPackage(t, s, tree.Lifetime{NotAfter: 1 << 62})
	initKey, _ := s.GenerateHPKEKey()
	kp.InitKey = initKey.Public()
	joiner := s.DeriveSecret(s.Zero(), "j")
	gi := &GroupInfo{GroupContext: GroupContext{Version: tree.MLS10, CipherSuite: s.ID(), GroupID: []byte("g")}, ConfirmationTag: []byte("tag"), Signer: 4}
	signer, _ := s.GenerateSigningKey()
	if err := gi.Sign(s, signer); err != nil {
		t.Fatal(err)
	}
	egi, err := EncryptGroupInfo(s, schedule.WelcomeSecret(s, joiner, suite.Secret{}), gi)
	if err != nil {
		t.Fatal(err)
	}
	path := s.DeriveSecret(joiner, "p")
	entry, err := EncryptGroupSecrets(s, kp, &GroupSecrets{JoinerSecret: joiner, PathSecret: &path}, egi)
	if err != nil {
		t.Fatal(err)
	}
	msg := NewWelcomeMLSMessage(&Welcome{CipherSuite: s.ID(), Secrets: []EncryptedGroupSecrets{entry}, EncryptedGroupInfo: egi}).Encode()
	m, err := DecodeMLSMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := m.Welcome.Find(kp.Ref(s))
	if !ok {
		t.Fatal("entry not found")
	}
	gs, err := m.Welcome.DecryptGroupSecrets(s, e, initKey)
	if err != nil || !gs.JoinerSecret.Equal(joiner) || gs.PathSecret == nil || !gs.PathSecret.Equal(path) {
		t.Fatalf("group secrets: %v", err)
	}
	got, err := m.Welcome.DecryptGroupInfo(s, schedule.WelcomeSecret(s, gs.JoinerSecret, suite.Secret{}))
	if err != nil || got.VerifySignature(s, signer.Public()) != nil || got.Signer != 4 {
		t.Fatalf("group info: %v", err)
	}
}

func BenchmarkPrivateMessage1KB(b *testing.B) {
	f := newFixture(b, 1)
	data := make([]byte, 1024)
	recv := f.receiverTree()
	for b.Loop() {
		ac := &AuthenticatedContent{WireFormat: WirePrivateMessage, Content: FramedContent{
			GroupID: []byte("group"), Epoch: 3, Sender: MemberSender(1), ContentType: ContentApplication, ApplicationData: data}}
		if err := ac.Sign(f.s, f.key, f.gc); err != nil {
			b.Fatal(err)
		}
		pm, err := ProtectPrivate(f.s, ac, f.senderTree, f.epoch.SenderData, 0)
		if err != nil {
			b.Fatal(err)
		}
		got, sd, err := DecryptPrivate(f.s, pm, recv, f.epoch.SenderData)
		if err != nil {
			b.Fatal(err)
		}
		if err := got.VerifySignature(f.s, f.key.Public(), f.gc); err != nil {
			b.Fatal(err)
		}
		pm.ConsumeKey(recv, sd)
	}
}

// BenchmarkPrivateMessage1KBSymmetric is the framing's own cost: the
// content is signed once outside the loop and not verified, so the number
// excludes the signature scheme.
func BenchmarkPrivateMessage1KBSymmetric(b *testing.B) {
	f := newFixture(b, 1)
	ac := f.content(b, WirePrivateMessage, ContentApplication, make([]byte, 1024))
	recv := f.receiverTree()
	for b.Loop() {
		pm, err := ProtectPrivate(f.s, ac, f.senderTree, f.epoch.SenderData, 0)
		if err != nil {
			b.Fatal(err)
		}
		_, sd, err := DecryptPrivate(f.s, pm, recv, f.epoch.SenderData)
		if err != nil {
			b.Fatal(err)
		}
		pm.ConsumeKey(recv, sd)
	}
}
