package wsaccept

import "testing"

// The example handshake of RFC 6455 §1.3.
func TestKeyRFCExample(t *testing.T) {
	if got, want := Key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Fatalf("Key = %q, want %q", got, want)
	}
}
