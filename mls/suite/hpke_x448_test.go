package suite

import (
	"bytes"
	"testing"
)

// For a 56-octet seed circl's own DeriveKeyPair applies; ours must agree
// with it, and also accept the 64-octet secrets MLS feeds it.
func TestX448DeriveMatchesCircl(t *testing.T) {
	b := x448KEM(0x02).(*x448Backend)
	seed := bytes.Repeat([]byte{0x5a}, 56)
	pk, _ := b.scheme.DeriveKeyPair(seed)
	want, _ := pk.MarshalBinary()
	_, _, got, err := b.derive(seed)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("derive: %v, %x != %x", err, got, want)
	}
	if _, _, _, err := b.derive(make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
}
