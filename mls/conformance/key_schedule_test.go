package conformance

import (
	"bytes"
	"errors"
	"testing"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
)

type keyScheduleVector struct {
	CipherSuite       uint16   `json:"cipher_suite"`
	GroupID           hexBytes `json:"group_id"`
	InitialInitSecret hexBytes `json:"initial_init_secret"`
	Epochs            []struct {
		TreeHash                hexBytes `json:"tree_hash"`
		CommitSecret            hexBytes `json:"commit_secret"`
		PSKSecret               hexBytes `json:"psk_secret"`
		ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
		GroupContext            hexBytes `json:"group_context"`
		JoinerSecret            hexBytes `json:"joiner_secret"`
		WelcomeSecret           hexBytes `json:"welcome_secret"`
		InitSecret              hexBytes `json:"init_secret"`
		SenderDataSecret        hexBytes `json:"sender_data_secret"`
		EncryptionSecret        hexBytes `json:"encryption_secret"`
		ExporterSecret          hexBytes `json:"exporter_secret"`
		EpochAuthenticator      hexBytes `json:"epoch_authenticator"`
		ExternalSecret          hexBytes `json:"external_secret"`
		ConfirmationKey         hexBytes `json:"confirmation_key"`
		MembershipKey           hexBytes `json:"membership_key"`
		ResumptionPSK           hexBytes `json:"resumption_psk"`
		ExternalPub             hexBytes `json:"external_pub"`
		Exporter                struct {
			Label   string   `json:"label"`
			Context hexBytes `json:"context"`
			Length  int      `json:"length"`
			Secret  hexBytes `json:"secret"`
		} `json:"exporter"`
	} `json:"epochs"`
}

// encodeGroupContext encodes a GroupContext with empty extensions; the
// framing layer's own encoder is checked against it in messages tests.
func encodeGroupContext(cs uint16, groupID []byte, epoch uint64, treeHash, cth []byte) []byte {
	var w codec.Writer
	w.Uint16(1)
	w.Uint16(cs)
	w.Opaque(groupID)
	w.Uint64(epoch)
	w.Opaque(treeHash)
	w.Opaque(cth)
	w.Opaque(nil)
	return w.Bytes()
}

func TestKeySchedule(t *testing.T) {
	const file = "key-schedule.json"
	var vs []keyScheduleVector
	load(t, file, &vs)
	for _, v := range vs {
		s, err := suite.Get(suite.ID(v.CipherSuite))
		if errors.Is(err, suite.ErrUnsupportedSuite) {
			unsupported(file, v.CipherSuite)
			continue
		}
		ok := true
		check := func(epoch int, name string, got, want []byte) {
			t.Helper()
			if !bytes.Equal(got, want) {
				t.Errorf("suite %d epoch %d: %s = %x, want %x", v.CipherSuite, epoch, name, got, want)
				ok = false
			}
		}
		initSecret := suite.NewSecret(v.InitialInitSecret)
		for i, ep := range v.Epochs {
			gc := encodeGroupContext(v.CipherSuite, v.GroupID, uint64(i), ep.TreeHash, ep.ConfirmedTranscriptHash)
			check(i, "group_context", gc, ep.GroupContext)
			psk := suite.NewSecret(ep.PSKSecret)
			joiner := schedule.JoinerSecret(s, initSecret, suite.NewSecret(ep.CommitSecret), gc)
			check(i, "joiner_secret", joiner.Bytes(), ep.JoinerSecret)
			check(i, "welcome_secret", schedule.WelcomeSecret(s, joiner, psk).Bytes(), ep.WelcomeSecret)
			e := schedule.NewEpoch(s, joiner, psk, gc)
			check(i, "init_secret", e.Init.Bytes(), ep.InitSecret)
			check(i, "sender_data_secret", e.SenderData.Bytes(), ep.SenderDataSecret)
			check(i, "encryption_secret", e.Encryption.Bytes(), ep.EncryptionSecret)
			check(i, "exporter_secret", e.Exporter.Bytes(), ep.ExporterSecret)
			check(i, "epoch_authenticator", e.EpochAuthenticator.Bytes(), ep.EpochAuthenticator)
			check(i, "external_secret", e.External.Bytes(), ep.ExternalSecret)
			check(i, "confirmation_key", e.Confirmation.Bytes(), ep.ConfirmationKey)
			check(i, "membership_key", e.Membership.Bytes(), ep.MembershipKey)
			check(i, "resumption_psk", e.Resumption.Bytes(), ep.ResumptionPSK)
			if k, err := e.ExternalKeyPair(); err != nil {
				t.Errorf("suite %d epoch %d: external key pair: %v", v.CipherSuite, i, err)
				ok = false
			} else {
				check(i, "external_pub", k.Public(), ep.ExternalPub)
			}
			x := ep.Exporter
			if exp, err := e.Export(x.Label, x.Context, x.Length); err != nil {
				t.Errorf("suite %d epoch %d: export: %v", v.CipherSuite, i, err)
				ok = false
			} else {
				check(i, "exporter.secret", exp.Bytes(), x.Secret)
			}
			initSecret = e.Init
		}
		if ok {
			verified(file)
		}
	}
}

func TestPSKSecret(t *testing.T) {
	const file = "psk_secret.json"
	var vs []struct {
		CipherSuite uint16 `json:"cipher_suite"`
		PSKs        []struct {
			PSKID    hexBytes `json:"psk_id"`
			PSK      hexBytes `json:"psk"`
			PSKNonce hexBytes `json:"psk_nonce"`
		} `json:"psks"`
		PSKSecret hexBytes `json:"psk_secret"`
	}
	load(t, file, &vs)
	for _, v := range vs {
		s, err := suite.Get(suite.ID(v.CipherSuite))
		if errors.Is(err, suite.ErrUnsupportedSuite) {
			unsupported(file, v.CipherSuite)
			continue
		}
		var psks []schedule.PSK
		for _, p := range v.PSKs {
			psks = append(psks, schedule.PSK{
				ID:  schedule.PreSharedKeyID{Type: schedule.PSKExternal, ID: p.PSKID, Nonce: p.PSKNonce},
				PSK: suite.NewSecret(p.PSK),
			})
		}
		got, err := schedule.PSKSecret(s, psks)
		if err != nil || !bytes.Equal(got.Bytes(), v.PSKSecret) {
			t.Errorf("suite %d, %d psks: psk_secret = %x (%v), want %x", v.CipherSuite, len(psks), got.Bytes(), err, []byte(v.PSKSecret))
			continue
		}
		verified(file)
	}
}
