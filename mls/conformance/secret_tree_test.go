package conformance

import (
	"bytes"
	"errors"
	"testing"

	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
)

func TestSecretTree(t *testing.T) {
	const file = "secret-tree.json"
	var vs []struct {
		CipherSuite uint16 `json:"cipher_suite"`
		SenderData  struct {
			SenderDataSecret hexBytes `json:"sender_data_secret"`
			Ciphertext       hexBytes `json:"ciphertext"`
			Key              hexBytes `json:"key"`
			Nonce            hexBytes `json:"nonce"`
		} `json:"sender_data"`
		EncryptionSecret hexBytes `json:"encryption_secret"`
		Leaves           [][]struct {
			Generation       uint32   `json:"generation"`
			HandshakeKey     hexBytes `json:"handshake_key"`
			HandshakeNonce   hexBytes `json:"handshake_nonce"`
			ApplicationKey   hexBytes `json:"application_key"`
			ApplicationNonce hexBytes `json:"application_nonce"`
		} `json:"leaves"`
	}
	load(t, file, &vs)
	for _, v := range vs {
		s, err := suite.Get(suite.ID(v.CipherSuite))
		if errors.Is(err, suite.ErrUnsupportedSuite) {
			unsupported(file, v.CipherSuite)
			continue
		}
		ok := true
		sd := v.SenderData
		key, nonce := schedule.SenderDataKeyNonce(s, suite.NewSecret(sd.SenderDataSecret), sd.Ciphertext)
		if !bytes.Equal(key.Bytes(), sd.Key) || !bytes.Equal(nonce, sd.Nonce) {
			t.Errorf("suite %d: sender data key/nonce mismatch", v.CipherSuite)
			ok = false
		}
		tree := schedule.NewSecretTree(s, suite.NewSecret(v.EncryptionSecret), uint32(len(v.Leaves)))
		for leaf, gens := range v.Leaves {
			for _, g := range gens {
				hs, err1 := tree.Get(uint32(leaf), schedule.Handshake, g.Generation)
				app, err2 := tree.Get(uint32(leaf), schedule.Application, g.Generation)
				if err1 != nil || err2 != nil ||
					!bytes.Equal(hs.Key.Bytes(), g.HandshakeKey) || !bytes.Equal(hs.Nonce, g.HandshakeNonce) ||
					!bytes.Equal(app.Key.Bytes(), g.ApplicationKey) || !bytes.Equal(app.Nonce, g.ApplicationNonce) {
					t.Errorf("suite %d, %d leaves: leaf %d generation %d mismatch (%v, %v)", v.CipherSuite, len(v.Leaves), leaf, g.Generation, err1, err2)
					ok = false
				}
			}
		}
		if ok {
			verified(file)
		}
	}
}
