package suite

import (
	"bytes"
	"testing"
)

// TestLabelEncrypter checks that the batch encrypter produces ordinary
// HPKE ciphertexts: DecryptWithLabel (crypto/hpke or circl) opens them.
func TestLabelEncrypter(t *testing.T) {
	for _, id := range Supported() {
		s, _ := Get(id)
		key, err := s.GenerateHPKEKey()
		if err != nil {
			t.Fatal(err)
		}
		ctx := bytes.Repeat([]byte{7}, 5000)
		e := s.NewLabelEncrypter("Welcome", ctx)
		for i := range 3 {
			pt := []byte{byte(i), 1, 2, 3}
			kem, ct, err := e.Encrypt(key.Public(), pt)
			if err != nil {
				t.Fatalf("%v: %v", id, err)
			}
			got, err := s.DecryptWithLabel(key, "Welcome", ctx, kem, ct)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("%v: decrypt: %v", id, err)
			}
			if _, err := s.DecryptWithLabel(key, "Welcome", ctx[1:], kem, ct); err == nil {
				t.Fatalf("%v: opened under another context", id)
			}
		}
		if _, _, err := e.Encrypt([]byte{1, 2, 3}, []byte("x")); err == nil {
			t.Fatalf("%v: bad public key accepted", id)
		}
	}
}
