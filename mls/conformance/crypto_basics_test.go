package conformance

import (
	"bytes"
	"errors"
	"testing"

	"github.com/parleyhq/parley/mls/suite"
)

type cryptoBasicsVector struct {
	CipherSuite uint16 `json:"cipher_suite"`
	RefHash     struct {
		Label string   `json:"label"`
		Value hexBytes `json:"value"`
		Out   hexBytes `json:"out"`
	} `json:"ref_hash"`
	ExpandWithLabel struct {
		Secret  hexBytes `json:"secret"`
		Label   string   `json:"label"`
		Context hexBytes `json:"context"`
		Length  int      `json:"length"`
		Out     hexBytes `json:"out"`
	} `json:"expand_with_label"`
	DeriveSecret struct {
		Secret hexBytes `json:"secret"`
		Label  string   `json:"label"`
		Out    hexBytes `json:"out"`
	} `json:"derive_secret"`
	DeriveTreeSecret struct {
		Secret     hexBytes `json:"secret"`
		Label      string   `json:"label"`
		Generation uint32   `json:"generation"`
		Length     int      `json:"length"`
		Out        hexBytes `json:"out"`
	} `json:"derive_tree_secret"`
	SignWithLabel struct {
		Priv      hexBytes `json:"priv"`
		Pub       hexBytes `json:"pub"`
		Content   hexBytes `json:"content"`
		Label     string   `json:"label"`
		Signature hexBytes `json:"signature"`
	} `json:"sign_with_label"`
	EncryptWithLabel struct {
		Priv       hexBytes `json:"priv"`
		Pub        hexBytes `json:"pub"`
		Label      string   `json:"label"`
		Context    hexBytes `json:"context"`
		Plaintext  hexBytes `json:"plaintext"`
		KEMOutput  hexBytes `json:"kem_output"`
		Ciphertext hexBytes `json:"ciphertext"`
	} `json:"encrypt_with_label"`
}

func TestCryptoBasics(t *testing.T) {
	const file = "crypto-basics.json"
	var vs []cryptoBasicsVector
	load(t, file, &vs)
	for _, v := range vs {
		s, err := suite.Get(suite.ID(v.CipherSuite))
		if errors.Is(err, suite.ErrUnsupportedSuite) {
			unsupported(file, v.CipherSuite)
			continue
		}
		ok := true
		fail := func(format string, args ...any) {
			t.Helper()
			t.Errorf("suite %d: "+format, append([]any{v.CipherSuite}, args...)...)
			ok = false
		}
		if got := s.RefHash(v.RefHash.Label, v.RefHash.Value); !bytes.Equal(got, v.RefHash.Out) {
			fail("RefHash = %x, want %x", got, v.RefHash.Out)
		}
		e := v.ExpandWithLabel
		if got := s.ExpandWithLabel(suite.NewSecret(e.Secret), e.Label, e.Context, e.Length); !bytes.Equal(got.Bytes(), e.Out) {
			fail("ExpandWithLabel mismatch")
		}
		d := v.DeriveSecret
		if got := s.DeriveSecret(suite.NewSecret(d.Secret), d.Label); !bytes.Equal(got.Bytes(), d.Out) {
			fail("DeriveSecret mismatch")
		}
		dt := v.DeriveTreeSecret
		if got := s.DeriveTreeSecret(suite.NewSecret(dt.Secret), dt.Label, dt.Generation, dt.Length); !bytes.Equal(got.Bytes(), dt.Out) {
			fail("DeriveTreeSecret mismatch")
		}

		sw := v.SignWithLabel
		if err := s.VerifyWithLabel(sw.Pub, sw.Label, sw.Content, sw.Signature); err != nil {
			fail("VerifyWithLabel(vector signature): %v", err)
		}
		sk, err := s.ParseSigningKey(sw.Priv)
		if err != nil {
			fail("ParseSigningKey: %v", err)
		} else {
			if !bytes.Equal(sk.Public(), sw.Pub) {
				fail("signing public key %x, want %x", sk.Public(), sw.Pub)
			}
			sig, err := s.SignWithLabel(sk, sw.Label, sw.Content)
			if err != nil {
				fail("SignWithLabel: %v", err)
			} else if err := s.VerifyWithLabel(sw.Pub, sw.Label, sw.Content, sig); err != nil {
				fail("VerifyWithLabel(own signature): %v", err)
			}
			if err := s.VerifyWithLabel(sw.Pub, sw.Label+"x", sw.Content, sw.Signature); !errors.Is(err, suite.ErrBadSignature) {
				fail("signature verified under a different label")
			}
		}

		ew := v.EncryptWithLabel
		hk, err := s.ParseHPKEKey(ew.Priv)
		if err != nil {
			fail("ParseHPKEKey: %v", err)
		} else {
			if !bytes.Equal(hk.Public(), ew.Pub) {
				fail("HPKE public key %x, want %x", hk.Public(), ew.Pub)
			}
			pt, err := s.DecryptWithLabel(hk, ew.Label, ew.Context, ew.KEMOutput, ew.Ciphertext)
			if err != nil || !bytes.Equal(pt, ew.Plaintext) {
				fail("DecryptWithLabel(vector): %v", err)
			}
			kem, ct, err := s.EncryptWithLabel(ew.Pub, ew.Label, ew.Context, ew.Plaintext)
			if err != nil {
				fail("EncryptWithLabel: %v", err)
			} else if pt, err := s.DecryptWithLabel(hk, ew.Label, ew.Context, kem, ct); err != nil || !bytes.Equal(pt, ew.Plaintext) {
				fail("DecryptWithLabel(own): %v", err)
			}
		}
		if ok {
			verified(file)
		}
	}
}
