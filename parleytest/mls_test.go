package parleytest

import "github.com/parleyhq/parley/mls"

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
