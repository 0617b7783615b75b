package profile

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/parleyhq/parley/mls/suite"
)

// TestDeviceKeyKeepsItsSecret: the key prints as redacted however it is
// formatted or logged, and its MLS signing key is the same key.
func TestDeviceKeyKeepsItsSecret(t *testing.T) {
	k := NewDeviceKey()
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("key", "k", k)
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %x %s", k, k, k, k, k), logged.String()} {
		if !strings.Contains(out, "redacted") || strings.Contains(out, fmt.Sprintf("%x", k.priv.Seed()[:8])) {
			t.Errorf("printed key: %q", out)
		}
	}
	cs, err := suite.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := k.MLSSigningKey(cs)
	if err != nil || !bytes.Equal(sk.Public(), k.Public()) {
		t.Fatalf("MLS signing key: %v, public %x vs %x", err, sk.Public(), k.Public())
	}
	if !k.Equal(k) || k.Equal(NewDeviceKey()) {
		t.Fatal("Equal")
	}
}
