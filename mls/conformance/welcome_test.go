package conformance

import (
	"errors"
	"fmt"
	"testing"

	"github.com/parleyhq/parley/mls"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
)

func TestWelcome(t *testing.T) {
	const file = "welcome.json"
	var vs []struct {
		CipherSuite uint16   `json:"cipher_suite"`
		InitPriv    hexBytes `json:"init_priv"`
		SignerPub   hexBytes `json:"signer_pub"`
		KeyPackage  hexBytes `json:"key_package"`
		Welcome     hexBytes `json:"welcome"`
	}
	load(t, file, &vs)
	for _, v := range vs {
		s, err := suite.Get(suite.ID(v.CipherSuite))
		if errors.Is(err, suite.ErrUnsupportedSuite) {
			unsupported(file, v.CipherSuite)
			continue
		}
		if err := checkWelcome(s, v.InitPriv, v.SignerPub, v.KeyPackage, v.Welcome); err != nil {
			t.Errorf("suite %d: %v", v.CipherSuite, err)
			continue
		}
		verified(file)
	}
}

func checkWelcome(s *suite.Suite, initPriv, signerPub, kpMsg, welcomeMsg []byte) error {
	km, err := mls.DecodeMLSMessage(kpMsg)
	if err != nil || km.KeyPackage == nil {
		return fmt.Errorf("key package: %v", err)
	}
	wm, err := mls.DecodeMLSMessage(welcomeMsg)
	if err != nil || wm.Welcome == nil {
		return fmt.Errorf("welcome: %v", err)
	}
	w := wm.Welcome
	if w.CipherSuite != s.ID() || km.KeyPackage.CipherSuite != s.ID() {
		return fmt.Errorf("suite mismatch")
	}
	entry, ok := w.Find(km.KeyPackage.Ref(s))
	if !ok {
		return fmt.Errorf("no entry for the key package")
	}
	initKey, err := s.ParseHPKEKey(initPriv)
	if err != nil {
		return err
	}
	gs, err := w.DecryptGroupSecrets(s, entry, initKey)
	if err != nil {
		return err
	}
	if len(gs.PSKs) != 0 {
		return fmt.Errorf("unexpected PSKs")
	}
	gi, err := w.DecryptGroupInfo(s, schedule.WelcomeSecret(s, gs.JoinerSecret, suite.Secret{}))
	if err != nil {
		return err
	}
	if err := gi.VerifySignature(s, signerPub); err != nil {
		return err
	}
	e := schedule.NewEpoch(s, gs.JoinerSecret, suite.Secret{}, gi.GroupContext.Encode())
	if !e.VerifyConfirmationTag(gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag) {
		return mls.ErrBadConfirmationTag
	}
	return nil
}

func TestTranscriptHashes(t *testing.T) {
	const file = "transcript-hashes.json"
	var vs []struct {
		CipherSuite                  uint16   `json:"cipher_suite"`
		ConfirmationKey              hexBytes `json:"confirmation_key"`
		AuthenticatedContent         hexBytes `json:"authenticated_content"`
		InterimTranscriptHashBefore  hexBytes `json:"interim_transcript_hash_before"`
		ConfirmedTranscriptHashAfter hexBytes `json:"confirmed_transcript_hash_after"`
		InterimTranscriptHashAfter   hexBytes `json:"interim_transcript_hash_after"`
	}
	load(t, file, &vs)
	for _, v := range vs {
		s, err := suite.Get(suite.ID(v.CipherSuite))
		if errors.Is(err, suite.ErrUnsupportedSuite) {
			unsupported(file, v.CipherSuite)
			continue
		}
		var ac mls.AuthenticatedContent
		if !roundTrip(t, "authenticated_content", v.AuthenticatedContent, &ac) {
			continue
		}
		if ac.Content.ContentType != mls.ContentCommit {
			t.Errorf("suite %d: not a commit", v.CipherSuite)
			continue
		}
		e := &schedule.Epoch{Suite: s, Confirmation: suite.NewSecret(v.ConfirmationKey)}
		if !e.VerifyConfirmationTag(v.ConfirmedTranscriptHashAfter, ac.Auth.ConfirmationTag) {
			t.Errorf("suite %d: confirmation tag does not verify", v.CipherSuite)
			continue
		}
		confirmed, interim := ac.TranscriptHashes(s, v.InterimTranscriptHashBefore)
		if string(confirmed) != string(v.ConfirmedTranscriptHashAfter) || string(interim) != string(v.InterimTranscriptHashAfter) {
			t.Errorf("suite %d: transcript hashes differ", v.CipherSuite)
			continue
		}
		verified(file)
	}
}
