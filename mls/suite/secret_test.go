package suite

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret([]byte("hunter2-hunter2"))
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %x %X %q %d", s, s, s, s, s, s, s, s),
		fmt.Sprintf("%v", struct{ K Secret }{s}),
	} {
		if strings.Contains(out, "hunter") || strings.Contains(out, "68756e746572") {
			t.Fatalf("secret leaked: %q", out)
		}
	}
	j, _ := json.Marshal(struct{ K Secret }{s})
	if strings.Contains(string(j), "hunter") {
		t.Fatalf("secret leaked through JSON: %s", j)
	}
	k, _ := mustSuite(t, 1).GenerateSigningKey()
	h, _ := mustSuite(t, 1).GenerateHPKEKey()
	if out := fmt.Sprintf("%v %+v %#v %x", k, h, k, h); strings.Contains(out, "0x") {
		t.Fatalf("key leaked: %q", out)
	}
}

func TestSecretEqual(t *testing.T) {
	a, b := NewSecret([]byte{1, 2}), NewSecret([]byte{1, 2})
	if !a.Equal(b) || a.Equal(NewSecret([]byte{1, 3})) || a.Equal(Secret{}) || !(Secret{}).IsZero() {
		t.Fatal("Equal/IsZero")
	}
	raw := []byte{7}
	c := NewSecret(raw)
	raw[0] = 8
	if c.Bytes()[0] != 7 {
		t.Fatal("NewSecret must copy")
	}
}

func mustSuite(t *testing.T, id ID) *Suite {
	t.Helper()
	s, err := Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTripsAllSuites(t *testing.T) {
	for _, id := range Supported() {
		s := mustSuite(t, id)
		sk, err := s.GenerateSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		sig, err := s.SignWithLabel(sk, "L", []byte("m"))
		if err != nil || s.VerifyWithLabel(sk.Public(), "L", []byte("m"), sig) != nil {
			t.Fatalf("%v: sign/verify: %v", id, err)
		}
		if s.ValidateSignaturePublicKey(sk.Public()) != nil {
			t.Fatalf("%v: own signature key invalid", id)
		}
		hk, err := s.GenerateHPKEKey()
		if err != nil {
			t.Fatal(err)
		}
		enc, ct, err := s.EncryptWithLabel(hk.Public(), "L", []byte("c"), []byte("p"))
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := s.DecryptWithLabel(hk, "L", []byte("c"), enc, ct); err != nil || string(pt) != "p" {
			t.Fatalf("%v: hpke: %v", id, err)
		}
		if _, err := s.DecryptWithLabel(hk, "L", []byte("d"), enc, ct); err != ErrDecrypt {
			t.Fatalf("%v: wrong context decrypted: %v", id, err)
		}
		ext, err := s.DeriveKeyPair(s.Zero())
		if err != nil {
			t.Fatal(err)
		}
		kemOut, initA, err := s.ExternalInit(ext.Public())
		if err != nil {
			t.Fatal(err)
		}
		initB, err := s.ExternalInitSecret(ext, kemOut)
		if err != nil || !initA.Equal(initB) || initA.Len() != s.HashSize() {
			t.Fatalf("%v: external init: %v", id, err)
		}
		key := s.DeriveSecret(s.Zero(), "k")
		key = s.ExpandWithLabel(key, "key", nil, s.KeySize())
		nonce := make([]byte, s.NonceSize())
		ct, err = s.Seal(key, nonce, []byte("hello"), []byte("aad"))
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := s.Open(key, nonce, ct, []byte("aad")); err != nil || string(pt) != "hello" {
			t.Fatalf("%v: aead: %v", id, err)
		}
		if _, err := s.Open(key, nonce, ct, []byte("aaD")); err != ErrDecrypt {
			t.Fatalf("%v: aead accepted wrong aad", id)
		}
	}
}
