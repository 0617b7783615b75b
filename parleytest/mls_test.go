package parleytest

import (
	"errors"
	"testing"

	"github.com/parleyhq/parley/mls"
)

// decryptWithState tries to open ciphertext with an exported group state.
func decryptWithState(state, ciphertext []byte) ([]byte, error) {
	g, err := mls.Import(state)
	if err != nil {
		return nil, err
	}
	p, err := g.Process(ciphertext)
	if err != nil {
		return nil, err
	}
	return p.Data, nil
}

// assertCannotDecrypt checks that a removed device's last state cannot
// open a later message for a cryptographic reason, not merely because
// the message names a later epoch: the message is relabelled with the
// state's own epoch first, so only the keys can stop it.
func assertCannotDecrypt(t *testing.T, state, ciphertext []byte) {
	t.Helper()
	g, err := mls.Import(state)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mls.DecodeMLSMessage(ciphertext)
	if err != nil || m.Private == nil {
		t.Fatalf("not a PrivateMessage: %v", err)
	}
	if m.Private.Epoch == g.Epoch() {
		t.Fatal("the message is of the removed device's own epoch; it was not removed")
	}
	m.Private.Epoch = g.Epoch()
	p, err := g.Process(m.Encode())
	switch {
	case err == nil:
		t.Fatalf("the removed device's keys open a later message: %q", p.Data)
	case errors.Is(err, mls.ErrWrongEpoch):
		t.Fatalf("refused on the epoch, not the keys: %v", err)
	}
	t.Logf("the removed device's keys cannot open the message: %v", err)
}
