package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/mls"
	"github.com/parleyhq/parley/mls/suite"
)

// passiveClientVector is one scenario of the passive-client-*.json files:
// a client joins from a Welcome and follows the group's commits.
type passiveClientVector struct {
	CipherSuite  uint16 `json:"cipher_suite"`
	ExternalPSKs []struct {
		PSKID hexBytes `json:"psk_id"`
		PSK   hexBytes `json:"psk"`
	} `json:"external_psks"`
	KeyPackage                hexBytes `json:"key_package"`
	SignaturePriv             hexBytes `json:"signature_priv"`
	EncryptionPriv            hexBytes `json:"encryption_priv"`
	InitPriv                  hexBytes `json:"init_priv"`
	Welcome                   hexBytes `json:"welcome"`
	RatchetTree               hexBytes `json:"ratchet_tree"`
	InitialEpochAuthenticator hexBytes `json:"initial_epoch_authenticator"`
	Epochs                    []struct {
		Proposals          []hexBytes `json:"proposals"`
		Commit             hexBytes   `json:"commit"`
		EpochAuthenticator hexBytes   `json:"epoch_authenticator"`
	} `json:"epochs"`
}

// vectorTime is when the passive-client vectors were generated (March
// 2023): their key packages' lifetimes hold then, not today.
var vectorTime = time.Unix(1677842100, 0)

func TestPassiveClientWelcome(t *testing.T) { runPassiveClient(t, "passive-client-welcome.json") }
func TestPassiveClientHandlingCommit(t *testing.T) {
	runPassiveClient(t, "passive-client-handling-commit.json")
}
func TestPassiveClientRandom(t *testing.T) { runPassiveClient(t, "passive-client-random.json") }

func runPassiveClient(t *testing.T, file string) {
	var vs []passiveClientVector
	load(t, file, &vs)
	for i := range vs {
		v := &vs[i]
		s, err := suite.Get(suite.ID(v.CipherSuite))
		if errors.Is(err, suite.ErrUnsupportedSuite) {
			unsupported(file, v.CipherSuite)
			continue
		}
		if err := checkPassiveClient(s, v); err != nil {
			t.Errorf("%s vector %d (suite %d): %v", file, i, v.CipherSuite, err)
			continue
		}
		verified(file)
	}
}

func checkPassiveClient(s *suite.Suite, v *passiveClientVector) error {
	initKey, err := s.ParseHPKEKey(v.InitPriv)
	if err != nil {
		return fmt.Errorf("init_priv: %w", err)
	}
	encKey, err := s.ParseHPKEKey(v.EncryptionPriv)
	if err != nil {
		return fmt.Errorf("encryption_priv: %w", err)
	}
	sigKey, err := s.ParseSigningKey(v.SignaturePriv)
	if err != nil {
		return fmt.Errorf("signature_priv: %w", err)
	}
	// The private keys must match the key package's public keys.
	bundle, err := mls.NewKeyPackageBundle(v.KeyPackage, initKey, encKey)
	if err != nil {
		return err
	}
	kp, err := mls.DecodeMLSMessage(v.KeyPackage)
	if err != nil {
		return err
	}
	if !bytes.Equal(sigKey.Public(), kp.KeyPackage.SignatureKey()) {
		return fmt.Errorf("signature_priv does not match the key package")
	}
	id := mls.Identity{Suite: s.ID(), SigningKey: sigKey, Credential: kp.KeyPackage.Credential()}
	opts := mls.JoinOptions{RatchetTree: v.RatchetTree, Clock: func() time.Time { return vectorTime }}
	for _, p := range v.ExternalPSKs {
		opts.PSKs = append(opts.PSKs, mls.ExternalPSK{ID: p.PSKID, PSK: suite.NewSecret(p.PSK)})
	}
	g, err := mls.JoinFromWelcomeWith(v.Welcome, []*mls.KeyPackageBundle{bundle}, id, opts)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	if !g.EpochAuthenticator().Equal(suite.NewSecret(v.InitialEpochAuthenticator)) {
		return fmt.Errorf("initial epoch authenticator differs")
	}
	for k, e := range v.Epochs {
		for j, p := range e.Proposals {
			if _, err := g.Process(p); err != nil {
				return fmt.Errorf("epoch %d proposal %d: %w", k, j, err)
			}
		}
		res, err := g.Process(e.Commit)
		if err != nil {
			return fmt.Errorf("epoch %d commit: %w", k, err)
		}
		if res.Kind != mls.KindCommit {
			return fmt.Errorf("epoch %d: commit processed as %v", k, res.Kind)
		}
		if !g.EpochAuthenticator().Equal(suite.NewSecret(e.EpochAuthenticator)) {
			return fmt.Errorf("epoch %d: epoch authenticator differs", k)
		}
	}
	return nil
}
