//go:build !parley_mls || parley_mls_mem

package parleytest

import "errors"

func decryptWithState(state, ciphertext []byte) ([]byte, error) {
	return nil, errors.New("no MLS in this build")
}
